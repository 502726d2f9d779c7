"""LPV's training augmentation: the STRAug random policy (spec-lpv §3.4), ops from albumentations where it has
them.

Policy: half the images stay intact; the others get 3 distinct groups out of 8, in random order, one op drawn
uniformly inside each group, at a magnitude drawn uniformly from {0, 1, 2}. Magnitude-to-parameter tables
follow the spec. Deliberate departures from the official code, all bugs or unavailable dependencies:
Equalize and AutoContrast really equalise (the official ops discard their result), GaussianBlur's magnitude 2
is sigma 2 (not a random choice), Frost blends a generated texture instead of bundled photographs (keeping
the official, squared, blend weights), and ImageMagick's motion blur is albumentations' line kernel of
matching spread. Shot noise is albumentations' (computed in linear light); speckle noise is a uniform
multiplier of the official spread.

LPV applies this to the image already stretched to the model size (100x32 or 160x48); every op keeps the size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np

from scenetext.data import augment_ops as ops
from scenetext.data.augment_ops import AugmentStep, SeededPolicy

Op = Callable[[np.ndarray], np.ndarray]

GROUPS: dict[str, tuple[str, ...]] = {
    "process": ("posterize", "solarize", "invert", "equalize", "autocontrast", "sharpness", "color"),
    "camera": ("contrast", "brightness", "jpeg", "pixelate"),
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("gaussian_blur", "defocus_blur", "motion_blur", "glass_blur", "zoom_blur"),
    "weather": ("fog", "snow", "frost", "rain", "shadow"),
    "pattern": ("grid", "vgrid", "hgrid", "rect_grid", "ellipse_grid"),
    "warp": ("curve", "distort", "stretch"),
    "geometry": ("rotate", "perspective", "shrink"),
}
"""STRAug's 8 groups and their ops (spec-lpv §3.4)."""

INTACT_PROBABILITY = 0.5
GROUPS_PER_IMAGE = 3
MAGNITUDES = 3

_ENHANCE_RANGES = ((0.1, 0.7), (0.7, 1.3), (1.3, 1.9))  # Sharpness and Color factors
_WARP_FRACTIONS = (0.2, 0.3, 0.4)  # Distort, Stretch and Shrink


