"""Mixing several datasets inside every batch by a fixed ratio.

LPV trains with half MJ and half ST in every batch (spec-lpv §3.5: 48 + 48 images per GPU), each source
restarted independently when it runs out. :class:`RatioBatchSampler` reproduces that over one
``ConcatDataset`` whose children are the sources (each may itself be a ConcatDataset of many LMDBs), so a
single DataLoader with ``batch_sampler=`` and ``collate_fn=collate_batch`` does the whole job. Unlike the
official code, the order changes with :meth:`RatioBatchSampler.set_epoch` instead of repeating every pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import ConcatDataset, Sampler

from scenetext.errors import ScenetextError


def split_batch(batch_size: int, ratios: Sequence[float]) -> list[int]:
    """How many samples of each source go into a batch: proportional, largest remainder, each at least 1."""
    if batch_size < 1:
        raise ScenetextError(f"batch size {batch_size}: must be at least 1")
    if not ratios:
        raise ScenetextError("batch ratios: at least one is needed")
    if any(not math.isfinite(r) or r <= 0 for r in ratios):
        raise ScenetextError(f"batch ratios {list(ratios)}: each must be a positive number")
    total = sum(ratios)
    exact = [batch_size * r / total for r in ratios]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: batch_size - sum(counts)]:
        counts[i] += 1
    if min(counts) == 0:
        raise ScenetextError(
            f"batch size {batch_size} is too small for ratios {list(ratios)}: a source would get 0 samples"
        )
    return counts


class RatioBatchSampler(Sampler[list[int]]):
    """Yields batches of indices into ``dataset`` (a ConcatDataset of sources) following ``ratios``.

    ``dataset`` may also be the list of source sizes, in the order they are concatenated.

    ``batch_size`` is per process (per GPU). Every source is shuffled on its own and reshuffled whenever
    this process has used its share of it, so small sources repeat more often than large ones, as in LPV.
    With ``world_size`` > 1, each pass over a source is split into disjoint shards by ``rank`` (every rank
    draws the same permutation from ``seed``), so no two GPUs see the same sample in the same pass.
    ``num_batches`` defaults to one pass over the source that takes the most batches to exhaust.
    """

    def __init__(
        self,
        dataset: ConcatDataset | Sequence[int],
        ratios: Sequence[float],
        batch_size: int,
        *,
        num_batches: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if isinstance(dataset, ConcatDataset):
            sizes = [len(d) for d in dataset.datasets]
        elif isinstance(dataset, Sequence) and all(isinstance(n, int) for n in dataset):
            sizes = list(dataset)
        else:
            raise ScenetextError("ratio mixing needs a ConcatDataset of the sources (or their sizes)")
        if len(ratios) != len(sizes):
            raise ScenetextError(
                f"batch ratios {list(ratios)}: {len(ratios)} given for {len(sizes)} datasets"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise ScenetextError(f"rank {rank} / world size {world_size}: need 0 <= rank < world_size")
        self.counts = split_batch(batch_size, ratios)
        self.sizes = sizes
        for i, size in enumerate(self.sizes):
            if size <= 0:
                raise ScenetextError(f"dataset {i} of the mix is empty")
        self.offsets = [0, *itertools.accumulate(sizes[:-1])]
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        if num_batches is None:
            shards = [math.ceil(size / world_size) for size in self.sizes]
            num_batches = max(
                math.ceil(shard / count) for shard, count in zip(shards, self.counts, strict=True)
            )
        if num_batches < 1:
            raise ScenetextError(f"num_batches {num_batches}: must be at least 1")
        self.num_batches = num_batches

    def set_epoch(self, epoch: int) -> None:
        """Use a different (still reproducible) order for this epoch; call it before iterating."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def _source_stream(self, source: int) -> Iterator[int]:
        """This rank's share of endless shuffled passes over one source, as global indices."""
        size, offset = self.sizes[source], self.offsets[source]
        padded = math.ceil(size / self.world_size) * self.world_size
        cycle = 0
        while True:
            rng = np.random.default_rng([self.seed, self.epoch, source, cycle])
            order = rng.permutation(size)
            if padded > size:  # so every rank gets an equal share, as DistributedSampler does
                order = np.resize(order, padded)
            for index in order[self.rank :: self.world_size]:
                yield int(index) + offset
            cycle += 1

    def __iter__(self) -> Iterator[list[int]]:
        streams = [self._source_stream(i) for i in range(len(self.sizes))]
        for _ in range(self.num_batches):
            batch: list[int] = []
            for stream, count in zip(streams, self.counts, strict=True):
                batch.extend(next(stream) for _ in range(count))
            yield batch
