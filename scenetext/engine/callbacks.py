"""Training callbacks: throughput, console reports, sample predictions in TensorBoard, artifact export;
and the run's TensorBoard logger."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from scenetext.engine.lightning_module import MONITOR, RecognitionSystem

log = logging.getLogger("scenetext.train")


def _fmt_duration(seconds: float) -> str:
    return str(timedelta(seconds=int(max(0.0, seconds))))


class RunLogger(TensorBoardLogger):
    """TensorBoard whose event file opens when training starts (:meth:`open`), not at fit setup.

    Lightning touches ``experiment`` during setup, which creates the event file; deferring it means a start
    that fails in setup, or a resume with nothing left to train, writes nothing into the run directory.
    Until then ``experiment`` is None and ``save`` does nothing. The empty hyperparameter record Lightning
    logs at every fit start is skipped (the run has none to log: config.yaml holds the recipe).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened = False

    def open(self) -> None:
        self._opened = True

    @property
    def experiment(self) -> Any:
        return super().experiment if self._opened else None

    def log_hyperparams(self, params: Any, metrics: Any = None, step: int | None = None) -> None:
        if params or metrics:
            super().log_hyperparams(params, metrics, step)

    def save(self) -> None:
        if self._opened:
            super().save()


class RunStart(Callback):
    """Calls ``action`` on the first process when training starts (after a resume has restored its state).

    The run directory is written from here on only: a start that fails in setup, or a resume with nothing
    left to train (``started`` stays False), leaves the directory as it was.
    """

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.started = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = True
        if trainer.is_global_zero:
            self.action()


class Throughput(Callback):
    """Images per second of the whole training loop (data loading included), summed over processes.

    Measured between consecutive batch ends over a sliding window, so the figure reflects the current speed,
    and shown on the progress bar and in TensorBoard as ``train/images_per_sec``.
    """

    def __init__(self, window: int = 50) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._images: deque[int] = deque(maxlen=window)
        self._last: float | None = None
        self.images_per_sec = 0.0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self._times.append(now - self._last)
            self._images.append(len(batch) * trainer.world_size)
            elapsed = sum(self._times)
            if elapsed > 0:
                self.images_per_sec = sum(self._images) / elapsed
                pl_module.log("train/images_per_sec", self.images_per_sec, prog_bar=True, rank_zero_only=True)
        self._last = now

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None  # validation time is not training throughput

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None


class RunProgressBar(RichProgressBar):
    """Rich progress bar over the whole run (the training loader spans it, so the ETA is the run's), with
    short metric names: ``loss``, ``img/s``."""

    def _get_train_description(self, current_epoch: int) -> str:
        return "training"

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        renamed = {"train/loss": "loss", "train/images_per_sec": "img/s"}
        return {renamed.get(key, key): value for key, value in metrics.items()}


