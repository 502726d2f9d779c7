"""Run a training recipe with Lightning: model, data, callbacks, checkpoints, resume and export.

Layout of a run directory (``run.output_dir/run.name``)::

    config.yaml            the resolved recipe (a resume starts from it; its changes are logged)
    recipe.yaml            the recipe file as read, before command-line overrides (a resume given a recipe
                           applies only its edits since then, so repeating it never undoes an override)
    checkpoints/best.ckpt  full training state at the best validation word accuracy
    checkpoints/last.ckpt  full training state at the latest validation (and at the end)
    best/                  inference artifact of the best weights (model.safetensors + config.json)
    tensorboard/           losses, LR, beta1, images/s, accuracies and sample predictions

Lightning does the loop, devices (DDP under torchrun or SLURM is detected by Lightning itself), precision,
clipping and accumulation; this module only assembles the pieces from a :class:`Config`.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenetext.engine.config import (
    Config,
    apply_override,
    config_differences,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    read_yaml,
    save_config,
)
from scenetext.errors import ScenetextError

log = logging.getLogger("scenetext.train")


@dataclass
class BuiltModel:
    """A model built from a recipe, with everything needed to train, validate and export it."""

    model: Any
    tokenizer: Any
    charset: Any
    preprocess: Any
    options: dict[str, Any]


@dataclass
class TrainResult:
    run_dir: Path
    best_score: float | None
    best_checkpoint: Path | None
    artifact: Path | None
    global_step: int


def resolve_charset_spec(spec: str, recipe_dir: Path | None) -> str:
    """A built-in name, a path as given, or a path relative to the recipe's directory or its parents."""
    from scenetext.runtime.charset import Charset

    if spec in Charset.builtin_names() or Path(spec).is_file() or recipe_dir is None:
        return spec
    for base in (recipe_dir, *recipe_dir.parents):
        candidate = base / spec
        if candidate.is_file():
            return str(candidate)
    return spec


def build_from_config(config: Config, recipe_dir: Path | None = None, initialise: bool = True) -> BuiltModel:
    """Charset, tokenizer, model and preprocessing config of a recipe.

    ``initialise`` loads ``encoder_init`` and ``init_from`` weights (skipped on resume: the checkpoint holds
    the weights, and the stage-1 files need not exist any more).
    """
    from scenetext.models.artifact import build_options
    from scenetext.models.registry import build_model
    from scenetext.runtime.charset import Charset, Tokenizer
    from scenetext.runtime.preprocess import PreprocessConfig

    charset = Charset.from_spec(resolve_charset_spec(config.model.charset, recipe_dir))
    tokenizer = Tokenizer(charset)
    options = {**config.model.options, "max_length": config.model.max_length}
    try:
        model = build_model(config.model.name, tokenizer.num_classes, **build_options(options))
    except ScenetextError:
        raise
    except ValueError as exc:
        raise ScenetextError(f"model.name/options: {exc}") from None
    interpolation = config.preprocess.interpolation or getattr(model, "interpolation", "bilinear")
    preprocess = PreprocessConfig(
        height=int(model.img_size[0]),
        width=int(model.img_size[1]),
        normalize=model.normalize,
        keep_ratio=config.preprocess.keep_ratio,
        rotate_tall=config.preprocess.rotate_tall,
        interpolation=interpolation,
    )
    if initialise and config.model.encoder_init:
        loader = getattr(getattr(model, "encoder", None), "load_mae_pretrained", None)
        if loader is None:
            raise ScenetextError(
                f"model.encoder_init: {config.model.name} has no encoder that loads MAE weights"
            )
        report = loader(config.model.encoder_init)
        log.info("encoder initialised from %s: %s", config.model.encoder_init, report.summary())
    if initialise and config.model.init_from:
        load_initial_weights(
            model, config.model.init_from, charset, config.model.init_new_charset, config.model.init_parts
        )
    # The model emits max_length + 1 positions: one more character fits when no EOS follows (NASTR's filter).
    if config.data.label.max_length is not None and config.data.label.max_length > model.max_length + 1:
        log.warning(
            "data.label.max_length %d > model.max_length %d + 1: such labels cannot be predicted whole",
            config.data.label.max_length,
            model.max_length,
        )
    return BuiltModel(model, tokenizer, charset, preprocess, options)


