"""Training augmentation: pick a policy by name, and render a grid of augmented samples to look at.

Policies (each a callable on uint8 H x W x 3 RGB arrays, returning the same kind):

- ``"nastr"``: ABINet's geometry / deterioration / colour jitter as NASTR trains (:mod:`augment_nastr`);
- ``"lpv"``: the STRAug random policy as LPV trains (:mod:`augment_lpv`);
- ``"none"``: the identity.

Where to apply them is the caller's choice, and the papers differ: NASTR augments the decoded image and then
resizes it to the model size (its geometry changes the image size), LPV augments the image already stretched
to the model size. For the latter pass ``resize=preprocessor.resize`` so the policy resizes first; the later
resize by the dataset is then a no-op.

Randomness is drawn per image from generators owned by the policy: a given ``seed`` reproduces the same
sequence of outputs, and DataLoader workers re-seed themselves from their worker seed, so no two workers
replay the same augmentations (see :class:`augment_ops.SeededPolicy`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.data.augment_lpv import LpvAugmentation
from scenetext.data.augment_nastr import NastrAugmentation
from scenetext.data.augment_ops import AugmentStep, SeededPolicy, as_rgb
from scenetext.errors import ScenetextError

__all__ = [
    "AUGMENTATIONS",
    "AugmentStep",
    "LpvAugmentation",
    "NastrAugmentation",
    "NoAugmentation",
    "SeededPolicy",
    "build_augmentation",
    "render_augmentation_grid",
]


class NoAugmentation(SeededPolicy):
    """The identity policy (evaluation, or training without augmentation); still resizes when asked to."""

    name = "none"


AUGMENTATIONS: dict[str, type[SeededPolicy]] = {
    "nastr": NastrAugmentation,
    "lpv": LpvAugmentation,
    "none": NoAugmentation,
}
"""Policy names accepted by :func:`build_augmentation` (and by training configs)."""


def build_augmentation(
    name: str, seed: int | None = None, *, resize: Callable[[np.ndarray], np.ndarray] | None = None
) -> SeededPolicy:
    """The augmentation policy ``name`` ("nastr", "lpv" or "none") as a callable on uint8 H x W x 3 arrays.

    ``seed`` makes the output sequence reproducible (None: fresh entropy). ``resize`` runs first on every
    image (LPV augments at the model size: pass the preprocessor's ``resize``).
    """
    policy = AUGMENTATIONS.get(name)
    if policy is None:
        raise ScenetextError(
            f"augmentation {name!r}: unknown policy; choose one of {', '.join(AUGMENTATIONS)}"
        )
    return policy(seed, resize=resize)


def render_augmentation_grid(
    images: Sequence[np.ndarray],
    policy: str | SeededPolicy,
    path: str | Path,
    *,
    samples: int = 6,
    seed: int = 0,
    cell_size: tuple[int, int] = (48, 160),
) -> Path:
    """Write a PNG grid: one row per input image, the input first, then ``samples`` augmented versions.

    Every cell is stretched to ``cell_size`` (height, width), as a model would see it, and captioned with
    the ops applied ("intact" when none). ``policy`` is a policy or a name built with ``seed``.
    """
    if not images:
        raise ScenetextError("augmentation grid: no images to render")
    if isinstance(policy, str):
        policy = build_augmentation(policy, seed)
    height, width = cell_size
    font = ImageFont.load_default(size=11)
    line_height = 13
    rows = []
    for image in images:
        cells = [(as_rgb(image), ["input"])]
        for _ in range(samples):
            plan = policy.sample_plan()
            cells.append((policy.apply_plan(image, plan), _caption(plan)))
        rows.append(cells)
    max_lines = max(len(lines) for row in rows for _, lines in row)
    cell_w, cell_h = width + 6, height + 6 + max_lines * line_height
    canvas = Image.new("RGB", (cell_w * (samples + 1), cell_h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        for c, (array, lines) in enumerate(row):
            x, y = c * cell_w + 3, r * cell_h + 3
            canvas.paste(Image.fromarray(cv2.resize(as_rgb(array), (width, height))), (x, y))
            for i, line in enumerate(lines):
                draw.text((x, y + height + 1 + i * line_height), line, fill=(60, 60, 60), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def _caption(plan: list[AugmentStep]) -> list[str]:
    return [step.describe() for step in plan] or ["intact"]
