"""NASTR's training augmentation (ABINet's transforms, spec-nastr §4.3), built from albumentations ops.

In order, each with its own probability:

- geometry, p = 0.5: one of rotation (angle sym(45), canvas grown to hold the whole rotated image),
  affine (angle sym(45), scale U(0.5, 2), shear sym(45) in x and sym(15) in y, no translation, canvas grown
  to fit) or perspective (corners pulled inward, canvas fitted), each a third of the time, with an
  interpolation drawn from {nearest, linear, cubic, area} and replicated borders;
- deterioration, p = 0.25: Gaussian noise (variance max(int(asym(20)), 1)), motion blur (kernel
  max(int(asym(6)), 1), angle U(-90, 90)) and a down-up rescale (round(U(0, 4)) pyramid levels below a
  128 x 512 canvas), all three, in a random order;
- colour jitter, p = 0.25: brightness, contrast and saturation 0.5, hue 0.1.

with sym(m) = (Beta(4, 4) - 0.5) * 2m and asym(m) = Beta(1, 4) * m.

**Every parameter above is drawn per image.** The official code (inherited from ABINet) draws the geometry
type, noise level, blur kernel, rescale factor and deterioration order once, when the transforms are built,
so a whole run uses a single affine and a fixed blur/noise/rescale (spec-nastr §8.1); that bug is not
reproduced here.

Approximations, for want of the exact op in albumentations: the perspective corners move by |N(0, 0.0625)|
of the size (mean 0.05, as Beta(1, 4) * 0.25) rather than Beta(1, 4) * 0.25; even blur kernels (2, 4) become
the next odd size; the rescale is one area downscale to the pyramid level's pixel count and a linear upscale.

NASTR applies this before resizing to the model size, and geometry changes the image size: resize after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np

from scenetext.data.augment_ops import AugmentStep, SeededPolicy

GEOMETRY_PROBABILITY = 0.5
DETERIORATION_PROBABILITY = 0.25
COLOR_PROBABILITY = 0.25

INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA)
RESCALE_CANVAS = (128, 512)  # (height, width) of the pyramid's base in ABINet's CVRescale
PERSPECTIVE_STD = 0.0625


class NastrAugmentation(SeededPolicy):
    """ABINet/NASTR geometry + deterioration + colour jitter, parameters drawn per image."""

    name = "nastr"
    keeps_size = False

    def __init__(
        self, seed: int | None = None, resize: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> None:
        super().__init__(seed, resize)
        self._perspectives: dict[int, A.Perspective] = {}
        self._noises: dict[int, A.GaussNoise] = {}
        self._blurs: dict[int, A.MotionBlur] = {}
        self._rescales: dict[float, A.Downscale] = {}
        self._jitter = self.bind(A.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1, p=1))

    def sym(self, magnitude: float) -> float:
        return float((self.rng.beta(4, 4) - 0.5) * 2 * magnitude)

    def asym(self, magnitude: float) -> float:
        return float(self.rng.beta(1, 4) * magnitude)

    def sample_plan(self) -> list[AugmentStep]:
        self.sync_to_process()
        plan: list[AugmentStep] = []
        if self.rng.random() < GEOMETRY_PROBABILITY:
            plan.append(self._sample_geometry())
        if self.rng.random() < DETERIORATION_PROBABILITY:
            steps = [
                AugmentStep("deterioration", "noise", {"variance": max(int(self.asym(20)), 1)}),
                AugmentStep("deterioration", "motion_blur", {"kernel": max(int(self.asym(6)), 1)}),
                AugmentStep("deterioration", "rescale", {"levels": round(self.uniform(0, 4))}),
            ]
            plan.extend(steps[i] for i in self.rng.permutation(len(steps)))
        if self.rng.random() < COLOR_PROBABILITY:
            plan.append(AugmentStep("color", "color_jitter"))
        return plan

    def _sample_geometry(self) -> AugmentStep:
        draw = self.rng.random()
        interpolation = int(self.rng.integers(len(INTERPOLATIONS)))
        if draw < 0.33:
            return AugmentStep("geometry", "rotate", {"angle": self.sym(45), "interpolation": interpolation})
        if draw < 0.66:
            params = {
                "angle": self.sym(45),
                "scale": self.uniform(0.5, 2),
                "shear_x": self.sym(45),
                "shear_y": self.sym(15),
                "interpolation": interpolation,
            }
            return AugmentStep("geometry", "affine", params)
        return AugmentStep("geometry", "perspective", {"interpolation": interpolation})

    def apply_step(self, image: np.ndarray, step: AugmentStep) -> np.ndarray:
        params = step.params
        if step.op in ("rotate", "affine"):
            transform = self._affine(params)
        elif step.op == "perspective":
            transform = self._perspective(int(params["interpolation"]))
        elif step.op == "noise":
            transform = self._noise(int(params["variance"]))
        elif step.op == "motion_blur":
            transform = self._blur(int(params["kernel"]))
        elif step.op == "rescale":
            transform = self._rescale(int(params["levels"]), image.shape[:2])
        elif step.op == "color_jitter":
            transform = self._jitter
        else:
            raise ValueError(f"NASTR augmentation: unknown op {step.op!r}")
        return image if transform is None else transform(image=image)["image"]

    def _affine(self, params: dict) -> A.Affine:
        # Built per image: the angle, scale and shears are continuous draws the library cannot take per call.
        angle = params["angle"]
        return self.bind(
            A.Affine(
                rotate=(angle, angle),
                scale=(params.get("scale", 1.0),) * 2,
                shear={"x": (params.get("shear_x", 0.0),) * 2, "y": (params.get("shear_y", 0.0),) * 2},
                fit_output=True,
                interpolation=INTERPOLATIONS[int(params["interpolation"])],
                border_mode=cv2.BORDER_REPLICATE,
                p=1,
            )
        )

    def _perspective(self, interpolation: int) -> A.Perspective:
        if interpolation not in self._perspectives:
            self._perspectives[interpolation] = self.bind(
                A.Perspective(
                    scale=(PERSPECTIVE_STD, PERSPECTIVE_STD),
                    keep_size=False,
                    fit_output=True,
                    interpolation=INTERPOLATIONS[interpolation],
                    border_mode=cv2.BORDER_REPLICATE,
                    p=1,
                )
            )
        return self._perspectives[interpolation]

    def _noise(self, variance: int) -> A.GaussNoise:
        if variance not in self._noises:
            std = math.sqrt(variance) / 255
            self._noises[variance] = self.bind(A.GaussNoise(std_range=(std, std), per_channel=True, p=1))
        return self._noises[variance]

    def _blur(self, kernel: int) -> A.MotionBlur | None:
        if kernel <= 1:
            return None  # ABINet's 1-px kernel is the identity
        size = kernel | 1
        if size not in self._blurs:
            # The line kernel is symmetric, so angles 0..180 cover ABINet's -90..90.
            self._blurs[size] = self.bind(
                A.MotionBlur(
                    blur_limit=(size, size),
                    angle_range=(0, 180),
                    direction_range=(0, 0),
                    allow_shifted=False,
                    p=1,
                )
            )
        return self._blurs[size]

    def _rescale(self, levels: int, shape: tuple[int, int]) -> A.Downscale | None:
        # ABINet stretches to 128 x 512, halves `levels` times and stretches back; one downscale to the same
        # pixel count (geometric mean of the two axes' ratios) has the same information loss.
        h, w = shape
        scale = math.sqrt(RESCALE_CANVAS[0] * RESCALE_CANVAS[1] / (h * w)) / 2**levels
        scale = max(scale, 2 / min(h, w))
        scale = math.ceil(scale * 100) / 100  # a few dozen cached transforms instead of one per image
        if levels == 0 or scale >= 1:
            return None
        if scale not in self._rescales:
            pair = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}
            self._rescales[scale] = self.bind(
                A.Downscale(scale_range=(scale, scale), interpolation_pair=pair, p=1)
            )
        return self._rescales[scale]