def load_initial_weights(
    model: Any, source: str, charset: Any, new_charset: bool = False, parts: Sequence[str] | None = None
) -> None:
    """Strictly load ``model.init_from`` weights: an artifact, a built-in model name or a training .ckpt.

    With ``new_charset`` the model's ``charset_layers`` keep their fresh initialisation (fine-tuning onto
    another charset); everything else must still match in name and shape. With ``parts`` only the weights
    under those top-level modules load (strictly); the rest of the model keeps its own.
    """
    from scenetext.engine.checkpointing import model_weights_from_checkpoint
    from scenetext.models.artifact import load_weights_strict, read_safetensors
    from scenetext.runtime.artifact import WEIGHTS_FILE, artifact_charset, artifact_dir, read_artifact_config
    from scenetext.runtime.names import resolve_model

    path = Path(source)
    if path.suffix == ".ckpt":
        weights = model_weights_from_checkpoint(path)
    else:
        try:
            directory = artifact_dir(resolve_model(source))
        except ScenetextError as exc:
            raise ScenetextError(f"model.init_from: {exc}") from None
        stored = artifact_charset(read_artifact_config(directory))
        if stored.chars != charset.chars and not new_charset:
            raise ScenetextError(
                f"model.init_from {source}: its charset ({len(stored)} characters) differs from the recipe's "
                f"({len(charset)}); class indices would not line up (model.init_new_charset=true "
                "loads all but the charset-sized layers)"
            )
        weights = read_safetensors(directory / WEIGHTS_FILE)
    if new_charset:
        prefixes = tuple(getattr(model, "charset_layers", ()))
        if not prefixes:
            raise ScenetextError(
                f"model.init_new_charset: {type(model).__name__} declares no charset-sized layers to skip"
            )
        fresh = {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}
        old_chars = stored.chars if path.suffix != ".ckpt" else None
        carried = {k: _carry_class_rows(fresh[k], weights.get(k), old_chars, charset.chars) for k in fresh}
        weights = {k: v for k, v in weights.items() if not k.startswith(prefixes)} | carried
        log.info("charset-sized layers start fresh: %s", ", ".join(sorted(fresh)))
    if parts:
        weights = _only_parts(model, weights, parts)
    load_weights_strict(model, weights, f"model.init_from {source}")
    log.info("initialised %s from %s", ", ".join(parts) if parts else "weights", source)


def _only_parts(model: Any, weights: dict[str, Any], parts: Sequence[str]) -> dict[str, Any]:
    """The source's weights under ``parts``, the model's own elsewhere; an unknown part fails in one line."""
    own = model.state_dict()
    names = sorted({key.split(".")[0] for key in own})
    unknown = [part for part in parts if part not in names]
    if unknown:
        raise ScenetextError(
            f"model.init_parts: {type(model).__name__} has no part {', '.join(unknown)}; its parts: "
            f"{', '.join(names)}"
        )
    prefixes = tuple(f"{part}." for part in parts)
    return {k: v for k, v in weights.items() if k.startswith(prefixes)} | {
        k: v for k, v in own.items() if not k.startswith(prefixes)
    }


def _carry_class_rows(fresh: Any, old: Any, old_chars: str | None, new_chars: str) -> Any:
    """A charset-sized tensor for the new charset: learnt rows carried over where the class has a match.

    Rows are classes (3 special ids, then one per character). The special rows and every character both
    charsets hold keep their trained values; a character only the new charset holds starts from the row of
    its lowercase form when the old charset has that (en36 to en94 keeps reading "A" as it read "a"), else
    from its fresh initialisation. Tensors that are not class-sized (or a checkpoint without a stored
    charset) start fresh.
    """
    n_old = None if old_chars is None else len(old_chars) + 3
    if old is None or n_old is None or old.shape[0] != n_old or fresh.shape[0] != len(new_chars) + 3:
        return fresh
    if old.shape[1:] != fresh.shape[1:]:
        return fresh
    result = fresh.clone()
    result[:3] = old[:3]
    index = {ch: i + 3 for i, ch in enumerate(old_chars)}
    for i, ch in enumerate(new_chars):
        source = index.get(ch, index.get(ch.lower()))
        if source is not None:
            result[i + 3] = old[source]
    return result


