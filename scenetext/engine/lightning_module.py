"""The Lightning wrapper around a recognition model: losses, validation metrics, optimizer and schedule.

The model stays a plain ``RecognitionModel`` (``self.model``) so it exports without Lightning; this module
only adds what training needs. Validation decodes greedily (argmax, cut at the first EOS), normalises both
sides with the evaluation protocol and tallies word accuracy and 1-NED per validation subset; the tallies are
summed over processes before the averages are taken, so DDP reports the same figures as one device.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
import torch
from torch import Tensor

from scenetext.engine.checkpointing import collect_rng_states, restore_rng_states
from scenetext.engine.config import OptimConfig, ScheduleConfig
from scenetext.engine.metrics import SubsetTable, one_minus_ned
from scenetext.engine.protocols import normalize_text
from scenetext.errors import ScenetextError
from scenetext.models.base import RecognitionModel
from scenetext.runtime.charset import Tokenizer

MONITOR = "val/accuracy"

log = logging.getLogger("scenetext.train")


def build_optimizer(parameters: Any, config: OptimConfig) -> torch.optim.Optimizer:
    """AdamW (NASTR, decay on every parameter) or Adam (LPV, usually without decay)."""
    if not config.lr > 0:
        raise ScenetextError(f"optim.lr {config.lr}: must be positive")
    if len(config.betas) != 2:
        raise ScenetextError(f"optim.betas {config.betas}: expected two values [beta1, beta2]")
    kwargs = {"lr": config.lr, "betas": tuple(config.betas), "eps": config.eps}
    if config.name == "adamw":
        return torch.optim.AdamW(parameters, weight_decay=config.weight_decay, **kwargs)
    return torch.optim.Adam(parameters, weight_decay=config.weight_decay, **kwargs)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-step schedule: OneCycleLR over ``total_steps`` (NASTR), StepLR (LPV), or none."""
    if config.name == "onecycle":
        if not 0 < config.pct_start < 1:
            raise ScenetextError(
                f"schedule.pct_start {config.pct_start}: must lie strictly between 0 and 1 "
                "(the warm-up's share of the run)"
            )
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total_steps,
            pct_start=config.pct_start,
            anneal_strategy=config.anneal_strategy,
            cycle_momentum=config.cycle_momentum,
            base_momentum=config.base_momentum,
            max_momentum=config.max_momentum,
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
        )
    if config.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return None


def relayout_onecycle(
    scheduler: torch.optim.lr_scheduler.OneCycleLR, config: ScheduleConfig, total_steps: int
) -> None:
    """Lay a restored OneCycle schedule out again over ``total_steps``, keeping the step it has reached.

    The rule for a resumed run whose ``trainer.max_steps`` changed: the phases are those a run planned with
    the new total would have (same start, peak and end LR, which the optimizer's groups hold, and the
    recipe's ``pct_start``), and the LR and beta1 become that layout's values at the current step. Extending
    a run mid-way thus stretches its annealing; extending a finished one warms the LR back up to the new
    layout's value at that step and anneals it again to the new end.
    """
    scratch = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1.0)  # phases depend on no LR
    layout = build_scheduler(scratch, config, total_steps)
    assert isinstance(layout, torch.optim.lr_scheduler.OneCycleLR)
    state = scheduler.state_dict()
    state.update(total_steps=layout.total_steps, _schedule_phases=layout.state_dict()["_schedule_phases"])
    scheduler.load_state_dict(state)
    scheduler.last_epoch -= 1
    scheduler.step()  # recomputes the LR (and beta1) of the current step under the new layout


