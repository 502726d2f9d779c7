"""Attention strips: where the model looked for each character it read.

One panel per predicted character, each the model-input view of the image with that character's attention
map (NASTR decoder cross-attention, LPV's position attention, AR cross-attention) as a heat overlay, and the
character with its probability written above it. The first panel is the plain input with the whole text.
Panels wrap into rows so long words stay viewable.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.errors import ScenetextError

_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
_CJK_HINTS = (
    "cjk",
    "wenkai",
    "uming",
    "ukai",
    "wqy",
    "droidsansfallback",
    "simhei",
    "simsun",
    "msyh",
    "pingfang",
    "hiragino",
    "gbsn",
    "gkai",
    "smiley",
)
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_GAP = 4


def _draws(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, ch: str) -> bool:
    """True when the font has a real glyph for ``ch`` (not empty, not the .notdef box)."""
    mask = font.getmask(ch)
    if mask.getbbox() is None:
        return False
    notdef = font.getmask(chr(0x10FFFD))
    return not (mask.size == notdef.size and bytes(mask) == bytes(notdef))


@lru_cache(maxsize=1)
def _cjk_font_files() -> tuple[str, ...]:
    """System fonts likely to cover Chinese, found by file name (cheap; no font parsing)."""
    found = []
    for root in _FONT_DIRS:
        for path in glob.glob(os.path.join(os.path.expanduser(root), "**", "*"), recursive=True):
            name = os.path.basename(path).lower()
            if name.endswith((".ttf", ".otf", ".ttc")) and any(hint in name for hint in _CJK_HINTS):
                found.append(path)
    return tuple(sorted(found))


@lru_cache(maxsize=4096)
def _font_for(ch: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont | None:
    """Pillow's built-in font when it draws ``ch``, else the first CJK system font that does."""
    default = ImageFont.load_default(size=size)
    if ch.isspace() or _draws(default, ch):
        return default
    for path in _cjk_font_files():
        try:
            font = ImageFont.truetype(path, size)
        except OSError:
            continue
        if _draws(font, ch):
            return font
    return None


def _label(text: str, width: int, height: int, size: int) -> Image.Image:
    """``text`` on a white band of the panel's width (clipped), each character in a font that has it."""
    band = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(band)
    x = 2
    for ch in text:
        font = _font_for(ch, size)
        shown = ch
        if font is None:
            font, shown = ImageFont.load_default(size=size), f"U+{ord(ch):04X}"
        draw.text((x, 1), shown, fill=_INK, font=font)
        x += int(draw.textlength(shown, font=font))
        if x >= width:
            break
    return band


def heat_overlay(view: np.ndarray, attention_map: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend one h x w attention map, stretched to the view's size and min-max scaled, onto the view."""
    height, width = view.shape[:2]
    heat = cv2.resize(attention_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    low, high = float(heat.min()), float(heat.max())
    scaled = (heat - low) / (high - low) if high > low else np.zeros_like(heat)
    colour = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    return (view.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)


def strip_layout(input_width: int, max_width: int, scale: float = 2.0) -> tuple[float, int]:
    """``(scale, columns)`` for strips of an ``input_width``-pixel model input to stay within ``max_width``.

    Panels keep ``scale`` when one fits (smaller otherwise), and as many go in a row as fit.
    """
    scale = min(scale, (max_width - 2 * _GAP) / input_width)
    columns = (max_width - _GAP) // (round(input_width * scale) + _GAP)
    return scale, max(1, int(columns))


def attention_strip(
    view: np.ndarray,
    text: str,
    attention: np.ndarray,
    char_confidences: Sequence[float] | None = None,
    scale: float = 2.0,
    columns: int = 6,
) -> Image.Image:
    """Render the strip for one image.

    ``view`` is the model-input image (uint8 H x W x 3, as the preprocessor resized it), ``attention`` one
    h x w map per character of ``text`` (L x h x w), ``char_confidences`` the probability of each character.
    """
    if view.ndim != 3 or view.shape[2] != 3 or view.dtype != np.uint8:
        raise ScenetextError(
            f"attention strip: expected a uint8 H x W x 3 view, got {view.dtype} {view.shape}"
        )
    if attention.ndim != 3 or attention.shape[0] != len(text):
        raise ScenetextError(
            f"attention strip: expected {len(text)} maps (one per character), got shape {attention.shape}"
        )
    height, width = round(view.shape[0] * scale), round(view.shape[1] * scale)
    base = cv2.resize(view, (width, height), interpolation=cv2.INTER_LINEAR)
    label_size = max(12, height // 3)
    label_height = label_size + 6
    panels: list[tuple[str, np.ndarray]] = [(text if text else "(nothing read)", base)]
    for i, ch in enumerate(text):
        shown = "\u2423" if ch == " " else ch  # an open box, so a predicted space is visible
        label = shown if char_confidences is None else f"{shown}  {char_confidences[i]:.2f}"
        panels.append((label, heat_overlay(base, attention[i])))
    per_row = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // per_row)
    cell_w, cell_h = width + _GAP, label_height + height + _GAP
    strip = Image.new("RGB", (per_row * cell_w + _GAP, rows * cell_h + _GAP), _BACKGROUND)
    for index, (label, pixels) in enumerate(panels):
        x = _GAP + (index % per_row) * cell_w
        y = _GAP + (index // per_row) * cell_h
        strip.paste(_label(label, width, label_height, label_size), (x, y))
        strip.paste(Image.fromarray(pixels), (x, y + label_height))
    return strip