class LpvAugmentation(SeededPolicy):
    """STRAug's random policy as LPV trains with it. Call it on a uint8 H x W x 3 array."""

    name = "lpv"

    def __init__(
        self, seed: int | None = None, resize: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> None:
        super().__init__(seed, resize)
        self._ops: dict[tuple[str, int], Op] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ops"] = {}  # rebuilt on use, bound to the unpickled generators
        return state

    def sample_plan(self) -> list[AugmentStep]:
        self.sync_to_process()
        if self.rng.random() < INTACT_PROBABILITY:
            return []
        names = list(GROUPS)
        plan = []
        for index in self.rng.choice(len(names), size=GROUPS_PER_IMAGE, replace=False):
            group = names[index]
            op = GROUPS[group][self.rng.integers(len(GROUPS[group]))]
            plan.append(AugmentStep(group, op, {"magnitude": int(self.rng.integers(MAGNITUDES))}))
        return plan

    def apply_step(self, image: np.ndarray, step: AugmentStep) -> np.ndarray:
        return self.op(step.op, int(step.params["magnitude"]))(image)

    def op(self, name: str, magnitude: int) -> Op:
        """The callable for one op at one magnitude (built once, drawing from this policy's generators)."""
        key = (name, magnitude)
        if key not in self._ops:
            self._ops[key] = self._build(name, magnitude)
        return self._ops[key]

    def _albu(self, transform: A.BasicTransform) -> Op:
        bound = self.bind(transform)
        return lambda image: bound(image=image)["image"]

    def _build(self, name: str, m: int) -> Op:
        builder = getattr(self, f"_build_{name}", None)
        if builder is None or m not in range(MAGNITUDES):
            raise ValueError(f"LPV augmentation: unknown op {name!r} or magnitude {m}")
        return builder(m)

    # --- process ---------------------------------------------------------------------------------------
    def _build_posterize(self, m: int) -> Op:
        return self._albu(A.Posterize(num_bits=((1, 2), (3, 4), (6, 7))[m], p=1))

    def _build_solarize(self, m: int) -> Op:
        low, high = ((64, 128), (128, 192), (192, 255))[m]
        return self._albu(A.Solarize(threshold_range=(low / 255, high / 255), p=1))

    def _build_invert(self, m: int) -> Op:
        return self._albu(A.InvertImg(p=1))

    def _build_equalize(self, m: int) -> Op:
        return self._albu(A.Equalize(mode="pil", by_channels=True, p=1))

    def _build_autocontrast(self, m: int) -> Op:
        return self._albu(A.AutoContrast(method="pil", p=1))

    def _build_sharpness(self, m: int) -> Op:
        low, high = _ENHANCE_RANGES[m]
        return lambda image: ops.sharpness(image, self.uniform(low, high))

    def _build_color(self, m: int) -> Op:
        return self._albu(_jitter(saturation=_ENHANCE_RANGES[m]))

    # --- camera ----------------------------------------------------------------------------------------
    def _build_contrast(self, m: int) -> Op:
        factor = (0.4, 0.3, 0.2)[m]
        return self._albu(_jitter(contrast=(factor, factor)))

    def _build_brightness(self, m: int) -> Op:
        shift = (0.1, 0.2, 0.3)[m] * 255  # added to V of HSV
        return self._albu(
            A.HueSaturationValue(
                hue_shift_limit=(0, 0), sat_shift_limit=(0, 0), val_shift_limit=(shift, shift), p=1
            )
        )

    def _build_jpeg(self, m: int) -> Op:
        quality = (25, 18, 15)[m]
        return self._albu(A.ImageCompression(compression_type="jpeg", quality_range=(quality, quality), p=1))

    def _build_pixelate(self, m: int) -> Op:
        scale = (0.6, 0.5, 0.4)[m]
        pair = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST}
        return self._albu(A.Downscale(scale_range=(scale, scale), interpolation_pair=pair, p=1))

    # --- noise -----------------------------------------------------------------------------------------
    def _build_gaussian_noise(self, m: int) -> Op:
        low = (0.08, 0.10, 0.12)[m]
        return self._albu(A.GaussNoise(std_range=(low, low + 0.03), per_channel=True, p=1))

    def _build_shot_noise(self, m: int) -> Op:
        photons = (13, 8, 3)[m]  # STRAug's Poisson rate range is [photons, photons + 7] per unit intensity
        return self._albu(A.ShotNoise(scale_range=(1 / (photons + 7), 1 / photons), p=1))

    def _build_impulse_noise(self, m: int) -> Op:
        low = (0.03, 0.07, 0.11)[m]
        return self._albu(A.SaltAndPepper(amount=(low, low + 0.04), p=1))

    def _build_speckle_noise(self, m: int) -> Op:
        # STRAug: x * (1 + N(0, s)), s ~ U(low, low + 0.05); here a uniform multiplier of the same spread.
        half_width = math.sqrt(3) * ((0.15, 0.20, 0.25)[m] + 0.025)
        return self._albu(
            A.MultiplicativeNoise(
                multiplier=(1 - half_width, 1 + half_width), per_channel=True, elementwise=True, p=1
            )
        )

    # --- blur ------------------------------------------------------------------------------------------
    def _build_gaussian_blur(self, m: int) -> Op:
        sigma = (0.5, 1.0, 2.0)[m]
        return self._albu(A.GaussianBlur(blur_limit=0, sigma_limit=(sigma, sigma), p=1))

    def _build_defocus_blur(self, m: int) -> Op:
        radius = (2, 3, 4)[m]
        return self._albu(A.Defocus(radius=(radius, radius), alias_blur=(0.1, 0.1), p=1))

    def _build_motion_blur(self, m: int) -> Op:
        # ImageMagick radius 10/12/14, sigma 3/4/5: a line kernel of 7/9/11 px has about the same spread.
        # The kernel is symmetric, so angles 135..225 are STRAug's -45..45 (albumentations wants 0..360).
        size = (7, 9, 11)[m]
        return self._albu(
            A.MotionBlur(
                blur_limit=(size, size),
                angle_range=(135, 225),
                direction_range=(0, 0),
                allow_shifted=False,
                p=1,
            )
        )

    def _build_glass_blur(self, m: int) -> Op:
        sigma = (0.7, 0.75, 0.8)[m]
        return self._albu(A.GlassBlur(sigma=sigma, max_delta=1, iterations=2, p=1))

    def _build_zoom_blur(self, m: int) -> Op:
        top, step = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02))[m]  # zoom factors 1.00 ... 1.10 / 1.15 / 1.20
        return self._albu(A.ZoomBlur(max_factor=(top, top), step_factor=(step, step), p=1))

    # --- weather ---------------------------------------------------------------------------------------
    def _build_fog(self, m: int) -> Op:
        # STRAug: x' = (x + c * plasma) * M / (M + c), M = max(x) ~ 1: scale by 1/(1+c), then add the plasma.
        strength = (1.5, 2.0, 2.5)[m]
        keep = 1 / (1 + strength)
        dim = self.bind(_jitter(brightness=(keep, keep)))
        haze = self.bind(
            A.PlasmaBrightnessContrast(
                brightness_range=(strength * keep, strength * keep),
                contrast_range=(0, 0),
                plasma_size=64,
                roughness=0.5,  # smooth at text-crop sizes; rougher settings turn into grain
                p=1,
            )
        )
        return lambda image: haze(image=dim(image=image)["image"])["image"]

    def _build_snow(self, m: int) -> Op:
        mean, std, threshold, length, sigma, blend = (
            (0.1, 0.3, 0.5, 10, 4, 0.8),
            (0.2, 0.3, 0.5, 12, 4, 0.7),
            (0.55, 0.3, 0.9, 12, 8, 0.7),
        )[m]
        return lambda image: ops.snow(
            image, self.rng, mean, std, threshold, length, sigma, self.uniform(-135, -45), blend
        )

    def _build_frost(self, m: int) -> Op:
        # STRAug's weights are (1, .4) / (.8, .6) / (.7, .7) but applied twice; the squares are what LPV
        # trained with, and the intended weights (summing to 1.4) wash the image out.
        image_weight, frost_weight = ((1.0, 0.16), (0.64, 0.36), (0.49, 0.49))[m]
        return lambda image: ops.frost(image, self.rng, image_weight, frost_weight)

    def _build_rain(self, m: int) -> Op:
        # albumentations' "slant" is the streak's horizontal run in pixels: +-60 degrees is +-tan(60) * len.
        length = (5, 7, 9)[m]
        run = math.tan(math.radians(60)) * length
        return self._albu(
            A.RandomRain(
                slant_range=(-run, run),
                drop_length=length,
                drop_width=1,
                drop_color=(200, 200, 200),
                blur_value=1,
                brightness_coefficient=1.0,
                rain_type=("heavy", "torrential", "torrential")[m],
                p=1,
            )
        )

    def _build_shadow(self, m: int) -> Op:
        low = (64, 96, 128)[m]  # opacity low ... low + 31 out of 255
        return lambda image: ops.band_shadow(image, self.rng, float(self.rng.integers(low, low + 32)) / 255)

    # --- pattern ---------------------------------------------------------------------------------------
    def _build_grid(self, m: int) -> Op:
        return lambda image: ops.line_grid(image, 3 - m, vertical=True, horizontal=True)

    def _build_vgrid(self, m: int) -> Op:
        return lambda image: ops.line_grid(image, 3 - m, vertical=True, horizontal=False)

    def _build_hgrid(self, m: int) -> Op:
        return lambda image: ops.line_grid(image, 3 - m, vertical=False, horizontal=True)

    def _build_rect_grid(self, m: int) -> Op:
        return lambda image: ops.concentric_grid(image, 3 - m, ellipse=False)

    def _build_ellipse_grid(self, m: int) -> Op:
        return lambda image: ops.concentric_grid(image, 3 - m, ellipse=True)

    # --- warp ------------------------------------------------------------------------------------------
    def _build_curve(self, m: int) -> Op:
        low = (1.1, 0.95, 0.8)[m]
        return lambda image: ops.curve(
            image, self.uniform(low, low + 0.1), self.uniform(0.4, 0.5), flip=bool(self.rng.random() < 0.5)
        )

    def _build_distort(self, m: int) -> Op:
        # STRAug jitters 8 edge points by up to frac * 0.33 W and frac * 0.5 H. A thin-plate spline
        # through the 4 corners and the centre, moved by N(0, frac / 4), has the same mean displacement;
        # denser control grids fold the glyphs at this size.
        scale = _WARP_FRACTIONS[m] * 2.5  # albumentations divides scale_range by 10 to get the std
        return self._albu(
            A.ThinPlateSpline(
                scale_range=(scale, scale), num_control_points=2, border_mode=cv2.BORDER_REPLICATE, p=1
            )
        )

    def _build_stretch(self, m: int) -> Op:
        frac = _WARP_FRACTIONS[m]

        def stretch(image: np.ndarray) -> np.ndarray:
            third = image.shape[1] / 3
            knots = third * np.array(
                [
                    self.uniform(0, frac),
                    1 + self.uniform(-frac, frac),
                    2 + self.uniform(-frac, frac),
                    3 - self.uniform(0, frac),
                ]
            )
            return ops.horizontal_stretch(image, knots)

        return stretch

    # --- geometry --------------------------------------------------------------------------------------
    def _build_rotate(self, m: int) -> Op:
        top = (10, 20, 30)[m]
        turns = [
            self.bind(
                A.Affine(
                    rotate=angles,
                    fit_output=True,
                    interpolation=cv2.INTER_CUBIC,
                    border_mode=cv2.BORDER_REPLICATE,
                    p=1,
                )
            )
            for angles in ((top - 10, top), (-top, 10 - top))
        ]
        return lambda image: ops.in_square(image, lambda x: turns[self.rng.integers(2)](image=x)["image"])

    def _build_perspective(self, m: int) -> Op:
        low = (0.1, 0.2, 0.3)[m]
        high = 1 - low
        return lambda image: ops.side_perspective(
            image,
            self.uniform(low, low + 0.1),
            self.uniform(high - 0.1, high),
            right=bool(self.rng.random() < 0.5),
        )

    def _build_shrink(self, m: int) -> Op:
        # Shrink by U(frac-0.1, frac) * 0.33 W per side in x and * 0.5 H per side in y, then shift along one
        # axis by no more than the smallest margin, so the text stays inside the image.
        frac = _WARP_FRACTIONS[m]
        scale = {"x": (1 - 0.66 * frac, 1 - 0.66 * (frac - 0.1)), "y": (1 - frac, 1.1 - frac)}
        shift_x, shift_y = 0.33 * (frac - 0.1), 0.5 * (frac - 0.1)
        shrinks = [
            self.bind(
                A.Affine(
                    scale=scale,
                    translate_percent={"x": (-dx, dx), "y": (-dy, dy)},
                    border_mode=cv2.BORDER_REPLICATE,
                    p=1,
                )
            )
            for dx, dy in ((shift_x, 0.0), (0.0, shift_y))
        ]
        return lambda image: shrinks[self.rng.integers(2)](image=image)["image"]


def _jitter(
    brightness: tuple[float, float] = (1, 1),
    contrast: tuple[float, float] = (1, 1),
    saturation: tuple[float, float] = (1, 1),
) -> A.ColorJitter:
    """A ColorJitter (torchvision semantics: factors multiply or blend) that leaves the hue alone."""
    return A.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=(0, 0), p=1)
