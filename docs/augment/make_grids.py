"""Regenerate the augmentation grids in this folder: ``python docs/augment/make_grids.py``.

The inputs are words rendered with PIL and a DejaVu font, so the grids can be committed; NASTR augments them
at their own size, LPV after stretching to LPV-Tiny's 100 x 32, as the papers do.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.data.augment import build_augmentation, render_augmentation_grid

HERE = Path(__file__).resolve().parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
WORDS = (
    ("Coffee", (25, 25, 70), (232, 222, 192)),
    ("STREET", (245, 245, 245), (40, 95, 45)),
    ("open24h", (200, 30, 30), (250, 250, 250)),
    ("Ministry", (240, 200, 60), (30, 30, 30)),
)


def word_image(
    text: str, ink: tuple[int, int, int], paper: tuple[int, int, int], height: int = 64
) -> np.ndarray:
    font = ImageFont.truetype(FONT, height - 16)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (right - left + 16, height), paper)
    ImageDraw.Draw(image).text((8 - left, (height - (bottom - top)) // 2 - top), text, font=font, fill=ink)
    return np.asarray(image)


def stretch_to_lpv_tiny(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (100, 32), interpolation=cv2.INTER_CUBIC)


def main() -> None:
    images = [word_image(*spec) for spec in WORDS]
    render_augmentation_grid(images, build_augmentation("nastr", seed=0), HERE / "nastr.png", samples=7)
    lpv = build_augmentation("lpv", seed=0, resize=stretch_to_lpv_tiny)
    render_augmentation_grid(images, lpv, HERE / "lpv.png", samples=7)


if __name__ == "__main__":
    main()
