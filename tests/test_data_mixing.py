"""Ratio mixing: every batch follows the ratio, sources reshuffle on their own, seeds and ranks behave."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from data_helpers import write_lmdb
from torch.utils.data import ConcatDataset, DataLoader, TensorDataset

from scenetext.data.dataset import build_dataset, collate_batch
from scenetext.data.mixing import RatioBatchSampler, split_batch
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig


def sources(*sizes: int) -> ConcatDataset:
    return ConcatDataset([TensorDataset(torch.arange(n)) for n in sizes])


def source_of(index: int, dataset: ConcatDataset) -> int:
    return next(i for i, end in enumerate(dataset.cumulative_sizes) if index < end)


def test_split_batch_is_proportional_and_complete():
    assert split_batch(96, [0.5, 0.5]) == [48, 48]  # LPV: 48 MJ + 48 ST per GPU
    assert split_batch(10, [1, 1, 1]) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert split_batch(10, [3, 1]) == [8, 2]
    with pytest.raises(ScenetextError, match="too small"):
        split_batch(2, [1, 1, 1])
    with pytest.raises(ScenetextError, match="positive"):
        split_batch(8, [1, 0])


def test_every_batch_follows_the_ratio_and_small_sources_cycle():
    dataset = sources(20, 3)
    sampler = RatioBatchSampler(dataset, [0.5, 0.5], batch_size=4, seed=1)
    assert len(sampler) == 10  # one pass over the 20-sample source at 2 per batch
    batches = list(sampler)
    assert len(batches) == 10
    for batch in batches:
        assert Counter(source_of(i, dataset) for i in batch) == {0: 2, 1: 2}
    big = [i for b in batches for i in b if i < 20]
    assert sorted(big) == list(range(20))  # one full pass without repeats
    small = [i for b in batches for i in b if i >= 20]
    for start in range(0, 18, 3):  # each completed pass over the small source covers it once
        assert sorted(small[start : start + 3]) == [20, 21, 22]


def test_order_is_reproducible_per_seed_and_epoch():
    dataset = sources(50, 50)
    one = list(RatioBatchSampler(dataset, [1, 1], 8, seed=3))
    assert one == list(RatioBatchSampler(dataset, [1, 1], 8, seed=3))
    assert one != list(RatioBatchSampler(dataset, [1, 1], 8, seed=4))
    sampler = RatioBatchSampler(dataset, [1, 1], 8, seed=3)
    sampler.set_epoch(1)
    assert list(sampler) != one


def test_ranks_get_disjoint_shards_of_each_pass():
    dataset = sources(16, 8)
    per_rank = [list(RatioBatchSampler(dataset, [1, 1], 4, rank=r, world_size=2, seed=0)) for r in (0, 1)]
    assert len(per_rank[0]) == len(per_rank[1]) == 4
    seen = [[i for batch in batches for i in batch] for batches in per_rank]
    big = [set(i for i in s if i < 16) for s in seen]
    assert big[0].isdisjoint(big[1]) and big[0] | big[1] == set(range(16))
    with pytest.raises(ScenetextError, match="rank"):
        RatioBatchSampler(dataset, [1, 1], 4, rank=2, world_size=2)


def test_sampler_rejects_mismatched_or_empty_sources():
    with pytest.raises(ScenetextError, match="2 datasets"):
        RatioBatchSampler(sources(4, 4), [1, 1, 1], 6)
    with pytest.raises(ScenetextError, match="empty"):
        RatioBatchSampler(sources(4, 0), [1, 1], 4)
    assert list(RatioBatchSampler([4, 2], [1, 1], 2, seed=5)) == list(
        RatioBatchSampler(sources(4, 2), [1, 1], 2, seed=5)
    )
    with pytest.raises(ScenetextError, match="ConcatDataset"):
        RatioBatchSampler(TensorDataset(torch.arange(4)), [1], 4)


def test_half_mj_half_st_batches_through_a_dataloader(tmp_path):
    write_lmdb(tmp_path / "MJ" / "MJ_train", [f"mj{i}" for i in range(6)])
    write_lmdb(tmp_path / "MJ" / "MJ_valid", [f"mj{i}" for i in range(6, 9)])
    write_lmdb(tmp_path / "ST", [f"st{i}" for i in range(4)])
    preprocessor = ImagePreprocessor(PreprocessConfig(height=16, width=48))
    mixed = ConcatDataset(
        [build_dataset(tmp_path / "MJ", preprocessor), build_dataset(tmp_path / "ST", preprocessor)]
    )
    sampler = RatioBatchSampler(mixed, [0.5, 0.5], batch_size=4, seed=0)
    loader = DataLoader(mixed, batch_sampler=sampler, collate_fn=collate_batch)
    batches = list(loader)
    assert len(batches) == len(sampler) == 5
    for images, labels in batches:
        assert images.shape == (4, 3, 16, 48)
        assert sorted(label[:2] for label in labels) == ["mj", "mj", "st", "st"]
    assert {label for b in batches for label in b.labels if label.startswith("mj")} == {
        f"mj{i}" for i in range(9)
    }
