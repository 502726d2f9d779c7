"""Training and validation data for Lightning: LMDB roots and on-the-fly synthesis, mixed per batch by ratio.

Training reads one stream of batches, each drawn from the sources in the configured ratio (MJ 0.5 + ST 0.5
as LPV does, spec-lpv §3.5); in a DDP run the ratio sampler gives each process a disjoint shard of every
pass over a source, so no distributed sampler is needed. Validation gives one loader per subset (every LMDB
under a validation root), sharded across processes without padding so no image is counted twice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from scenetext.data.charset import LabelFilter
from scenetext.data.dataset import TextRecognitionDataset, build_dataset, collate_batch
from scenetext.engine.config import DataConfig, TrainSource
from scenetext.engine.evaluate import MaxLengthFilter, discover_subsets
from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset
from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig

__all__ = ["RecognitionDataModule", "discover_subsets"]

log = logging.getLogger("scenetext.train")


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...``: an exact partition of a validation set (no padding duplicates)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = range(rank, length, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class RecognitionDataModule(L.LightningDataModule):
    """Builds the datasets of a :class:`DataConfig` for a model's preprocessing and charset."""

    def __init__(
        self,
        config: DataConfig,
        preprocess: PreprocessConfig,
        charset: Charset,
        seed: int,
        val_subsets: list[tuple[str, Path]] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.preprocess = preprocess
        self.charset = charset
        self.seed = seed
        self.val_subsets = val_subsets if val_subsets is not None else discover_subsets(config.val)
        self.train_sources: list[Dataset] | None = None
        self.val_sets: list[TextRecognitionDataset] | None = None

    # ---- construction -------------------------------------------------------------------------------

    def label_filter(self) -> LabelFilter:
        label = self.config.label
        return LabelFilter(
            self.charset,
            policy=label.policy,
            lowercase=label.lowercase,
            max_length=label.max_length,
            length_of_raw=label.length_of_raw,
            keep_empty=label.keep_empty,
        )

    def _augmentation(self, index: int, preprocessor: ImagePreprocessor) -> Any:
        name = self.config.augmentation
        if not name:
            return None
        from scenetext.data.augment import build_augmentation

        # LPV augments the image already stretched to the model size (spec-lpv §3.4); NASTR augments the
        # decoded image, whose geometry ops change its size, before the resize (spec-nastr §4.3).
        resize = preprocessor.resize if name == "lpv" else None
        return build_augmentation(name, seed=self.seed + index, resize=resize)

    def _source(self, index: int, source: TrainSource) -> Dataset:
        preprocessor = ImagePreprocessor(self.preprocess)
        transform = self._augmentation(index, preprocessor)
        if source.kind == "synth":
            from scenetext.synth.dataset import SynthDataset

            return SynthDataset(
                preprocessor=preprocessor,
                label_filter=self.label_filter(),
                transform=transform,
                **source.synth,
            )
        return build_dataset(source.roots, preprocessor, self.label_filter(), transform)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets once (Lightning calls this on every process; repeated calls are free)."""
        if stage in ("fit", None) and self.train_sources is None:
            self.train_sources = [self._source(i, s) for i, s in enumerate(self.config.train)]
            for source, dataset in zip(self.config.train, self.train_sources, strict=True):
                what = ", ".join(source.roots) if source.kind == "lmdb" else "synthetic"
                log.info("training source %s: %d samples, ratio %g", what, len(dataset), source.ratio)
        if stage in ("fit", "validate", None) and self.val_sets is None:
            preprocessor = ImagePreprocessor(self.preprocess)
            length_filter = MaxLengthFilter(self.config.val_max_length)
            self.val_sets = [
                TextRecognitionDataset(p, preprocessor, length_filter) for _, p in self.val_subsets
            ]

    def train_size(self) -> int:
        """Samples in all training sources together (for epoch-based step counts)."""
        self.setup("fit")
        assert self.train_sources is not None
        return sum(len(d) for d in self.train_sources)

    # ---- loaders -------------------------------------------------------------------------------------

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader_options(self, workers: int, persistent: bool, key: str) -> dict[str, Any]:
        if workers < 0:
            raise ScenetextError(f"{key} {workers}: must be 0 (load in the training process) or more")
        pin = self.config.pin_memory
        if pin is None:
            pin = torch.cuda.is_available()
        return {
            "num_workers": workers,
            "pin_memory": pin,
            "persistent_workers": persistent and workers > 0,
            "collate_fn": collate_batch,
        }

    def train_dataloader(self) -> DataLoader:
        from scenetext.data.mixing import RatioBatchSampler

        self.setup("fit")
        assert self.train_sources is not None
        rank, world = self._rank()
        trainer = self.trainer
        # One epoch spans the whole run (each source is reshuffled whenever used up), so the progress bar's
        # ETA is the run's. The sampler position is not checkpointed: a resumed run draws a stream seeded by
        # its start step rather than replaying the batches the run began with.
        step = trainer.global_step if trainer is not None else 0
        total = trainer.max_steps * trainer.accumulate_grad_batches if trainer is not None else None
        sampler = RatioBatchSampler(
            [len(d) for d in self.train_sources],
            [s.ratio for s in self.config.train],
            self.config.batch_size,
            num_batches=total if total and total > 0 else None,
            seed=self.seed + 7_919 * step,
            rank=rank,
            world_size=world,
        )
        return DataLoader(
            ConcatDataset(self.train_sources),
            batch_sampler=sampler,
            **self._loader_options(
                self.config.num_workers, self.config.persistent_workers, "data.num_workers"
            ),
        )

    def val_dataloader(self) -> list[DataLoader]:
        self.setup("validate")
        assert self.val_sets is not None
        rank, world = self._rank()
        workers, key = self.config.val_num_workers, "data.val_num_workers"
        if workers is None:
            workers, key = self.config.num_workers, "data.num_workers"
        return [
            DataLoader(
                dataset,
                batch_size=self.config.val_batch_size,
                sampler=ShardSampler(len(dataset), rank, world),
                # Not persistent: one set of idle workers per subset would pile up between validations.
                **self._loader_options(workers, persistent=False, key=key),
            )
            for dataset in self.val_sets
        ]