class ConsoleReport(Callback):
    """Concise console lines: training status every ``every_n_steps`` (when there is no progress bar), one
    line per validation, and the validation's sample predictions as a TensorBoard text panel."""

    def __init__(self, every_n_steps: int | None, throughput: Throughput) -> None:
        self.every_n_steps = every_n_steps
        self.throughput = throughput
        self._start_time = time.monotonic()
        self._start_step = 0
        self._last_logged = -1

    @rank_zero_only
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_time = time.monotonic()
        self._start_step = trainer.global_step
        if trainer.global_step:
            log.info("resumed at step %d of %d", trainer.global_step, trainer.max_steps)

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self.every_n_steps or step == self._last_logged or step % self.every_n_steps:
            return
        self._last_logged = step
        metrics = trainer.callback_metrics
        losses = " ".join(
            f"{key.removeprefix('train/')} {float(value):.4f}"
            for key, value in metrics.items()
            if key.startswith("train/") and key != "train/images_per_sec"
        )
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        elapsed = time.monotonic() - self._start_time
        done = max(1, step - self._start_step)
        eta = elapsed / done * (trainer.max_steps - step)
        log.info(
            "step %d/%d | %s | lr %.3g | %.0f img/s | elapsed %s | eta %s",
            step,
            trainer.max_steps,
            losses,
            lr,
            self.throughput.images_per_sec,
            _fmt_duration(elapsed),
            _fmt_duration(eta),
        )

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, RecognitionSystem):
            return
        result = pl_module.last_validation
        if result is None:
            return
        subsets = result["subsets"]
        weighted = result["average"]["weighted"]
        total = sum(s["n"] for s in subsets.values())
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_score", None)
        best_text = f" | best {float(best):.2f}" if best is not None else ""
        per_subset = ""
        if len(subsets) > 1:
            per_subset = " | " + ", ".join(f"{name} {s['accuracy']:.1f}" for name, s in subsets.items())
        log.info(
            "validation at step %d: accuracy %.2f%% 1-NED %.2f (%d images, %d subsets)%s%s",
            trainer.global_step,
            weighted["accuracy"],
            weighted["ned"],
            total,
            len(subsets),
            best_text,
            per_subset,
        )
        self._log_samples(trainer, pl_module)

    @staticmethod
    def _log_samples(trainer: L.Trainer, pl_module: RecognitionSystem) -> None:
        writer = getattr(trainer.logger, "experiment", None)
        if writer is None or not hasattr(writer, "add_text") or not pl_module.last_samples:
            return
        rows = ["| subset | ground truth | prediction |", "|---|---|---|"]
        for subset, label, prediction in pl_module.last_samples:
            mark = "" if label == prediction else " ✗"
            rows.append(f"| {subset} | `{label}` | `{prediction}`{mark} |")
        writer.add_text("val/samples", "\n".join(rows), trainer.global_step)


class BestArtifactExport(Callback):
    """Writes the inference artifact (``run_dir/best``) whenever ModelCheckpoint saves a new best.

    It hooks ``on_save_checkpoint``: ModelCheckpoint records the new best score before writing, and the dict
    being saved already holds the averaged weights when EMA is on (the EMA callback runs first), so the
    artifact always matches ``best.ckpt``. Without validation data the final weights are exported at the end.
    """

    def __init__(self, directory: Path, export: Any) -> None:
        self.directory = Path(directory)
        self.export = export  # callable(state_dict, extra) writing the artifact
        self.exported_score: float | None = None

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        callback = trainer.checkpoint_callback
        score = getattr(callback, "best_model_score", None)
        if score is None or not trainer.is_global_zero:
            return
        score = float(score)
        if self.exported_score is not None and score == self.exported_score:
            return
        state = checkpoint["state_dict"]
        weights = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        self.export(weights, {"step": trainer.global_step, MONITOR: score})
        self.exported_score = score
        # Callback states were collected before this hook ran; record the export in this very checkpoint.
        checkpoint.setdefault("callbacks", {})[self.state_key] = self.state_dict()
        log.info("best weights (accuracy %.2f%%) exported to %s", score, self.directory)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or self.exported_score is not None:
            return
        if (self.directory / "model.safetensors").exists():
            return
        weights = {k: v for k, v in pl_module.model.state_dict().items()}  # type: ignore[union-attr]
        self.export(weights, {"step": trainer.global_step})
        log.info("no validation score: exported the final weights to %s", self.directory)

    def state_dict(self) -> dict[str, Any]:
        return {"exported_score": self.exported_score}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.exported_score = state_dict.get("exported_score")


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the full training state after every validation, every ``every_n_steps`` and at the end.

    Lightning 2.6's ``save_last`` refreshes last.ckpt only when a top-k checkpoint was written in the same
    step, which would leave a resume point far behind after a plateau. Being a ModelCheckpoint, this runs
    after the best-checkpoint callback (Lightning orders checkpoint callbacks last, in list order), so the
    saved state already knows the newest best score and a resumed run never overwrites a better best.ckpt.
    """

    def __init__(self, dirpath: Path, every_n_steps: int | None = None) -> None:
        super().__init__(dirpath=dirpath, filename="last", save_top_k=0, enable_version_counter=False)
        self.every_n_steps = every_n_steps
        self._saved_step = -1

    def _save_now(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or self._saved_step == trainer.global_step:
            return
        self._saved_step = trainer.global_step
        trainer.save_checkpoint(Path(self.dirpath) / "last.ckpt")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._save_now(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_now(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_now(trainer)