class RecognitionSystem(L.LightningModule):
    """Trains ``model`` on (images, labels) batches and validates it per subset.

    ``val_subsets`` names the validation dataloaders in order. ``sample_predictions`` (ground truth,
    prediction) pairs of each validation are kept in ``last_samples`` for the TensorBoard text panel.
    """

    def __init__(
        self,
        model: RecognitionModel,
        tokenizer: Tokenizer,
        optim: OptimConfig,
        schedule: ScheduleConfig,
        protocol: str,
        val_subsets: list[str] | None = None,
        sample_predictions: int = 16,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.optim_config = optim
        self.schedule_config = schedule
        self.protocol = protocol
        self.val_subsets = list(val_subsets or [])
        self.sample_predictions = sample_predictions
        self.skipped_samples = 0
        self.last_validation: dict[str, Any] | None = None
        self.last_samples: list[tuple[str, str, str]] = []
        self._tallies: dict[int, list[float]] = {}

    def forward(self, images: Tensor) -> Tensor:
        """Inference logits N x T x C."""
        return self.model(images).logits

    def training_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        images, labels = batch
        self.skipped_samples += int(getattr(batch, "skipped", 0))
        if len(labels) == 0:
            return None  # every sample of this batch was unreadable; Lightning skips the optimizer step
        targets = self.tokenizer.encode(labels).to(self.device)
        output = self.model(images, targets)
        losses = self.model.loss(output, targets)
        for name, value in losses.items():
            self.log(f"train/{name}", value.detach(), batch_size=len(labels), prog_bar=name == "loss")
        return losses["loss"]

    def on_validation_epoch_start(self) -> None:
        self._tallies = {}
        self.last_samples = []

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels = batch
        if len(labels) == 0:
            return
        predictions = self.tokenizer.decode(self.model(images).logits.argmax(-1))
        tally = self._tallies.setdefault(dataloader_idx, [0, 0, 0.0])
        for prediction, label in zip(predictions, labels, strict=True):
            pred, gt = normalize_text(prediction, self.protocol), normalize_text(label, self.protocol)
            tally[0] += 1
            tally[1] += pred == gt
            tally[2] += one_minus_ned(pred, gt)
            if len(self.last_samples) < self.sample_predictions:
                self.last_samples.append((self._subset_name(dataloader_idx), label, prediction))

    def _subset_name(self, index: int) -> str:
        return self.val_subsets[index] if index < len(self.val_subsets) else f"val{index}"

    def on_validation_epoch_end(self) -> None:
        count = max(len(self.val_subsets), max(self._tallies, default=-1) + 1)
        if count == 0:
            return
        sums = torch.zeros(count, 3, dtype=torch.float64, device=self.device)
        for index, (n, correct, ned) in self._tallies.items():
            sums[index] = torch.tensor([n, correct, ned], dtype=torch.float64)
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        figures = {}
        for index, (n, correct, ned) in enumerate(sums.tolist()):
            n = int(round(n))
            figures[self._subset_name(index)] = {
                "n": n,
                "accuracy": 100.0 * correct / n if n else 0.0,
                "ned": 100.0 * ned / n if n else 0.0,
            }
        averages = SubsetTable(figures).averages()
        self.last_validation = {"subsets": figures, "average": averages, "step": self.global_step}
        if self.trainer.sanity_checking:
            return
        accuracy = averages["weighted"]["accuracy"]
        self.log(MONITOR, accuracy, sync_dist=True)
        self.log("val/ned", averages["weighted"]["ned"], sync_dist=True)
        self.log("val/accuracy_unweighted", averages["unweighted"]["accuracy"], sync_dist=True)
        if len(figures) > 1:
            for name, values in figures.items():
                self.log(f"val/{name}/accuracy", values["accuracy"], sync_dist=True)
                self.log(f"val/{name}/ned", values["ned"], sync_dist=True)

    def configure_optimizers(self) -> Any:
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = build_optimizer(parameters, self.optim_config)
        total = self.trainer.max_steps if self.trainer is not None else -1
        if self.schedule_config.name == "onecycle" and (total is None or total < 1 or math.isinf(total)):
            raise ValueError("the onecycle schedule needs trainer.max_steps > 0")
        scheduler = build_scheduler(optimizer, self.schedule_config, total)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        scheduler = self.lr_schedulers()
        total = self.trainer.max_steps
        if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and scheduler.total_steps != total:
            planned = scheduler.total_steps
            relayout_onecycle(scheduler, self.schedule_config, total)
            log.info(
                "the onecycle schedule planned over %d steps is laid out again over trainer.max_steps %d "
                "(step %d continues at lr %.3g)",
                planned,
                total,
                self.global_step,
                scheduler.get_last_lr()[0],
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng_states"] = collect_rng_states()
        checkpoint["skipped_samples"] = self.skipped_samples

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            restore_rng_states(checkpoint["rng_states"])
        self.skipped_samples = int(checkpoint.get("skipped_samples", 0))
