"""Augmentation policies: every op yields a valid image at any size, randomness is per image, seeds reproduce,
LPV's intact/3-group policy holds, DataLoader workers do not replay each other, grids render."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from scenetext.data.augment import (
    AugmentStep,
    LpvAugmentation,
    NastrAugmentation,
    build_augmentation,
    render_augmentation_grid,
)
from scenetext.data.augment_lpv import GROUPS, MAGNITUDES
from scenetext.errors import ScenetextError

SHAPES = [(32, 100), (8, 5), (200, 20), (5, 3), (48, 160)]


def word_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A light background with dark vertical strokes, plus a little noise so no op sees a flat image."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), (225, 215, 190), np.uint8)
    image[h // 4 : max(h // 4 + 1, 3 * h // 4), :: max(2, w // 8)] = (30, 30, 80)
    return np.clip(image + rng.integers(-8, 9, image.shape), 0, 255).astype(np.uint8)


def assert_valid(out: np.ndarray, expected_shape: tuple[int, ...] | None = None) -> None:
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3 and out.shape[0] > 0 and out.shape[1] > 0
    if expected_shape is not None:
        assert out.shape == expected_shape


def test_every_lpv_op_at_every_magnitude_keeps_size_and_dtype() -> None:
    policy = LpvAugmentation(seed=0)
    for h, w in SHAPES:
        image = word_like(h, w)
        for ops in GROUPS.values():
            for op in ops:
                for magnitude in range(MAGNITUDES):
                    step = AugmentStep("any", op, {"magnitude": magnitude})
                    out = policy.apply_plan(image, [step])
                    assert_valid(out, image.shape)


def test_every_nastr_op_returns_a_valid_image_even_at_extreme_parameters() -> None:
    policy = NastrAugmentation(seed=0)
    steps = [AugmentStep("color", "color_jitter")]
    for interpolation in range(4):
        steps += [
            AugmentStep("geometry", "rotate", {"angle": 45.0, "interpolation": interpolation}),
            AugmentStep(
                "geometry",
                "affine",
                {
                    "angle": -45.0,
                    "scale": 0.5,
                    "shear_x": 45.0,
                    "shear_y": -15.0,
                    "interpolation": interpolation,
                },
            ),
            AugmentStep("geometry", "perspective", {"interpolation": interpolation}),
        ]
    steps += [AugmentStep("deterioration", "noise", {"variance": v}) for v in (1, 19)]
    steps += [AugmentStep("deterioration", "motion_blur", {"kernel": k}) for k in range(1, 6)]
    steps += [AugmentStep("deterioration", "rescale", {"levels": n}) for n in range(5)]
    for h, w in SHAPES:
        image = word_like(h, w)
        for step in steps:
            assert_valid(policy.apply_plan(image, [step]))
        assert_valid(policy.apply_plan(image, steps[:4]))


def test_nastr_draws_parameters_per_image_not_once_per_run() -> None:
    """The official code fixes geometry type, angles, noise, blur and order at construction (spec §8.1)."""
    policy = NastrAugmentation(seed=1)
    plans = [policy.sample_plan() for _ in range(400)]
    geometry = [step for plan in plans for step in plan if step.group == "geometry"]
    assert {step.op for step in geometry} == {"rotate", "affine", "perspective"}
    assert len({round(step.params["angle"], 6) for step in geometry if "angle" in step.params}) > 50
    orders = {tuple(s.op for s in plan if s.group == "deterioration") for plan in plans} - {()}
    assert len(orders) == 6
    assert len({s.params["variance"] for plan in plans for s in plan if s.op == "noise"}) > 3
    assert 0.4 < len(geometry) / len(plans) < 0.6

    image = word_like(32, 100)
    outputs = {policy(image).tobytes() for _ in range(20)}
    assert len(outputs) > 5


@pytest.mark.parametrize("name", ["nastr", "lpv"])
def test_same_seed_reproduces_outputs_and_another_seed_does_not(name: str) -> None:
    images = [word_like(32, 100, seed=i) for i in range(12)]
    first, second, other = (build_augmentation(name, seed=s) for s in (7, 7, 8))
    a = [first(image) for image in images]
    np.random.seed(123)  # the global numpy state must not matter
    b = [second(image) for image in images]
    c = [other(image) for image in images]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_lpv_keeps_half_the_images_intact_and_otherwise_picks_three_distinct_groups() -> None:
    policy = LpvAugmentation(seed=0)
    plans = [policy.sample_plan() for _ in range(4000)]
    intact = sum(not plan for plan in plans) / len(plans)
    assert abs(intact - 0.5) < 0.03  # binomial std at n=4000 is 0.008
    groups: Counter[str] = Counter()
    first_groups = set()
    for plan in filter(None, plans):
        assert len(plan) == 3 and len({step.group for step in plan}) == 3
        for step in plan:
            assert step.op in GROUPS[step.group] and step.params["magnitude"] in range(MAGNITUDES)
            groups[step.group] += 1
        first_groups.add(plan[0].group)
    assert set(groups) == set(GROUPS) and first_groups == set(GROUPS)  # any group, in any order
    assert min(groups.values()) > 0.8 * max(groups.values())


def test_grey_images_keep_their_layout_and_bad_inputs_fail_with_one_line() -> None:
    policy = build_augmentation("lpv", seed=0)
    step = [AugmentStep("blur", "zoom_blur", {"magnitude": 2})]
    assert policy.apply_plan(np.full((20, 60), 128, np.uint8), step).shape == (20, 60)
    assert policy.apply_plan(np.full((20, 60, 1), 128, np.uint8), step).shape == (20, 60, 1)
    bad = [np.zeros((20, 60, 3), np.float32), np.zeros((20, 60, 4), np.uint8), np.zeros((0, 5, 3), np.uint8)]
    for image in bad:
        with pytest.raises(ScenetextError, match="augmentation input"):
            policy(image)
    with pytest.raises(ScenetextError, match="unknown policy"):
        build_augmentation("randaugment")


def test_none_is_the_identity_and_resize_runs_first() -> None:
    image = word_like(40, 90)
    assert np.array_equal(build_augmentation("none")(image), image)
    half = build_augmentation("none", resize=lambda a: a[::2, ::2])
    assert half(image).shape == (20, 45, 3)
    lpv = build_augmentation("lpv", seed=0, resize=lambda a: np.ascontiguousarray(a[:32, :64]))
    assert all(lpv(image).shape == (32, 64, 3) for _ in range(10))


class _SameImage(Dataset):
    def __init__(self, augment) -> None:
        self.augment = augment
        self.image = word_like(32, 100)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> np.ndarray:
        return self.augment(self.image)


def test_dataloader_workers_do_not_replay_each_others_augmentations() -> None:
    """Workers start as copies of one policy; without re-seeding they would emit identical batches."""
    loader = DataLoader(
        _SameImage(build_augmentation("nastr", seed=0)),
        batch_size=4,
        num_workers=2,
        collate_fn=list,
        generator=torch.Generator().manual_seed(0),
    )
    first, second = list(loader)  # batch 0 from worker 0, batch 1 from worker 1
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_policies_survive_pickling_for_spawned_workers() -> None:
    for name in ("nastr", "lpv"):
        policy = build_augmentation(name, seed=3)
        image = word_like(32, 100)
        for _ in range(10):
            policy(image)
        assert_valid(pickle.loads(pickle.dumps(policy))(image), None)


def test_render_grid_writes_one_row_per_image(tmp_path) -> None:
    images = [word_like(32, 100), word_like(20, 50, seed=1)]
    path = render_augmentation_grid(
        images, "lpv", tmp_path / "sub" / "grid.png", samples=3, cell_size=(32, 100)
    )
    with Image.open(path) as grid:
        assert grid.width == 4 * (100 + 6) and grid.height > 2 * (32 + 6)