def check_config(config: Config) -> None:
    """Cross-field checks the schema cannot express; each failure is one line naming the keys."""
    if not config.data.train:
        raise ScenetextError("data.train: no training source (add an LMDB root or a synth source)")
    for i, source in enumerate(config.data.train):
        if source.kind == "lmdb" and not source.roots:
            raise ScenetextError(f"data.train.{i}.roots: an lmdb source needs at least one root")
        if source.ratio <= 0:
            raise ScenetextError(f"data.train.{i}.ratio: must be positive, got {source.ratio}")
    if config.data.label.max_length is None:
        raise ScenetextError("data.label.max_length: must be set (the models decode a bounded length)")
    steps, epochs = config.trainer.max_steps, config.trainer.max_epochs
    if (steps is None) == (epochs is None):
        raise ScenetextError(
            "trainer.max_steps / trainer.max_epochs: set exactly one of them (the other null)"
        )
    if (steps is not None and steps < 1) or (epochs is not None and epochs < 1):
        raise ScenetextError("trainer.max_steps / trainer.max_epochs: must be positive")
    if config.trainer.max_time is not None and not re.fullmatch(
        r"\d+:\d\d:\d\d:\d\d", config.trainer.max_time
    ):
        raise ScenetextError(f"trainer.max_time {config.trainer.max_time!r}: expected DD:HH:MM:SS")
    if config.trainer.val_check_interval < 1:
        raise ScenetextError("trainer.val_check_interval: must be positive")


def _run_paths(config: Config, resume: str | None) -> tuple[Path, Path | None]:
    """The run directory and the checkpoint to resume from (None for a fresh run).

    A run directory resumes from last.ckpt, or from best.ckpt when the run was killed between writing its
    first best.ckpt and its first last.ckpt (both hold the full training state of the same validation).
    """
    if resume is None:
        run_dir = Path(config.run.output_dir) / config.run.name
        checkpoints = run_dir / "checkpoints"
        if checkpoints.is_dir() and any(checkpoints.glob("*.ckpt")):
            raise ScenetextError(
                f"{run_dir}: this run already has checkpoints; continue it with --resume {run_dir} "
                "or start a new one with run.name=NEW_NAME"
            )
        return run_dir, None
    path = Path(resume)
    if path.is_dir():
        for name in ("last.ckpt", "best.ckpt"):
            checkpoint = path / "checkpoints" / name
            if checkpoint.is_file():
                if name == "best.ckpt":
                    log.info("no checkpoints/last.ckpt (killed before writing it): resuming from best.ckpt")
                return path, checkpoint
        raise ScenetextError(
            f"--resume {resume}: no checkpoints/last.ckpt or best.ckpt in this run directory"
        )
    if not path.is_file():
        raise ScenetextError(f"--resume {resume}: no such checkpoint or run directory")
    return _checkpoint_run_dir(path), path


def _checkpoint_run_dir(checkpoint: Path) -> Path:
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


RECIPE_RECORD = "recipe.yaml"


