"""Building blocks of the augmentation policies: seeded randomness and the few ops albumentations lacks.

Everything else the policies use comes from albumentations; the ops here are STRAug ops it has no equivalent
for (the pattern group, Curve, Stretch, the one-sided Perspective, Frost), or whose albumentations version
looks nothing like STRAug's on text crops (Snow, Shadow), plus PIL's Sharpness. Every op takes and returns a
uint8 H x W x 3 array of the same size.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageEnhance

from scenetext.errors import ScenetextError

MIN_SIDE = 16
"""Images with a side shorter than this are augmented at an integer upscale (see :func:`upscaled_for_ops`)."""


@dataclass(frozen=True)
class AugmentStep:
    """One op a policy decided to apply to one image, with the parameters drawn for it (for tests and grids).

    Parameters that albumentations draws itself at apply time (e.g. a motion-blur angle) are not listed.
    """

    group: str
    op: str
    params: Mapping[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """Short label for grids: the op, and its magnitude when it has one."""
        return f"{self.op} {self.params['magnitude']}" if "magnitude" in self.params else self.op


def _worker_info() -> Any:
    """The DataLoader worker info, without importing torch if nothing has (then no worker can be running)."""
    data = sys.modules.get("torch.utils.data")
    return data.get_worker_info() if data is not None else None


class SeededPolicy:
    """Owns the numpy and Python generators that every op of a policy draws from.

    Albumentations transforms are bound to these generators (``set_random_state``), so one seed fixes every
    draw, whichever library makes it. DataLoader workers start as copies of the main process, and copies of
    one generator would replay the same augmentations in every worker; so the first call in a new process
    re-seeds the generators in place: a worker mixes its ``worker_info.seed`` (distinct per worker, and per
    epoch unless workers persist) with the policy seed; any other new process draws fresh OS entropy, or
    mixes its pid with the policy seed.
    """

    name: str
    """The policy's name in configs and on the command line."""
    keeps_size = True
    """Whether every op of the policy preserves the image size (NASTR's geometry does not)."""

    def __init__(
        self, seed: int | None = None, resize: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> None:
        self.seed = seed
        self.resize = resize
        sequence = np.random.SeedSequence(seed)
        self.rng = np.random.Generator(np.random.PCG64(sequence))
        self.py_rng = random.Random(int(sequence.generate_state(1, np.uint64)[0]))
        self._owner: tuple[int, int | None] = (os.getpid(), None)

    def _entropy_for(self, pid: int, info: Any) -> list[int] | None:
        own = [] if self.seed is None else [self.seed]
        if info is not None:
            return [info.seed, *own]
        return None if self.seed is None else [*own, pid]

    def sync_to_process(self) -> None:
        """Re-seed in place when running in a new process or DataLoader worker (bound transforms follow)."""
        info = _worker_info()
        owner = (os.getpid(), None if info is None else info.id)
        if owner == self._owner:
            return
        sequence = np.random.SeedSequence(self._entropy_for(owner[0], info))
        self.rng.bit_generator.state = np.random.PCG64(sequence).state
        self.py_rng.seed(int(sequence.generate_state(1, np.uint64)[0]))
        self._owner = owner

    def bind(self, transform: Any) -> Any:
        """Make an albumentations transform draw from this policy's generators."""
        transform.set_random_state(self.rng, self.py_rng)
        return transform

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def sample_plan(self) -> list[AugmentStep]:
        """The ops (and drawn parameters) for the next image; empty means the image stays intact."""
        self.sync_to_process()
        return []

    def apply_plan(self, image: np.ndarray, plan: list[AugmentStep]) -> np.ndarray:
        """Apply ``plan`` to a uint8 H x W x 3 (or H x W, or H x W x 1) array; returns the same layout.

        With ``resize`` set, the image is resized by it first, even when the plan is empty.
        """
        rgb = as_rgb(image)
        if self.resize is not None:
            rgb = as_rgb(self.resize(rgb))
        if plan:
            rgb = upscaled_for_ops(rgb, lambda x: self._apply_steps(x, plan), self.keeps_size)
        return restore_layout(rgb, image)

    def _apply_steps(self, image: np.ndarray, plan: list[AugmentStep]) -> np.ndarray:
        for step in plan:
            image = self.apply_step(image, step)
        return image

    def apply_step(self, image: np.ndarray, step: AugmentStep) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.apply_plan(image, self.sample_plan())


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an augmentation input and view it as H x W x 3 (grey images are repeated over 3 channels)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ScenetextError(f"augmentation input: expected a uint8 H x W x 3 array, got {kind}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ScenetextError(f"augmentation input: expected H x W x 3 (RGB), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ScenetextError(f"augmentation input: empty image of shape {image.shape}")
    return np.ascontiguousarray(image)


def restore_layout(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give an augmented RGB array the channel layout of the original input."""
    if like.ndim == 3 and like.shape[2] == 3:
        return rgb
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return grey if like.ndim == 2 else grey[:, :, None]


def upscaled_for_ops(
    image: np.ndarray, run: Callable[[np.ndarray], np.ndarray], keeps_size: bool
) -> np.ndarray:
    """Run ``run`` on ``image``, at an integer upscale when a side is under :data:`MIN_SIDE` pixels.

    Several library ops fail on tiny images (GlassBlur, Downscale) and pixel-sized magnitudes would wipe them
    out; the result is scaled back (to the input size when the policy keeps sizes).
    """
    h, w = image.shape[:2]
    factor = math.ceil(MIN_SIDE / min(h, w))
    if factor <= 1:
        return run(image)
    out = run(cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR))
    if keeps_size:
        size = (w, h)
    else:
        size = (max(1, round(out.shape[1] / factor)), max(1, round(out.shape[0] / factor)))
    return cv2.resize(out, size, interpolation=cv2.INTER_AREA)


# --- STRAug ops that albumentations has no equivalent for -------------------------------------------------


def line_grid(image: np.ndarray, gap: int, vertical: bool, horizontal: bool) -> np.ndarray:
    """Black 1-px lines separated by ``gap`` image pixels (STRAug VGrid / HGrid / Grid)."""
    out = image.copy()
    period = gap + 1
    if vertical:
        out[:, (np.arange(image.shape[1]) + 1) % period == 0] = 0
    if horizontal:
        out[(np.arange(image.shape[0]) + 1) % period == 0, :] = 0
    return out


def concentric_grid(image: np.ndarray, gap: int, ellipse: bool) -> np.ndarray:
    """Black 1-px concentric rectangles or ellipses around the centre, ``gap`` pixels apart, with the image's
    aspect ratio (STRAug RectGrid / EllipseGrid: as many shapes as fit in half the height, 3 more ellipses so
    they reach into the corners)."""
    out = image.copy()
    h, w = image.shape[:2]
    centre = (w // 2, h // 2)
    for i in range(1, (h // 2) // (gap + 1) + (4 if ellipse else 1)):
        dy = i * (gap + 1) - 1
        dx = round(dy * w / h)
        if ellipse:
            cv2.ellipse(out, centre, (dx, dy), 0, 0, 360, (0, 0, 0), 1)
        else:
            cv2.rectangle(
                out, (centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy), (0, 0, 0), 1
            )
    return out


def curve(image: np.ndarray, radius: float, thickness: float, flip: bool) -> np.ndarray:
    """Bend the text along a circular arc (STRAug Curve's geometry, computed as a direct polar remap).

    In a space where the image is one unit wide, its top edge becomes an arc of ``radius`` through the top
    centre and both top corners, and the text occupies a band ``thickness`` units thick below it; the whole
    band is mapped back onto the image size, so no text is cut off. ``flip`` bends the other way.
    """
    if flip:
        image = image[::-1]
    h, w = image.shape[:2]
    half_angle = math.asin(min(1.0, 0.5 / radius))
    depth = radius - (radius - thickness) * math.cos(half_angle)  # lowest point of the band: its corners
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h * depth
    dx, dy = np.meshgrid(xs, radius - ys)
    src_x = (np.arctan2(dx, dy) / half_angle * 0.5 + 0.5) * w - 0.5
    src_y = (radius - np.hypot(dx, dy)) / thickness * h - 0.5
    out = cv2.remap(image, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out[::-1] if flip else out


def horizontal_stretch(image: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Piecewise-linear horizontal warp: the columns at 0, w/3, 2w/3, w move to ``knots`` (STRAug Stretch).

    Outer knots that move inward squeeze the text; the uncovered margin repeats the edge column.
    """
    h, w = image.shape[:2]
    source = np.array([0.0, w / 3, 2 * w / 3, w])
    src_x = np.interp(np.arange(w) + 0.5, knots, source).astype(np.float32) - 0.5
    map_x = np.repeat(src_x[None, :], h, axis=0)
    map_y = np.repeat((np.arange(h, dtype=np.float32))[:, None], w, axis=1)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def side_perspective(image: np.ndarray, top: float, bottom: float, right: bool) -> np.ndarray:
    """Shorten one vertical edge to span [top, bottom] (fractions of the height): the text turns away from
    the viewer on that side (STRAug Perspective). The freed corners repeat the border."""
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners.copy()
    edge = (1, 2) if right else (0, 3)
    moved[edge[0], 1] = top * h
    moved[edge[1], 1] = bottom * h
    matrix = cv2.getPerspectiveTransform(corners, moved)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def frost(
    image: np.ndarray, rng: np.random.Generator, image_weight: float, frost_weight: float
) -> np.ndarray:
    """Blend with an ice texture: ``image_weight * x + frost_weight * ice`` (STRAug Frost).

    STRAug crops bundled frost photographs; this texture is generated instead (bright crystal streaks in one
    random direction over a mottled grey-blue haze), so nothing has to ship with the package.
    """
    h, w = image.shape[:2]
    haze = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), max(1.0, min(h, w) / 6))
    haze = (haze - haze.min()) / max(float(np.ptp(haze)), 1e-6)
    length = max(3, min(h, w) // 4) | 1
    streak = np.zeros((length, length), np.float32)
    cv2.line(streak, (0, length // 2), (length - 1, length // 2), 1.0)
    turn = cv2.getRotationMatrix2D((length / 2, length / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(streak, turn, streak.shape)
    seeds = (rng.random((h, w)) > 0.93).astype(np.float32)
    crystals = cv2.filter2D(seeds, -1, kernel / max(float(kernel.sum()), 1e-6) * 2)
    ice = np.clip(0.35 + 0.35 * haze + crystals, 0, 1)[:, :, None] * np.float32([0.92, 0.96, 1.0])
    out = image_weight * image.astype(np.float32) + frost_weight * 255 * ice
    return np.clip(out, 0, 255).astype(np.uint8)


def sharpness(image: np.ndarray, factor: float) -> np.ndarray:
    """PIL's sharpness enhancement: below 1 blurs, above 1 sharpens (STRAug Sharpness)."""
    return np.asarray(ImageEnhance.Sharpness(Image.fromarray(image)).enhance(factor))


def in_square(image: np.ndarray, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run ``run`` on the image stretched to a square and stretch the result back, as STRAug's Rotate does
    (so a rotation of a wide crop reads as a milder, sheared tilt once back at text aspect). STRAug's square
    is 224 px; the geometry does not depend on the side, so the longer image side is used (cheaper)."""
    h, w = image.shape[:2]
    side = max(h, w)
    out = run(cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC))
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA if out.shape[0] > h else cv2.INTER_CUBIC)


def snow(
    image: np.ndarray,
    rng: np.random.Generator,
    mean: float,
    std: float,
    threshold: float,
    length: int,
    sigma: float,
    angle: float,
    blend: float,
) -> np.ndarray:
    """Falling snow (STRAug Snow): sparse bright flakes smeared along ``angle`` degrees by a one-sided
    Gaussian motion kernel (``length`` px, ``sigma``), added twice (the second copy turned 180 degrees) over
    an image whitened towards ``1.5 * grey + 0.5`` with weight ``1 - blend``. Values on [0, 1]."""
    h, w = image.shape[:2]
    flakes = rng.normal(mean, std, (h, w)).astype(np.float32)
    flakes[flakes < threshold] = 0
    np.clip(flakes, 0, 1, out=flakes)
    kernel = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    direction = np.array([math.cos(math.radians(angle)), -math.sin(math.radians(angle))])
    for step in range(length + 1):
        col, row = np.rint(length + step * direction).astype(int)
        kernel[row, col] += math.exp(-(step**2) / (2 * sigma**2))
    flakes = cv2.filter2D(flakes, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    x = image.astype(np.float32) / 255
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)[:, :, None] / 255
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    x = x + flakes[:, :, None] + flakes[::-1, ::-1, None]
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def band_shadow(image: np.ndarray, rng: np.random.Generator, opacity: float) -> np.ndarray:
    """Darken a quadrilateral running from the top edge to the bottom edge by ``opacity`` (STRAug Shadow:
    each edge of the band starts in the left half and ends in the right half of the image)."""
    h, w = image.shape[:2]
    left, right = rng.uniform(0, w / 2, 2), rng.uniform(w / 2, w, 2)
    quad = (
        np.array([[left[0], 0], [right[0], 0], [right[1], h - 1], [left[1], h - 1]]).round().astype(np.int32)
    )
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [quad], 1)
    shade = np.where(mask[:, :, None] == 1, 1 - opacity, 1.0).astype(np.float32)
    return (image.astype(np.float32) * shade).round().astype(np.uint8)