def resume_config(
    resume: str, recipe: Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """The config of a resumed run: the run's own config.yaml, changed by ``recipe`` and ``overrides``.

    ``resume`` is a run directory or a checkpoint inside one. A recipe counts only with the keys it changed
    since the run last read it (its record in recipe.yaml), so passing the run's recipe again changes nothing
    and the first start's overrides stay; a run without that record takes the recipe as unchanged. Overrides
    apply last. Without a saved config.yaml (a checkpoint outside its run directory) the recipe is the base.
    """
    path = Path(resume)
    run_dir = path if path.is_dir() else _checkpoint_run_dir(path)
    saved = run_dir / "config.yaml"
    if not path.exists():
        raise ScenetextError(f"--resume {resume}: no such checkpoint or run directory")
    if not saved.is_file():
        if recipe is None:
            raise ScenetextError(f"--resume {resume}: no config.yaml in {run_dir}; give the run's recipe too")
        return load_config(recipe, overrides)
    data = read_yaml(saved)
    if recipe is not None:
        now = config_to_dict(load_config(recipe))
        record = run_dir / RECIPE_RECORD
        then = config_to_dict(load_config(record)) if record.is_file() else now
        for key in config_differences(config_from_dict(then), config_from_dict(now)):
            value = _lookup(now, key)
            if value is _MISSING:  # a free mapping's key (model.options...) the recipe no longer sets
                parent = _lookup(data, key.rpartition(".")[0])
                if isinstance(parent, dict):
                    parent.pop(key.rpartition(".")[2], None)
            else:
                apply_override(data, key.split("."), value)
    for text in overrides:
        apply_override(data, *parse_override(text))
    return config_from_dict(data)


_MISSING = object()


def _lookup(tree: Any, key: str) -> Any:
    """The value at a dotted key of nested dicts, or ``_MISSING``."""
    for part in key.split(".") if key else ():
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def _changes(old: Config, new: Config) -> list[str]:
    """``key: old -> new`` for every key that differs, for the log of a resumed run."""
    before, after = config_to_dict(old), config_to_dict(new)

    def shown(tree: Any, key: str) -> str:
        value = _lookup(tree, key)
        return "(unset)" if value is _MISSING else repr(value)

    return [f"{key}: {shown(before, key)} -> {shown(after, key)}" for key in config_differences(old, new)]


class _StdoutHandler(logging.StreamHandler):
    """Writes to the current ``sys.stdout``: a caller that swaps it between runs (a test's CLI runner, a
    notebook) gets the lines of every run, not only of the first."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _setup_logging() -> None:
    """Our concise lines on stdout; Lightning's chatter (tips, device banners) only when it warns."""
    logger = logging.getLogger("scenetext")
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    from lightning.pytorch.utilities import rank_zero_only

    # Only the first process reports; the others (DDP ranks, read from the launcher's environment) warn.
    logger.setLevel(logging.INFO if rank_zero_only.rank == 0 else logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    expected = (
        ".*does not have many workers.*",
        ".*LeafSpec.* is deprecated.*",
        ".*Checkpoint directory .* exists and is not empty.*",  # resuming writes into the same directory
        ".*your dataloader is not resumable.*",  # handled: the stream is re-seeded by the resume step
        ".*smaller than the logging interval.*",  # a short epoch: we log by optimizer step, nothing is lost
    )
    for pattern in expected:
        warnings.filterwarnings("ignore", pattern)


def _strategy(config: Config) -> Any:
    trainer = config.trainer
    if trainer.find_unused_parameters and trainer.strategy in ("auto", "ddp"):
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True)
    return trainer.strategy


def _accelerator(config: Config) -> str:
    """``trainer.accelerator``, refused in one line when it names a GPU this machine lacks."""
    import torch

    accelerator = config.trainer.accelerator
    available = {
        "gpu": torch.cuda.is_available() or torch.backends.mps.is_available(),
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(accelerator, True):
        raise ScenetextError(
            f"trainer.accelerator {accelerator}: this machine has no such device "
            "(trainer.accelerator=cpu, or auto for whatever is there)"
        )
    return accelerator


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512 or AMX); without it bf16 matmuls take slow paths."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _precision(config: Config) -> str:
    """``trainer.precision``, with a warning where bf16 would train on a CPU that has no native bf16.

    On this project's AVX2 machine a bf16 matmul ran 60x slower than fp32 and a training step 8-10x slower
    (docs/benchmarks.md, "CPU training set-up").
    """
    import torch

    precision = config.trainer.precision
    accelerator = config.trainer.accelerator
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if precision == "bf16-mixed" and on_cpu and not cpu_has_native_bf16():
        log.warning(
            "trainer.precision bf16-mixed: this CPU has no native bf16 (AVX512 or AMX), so training runs "
            "several times slower than with 32-true"
        )
    return precision


def _devices(config: Config) -> int | str | list[int]:
    """``trainer.devices``: a positive count, -1 (all), a list of indices, or "auto"."""
    devices = config.trainer.devices
    if (isinstance(devices, int) and (devices == 0 or devices < -1)) or devices == []:
        raise ScenetextError(
            f"trainer.devices {devices!r}: use a positive count, -1 for all, a list of indices, or auto"
        )
    return devices


def train(
    config: Config,
    resume: str | None = None,
    recipe_dir: Path | None = None,
    progress: bool | None = None,
    recipe: Config | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``config`` (or continue the run at ``resume``); returns where the results are.

    Nothing is written into the run directory until training starts (config.yaml, and ``recipe``, the
    recipe file as read before overrides, as recipe.yaml), so a start that fails changes nothing there, and
    a first start that fails before its first step leaves no run directory behind. ``extra_callbacks`` are
    more Lightning callbacks (the GPU kit's timed weights and throughput figures).
    """
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.callbacks.weight_averaging import EMAWeightAveraging

    from scenetext.engine.callbacks import (
        BestArtifactExport,
        ConsoleReport,
        LastCheckpoint,
        RunLogger,
        RunProgressBar,
        RunStart,
        Throughput,
    )
    from scenetext.engine.checkpointing import AtomicCheckpointIO, remove_stale_temporaries
    from scenetext.engine.datamodule import RecognitionDataModule, discover_subsets
    from scenetext.engine.lightning_module import MONITOR, RecognitionSystem
    from scenetext.models.artifact import save_artifact

    _setup_logging()
    check_config(config)
    run_dir, checkpoint = _run_paths(config, resume)
    new_run_dir = not run_dir.exists()
    config_path = run_dir / "config.yaml"
    if checkpoint is not None and config_path.is_file():
        changed = _changes(load_config(config_path), config)
        if changed:
            log.info("resuming with a changed recipe: %s", "; ".join(changed))
    L.seed_everything(config.run.seed, workers=True, verbose=False)

    built = build_from_config(config, recipe_dir, initialise=checkpoint is None)
    subsets = discover_subsets(config.data.val)
    data = RecognitionDataModule(config.data, built.preprocess, built.charset, config.run.seed, subsets)
    data.setup("fit")  # a missing or unreadable training source fails here, before anything is written
    system = RecognitionSystem(
        built.model,
        built.tokenizer,
        config.optim,
        config.schedule,
        config.eval.protocol,
        [name for name, _ in subsets],
        config.trainer.sample_predictions,
    )
    parameters = sum(p.numel() for p in built.model.parameters() if p.requires_grad)
    log.info(
        "run %s: model %s (%.2f M trainable parameters, %d classes, input %dx%d), %d validation subsets",
        run_dir,
        config.model.name,
        parameters / 1e6,
        built.tokenizer.num_classes,
        built.preprocess.height,
        built.preprocess.width,
        len(subsets),
    )

    def export(weights: dict[str, Any], extra: dict[str, Any]) -> None:
        save_artifact(
            run_dir / "best",
            built.model,
            model_name=config.model.name,
            model_options=built.options,
            charset=built.charset,
            preprocess=built.preprocess,
            protocol=config.eval.protocol,
            extra={"run": config.run.name, **extra},
            state_dict=weights,
        )

    tc = config.trainer
    has_val = bool(subsets)
    checkpoints = run_dir / "checkpoints"
    # best.ckpt by validation word accuracy (Lightning keeps the first of equal scores); last.ckpt always.
    best_checkpoint = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    last_checkpoint = LastCheckpoint(checkpoints, None if has_val else tc.val_check_interval)
    use_rich = progress if progress is not None else tc.progress_bar == "rich"
    if progress is None and tc.progress_bar == "auto":
        use_rich = sys.stdout.isatty()
    throughput = Throughput()

    logger = RunLogger(str(run_dir), name="tensorboard", version="", default_hp_metric=False)

    def on_start() -> None:
        """Runs on the first process once training starts: from here on the run directory is written."""
        logger.open()
        save_config(config, config_path)
        if recipe is not None:
            save_config(recipe, run_dir / RECIPE_RECORD)
        remove_stale_temporaries(checkpoints)

    run_start = RunStart(on_start)
    callbacks: list[Any] = [
        run_start,
        throughput,
        LearningRateMonitor(logging_interval="step", log_momentum=True),
    ]
    if config.ema.enabled:
        callbacks.append(
            EMAWeightAveraging(decay=config.ema.decay, update_starting_at_step=config.ema.start_step or None)
        )
    callbacks += [
        BestArtifactExport(run_dir / "best", export),
        ConsoleReport(None if use_rich else tc.log_every_n_steps, throughput),
        *([best_checkpoint] if has_val else []),
        last_checkpoint,
    ]
    if use_rich:
        callbacks.append(RunProgressBar())
    callbacks += list(extra_callbacks)
    trainer = L.Trainer(
        default_root_dir=run_dir,
        max_steps=tc.max_steps if tc.max_steps is not None else -1,
        max_epochs=-1,
        max_time=tc.max_time,
        val_check_interval=tc.val_check_interval * tc.accumulate_grad_batches if has_val else None,
        check_val_every_n_epoch=None,
        limit_val_batches=tc.limit_val_batches if has_val else 0,
        num_sanity_val_steps=tc.num_sanity_val_steps if has_val else 0,
        accelerator=_accelerator(config),
        devices=_devices(config),
        num_nodes=tc.num_nodes,
        strategy=_strategy(config),
        precision=_precision(config),
        gradient_clip_val=tc.gradient_clip_val,
        gradient_clip_algorithm="norm",
        accumulate_grad_batches=tc.accumulate_grad_batches,
        log_every_n_steps=tc.log_every_n_steps,
        deterministic=tc.deterministic,
        logger=logger,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=use_rich,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    if tc.max_epochs is not None:
        per_epoch = (
            data.train_size() // (config.data.batch_size * trainer.world_size) // tc.accumulate_grad_batches
        )
        if per_epoch < 1:
            raise ScenetextError("trainer.max_epochs: the training data is smaller than one global batch")
        trainer.fit_loop.epoch_loop.max_steps = tc.max_epochs * per_epoch
        log.info("%d epochs of %d steps: %d steps", tc.max_epochs, per_epoch, trainer.max_steps)
    if has_val and trainer.max_steps < tc.val_check_interval:
        raise ScenetextError(
            f"trainer.max_steps {trainer.max_steps} < trainer.val_check_interval {tc.val_check_interval}: "
            "the run would never validate, so it would keep no best.ckpt nor best/ (lower the interval)"
        )
    try:
        trainer.fit(system, datamodule=data, ckpt_path=str(checkpoint) if checkpoint else None)
    except BaseException:
        if new_run_dir and trainer.global_step == 0 and trainer.is_global_zero:
            shutil.rmtree(run_dir, ignore_errors=True)  # a first start that never trained leaves nothing
        raise
    if not run_start.started:
        log.info(
            "nothing to train: the run is at step %d of trainer.max_steps %d (raise it to extend the run)",
            trainer.global_step,
            trainer.max_steps,
        )

    best_score = best_checkpoint.best_model_score if has_val else None
    best_score = float(best_score) if best_score is not None else None
    best_path = Path(best_checkpoint.best_model_path) if best_score is not None else None
    artifact = run_dir / "best" if (run_dir / "best" / "model.safetensors").exists() else None
    if system.skipped_samples:
        log.warning("%d unreadable training samples were skipped", system.skipped_samples)
    if best_score is not None:
        log.info(
            "done at step %d: best accuracy %.2f%% (%s); artifact %s",
            trainer.global_step,
            best_score,
            best_path,
            artifact,
        )
    else:
        log.info("done at step %d; artifact %s", trainer.global_step, artifact)
    return TrainResult(run_dir, best_score, best_path, artifact, trainer.global_step)
