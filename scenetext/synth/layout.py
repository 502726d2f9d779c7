"""Text layout into masks: horizontal (optionally letter-spaced) and vertical (upright characters stacked).

Each layout returns two uint8 layers on a canvas with a margin for later warps: the glyph coverage and a
*guide* box covering the cap-height (Latin) or em (CJK) zone. The guide is warped with the glyphs and sets
the crop, so a lowercase word keeps room for capitals (case stays visible) and a thin hanzi such as 一 is
not stretched to fill the whole crop.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.synth.corpus import is_hanzi

# Ligatures can merge letters into one glyph that reads differently ("ae" drawn as "æ"), so they are off;
# kerning and contextual alternates stay on. Without libraqm Pillow's basic layout has no ligatures anyway.
NO_LIGATURES = ["-liga", "-dlig", "-hlig", "-clig"]


def _features(font: ImageFont.FreeTypeFont) -> list[str] | None:
    return NO_LIGATURES if font.layout_engine == ImageFont.Layout.RAQM else None


@lru_cache(maxsize=4096)
def zone(font: ImageFont.FreeTypeFont, cjk: bool) -> tuple[int, int]:
    """(top, bottom) of the reference zone relative to the baseline: "H" for Latin, "国" for CJK."""
    _, top, _, bottom = font.getbbox("国" if cjk else "H", anchor="ls")
    return int(top), int(max(bottom, 0))


def _mask(font: ImageFont.FreeTypeFont, text: str) -> tuple[np.ndarray, int, int]:
    """Rendered coverage of ``text`` and its top-left offset from the baseline origin (one layout pass)."""
    core, (dx, dy) = font.getmask2(text, mode="L", anchor="ls", features=_features(font))
    width, height = core.size
    return np.frombuffer(bytes(core), np.uint8).reshape(height, width), int(dx), int(dy)


def horizontal(
    font: ImageFont.FreeTypeFont, text: str, spacing: float, cjk: bool, margin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Glyphs on one baseline; ``spacing`` adds that fraction of the font size after each character."""
    extra = spacing * font.size
    if abs(extra) < 0.5:
        pieces = [(0, _mask(font, text))]
    else:
        pieces, x = [], 0.0
        for ch in text:
            pieces.append((int(round(x)), _mask(font, ch)))
            x += font.getlength(ch, features=_features(font)) + extra
    zone_top, zone_bottom = zone(font, cjk)
    left = min([0] + [x + dx for x, (_, dx, _) in pieces])
    right = max([1] + [x + dx + m.shape[1] for x, (m, dx, _) in pieces])
    top = min([zone_top] + [dy for _, (_, _, dy) in pieces])
    bottom = max([zone_bottom] + [dy + m.shape[0] for _, (m, _, dy) in pieces])
    ox, oy = margin - left, margin - top  # canvas position of the baseline origin
    ink = np.zeros((bottom - top + 2 * margin, right - left + 2 * margin), np.uint8)
    for x, (mask, dx, dy) in pieces:
        h, w = mask.shape
        if h and w:
            region = ink[oy + dy : oy + dy + h, ox + x + dx : ox + x + dx + w]
            np.maximum(region, mask, out=region)
    guide = np.zeros_like(ink)
    cols = np.flatnonzero(ink.max(axis=0))
    x0, x1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (ox, ox + 1)
    guide[oy + zone_top : oy + zone_bottom, x0:x1] = 255
    return ink, guide


def vertical(
    font: ImageFont.FreeTypeFont, text: str, spacing: float, cjk: bool, margin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Upright characters stacked top to bottom, each centred in its column (CJK and Latin signage)."""
    size = font.size
    zone_top, zone_bottom = zone(font, cjk)
    cells = []
    for ch in text:
        if ch.isspace():
            cells.append(None)
            continue
        cells.append((ch, *font.getbbox(ch, anchor="ls")))
    widths = [c[3] - c[1] for c in cells if c is not None]
    column = max(max(widths, default=size), zone_bottom - zone_top)
    gap = max(1, int(size * (0.08 + spacing)))
    heights = []
    for cell in cells:
        if cell is None:
            heights.append(size // 2)
        elif cjk or is_hanzi(cell[0]):
            heights.append(max(zone_bottom - zone_top, cell[4] - cell[2]))
        else:
            heights.append(cell[4] - cell[2])
    total = sum(heights) + gap * (len(cells) - 1)
    width, height = column + 2 * margin, total + 2 * margin
    glyphs = Image.new("L", (width, height))
    draw = ImageDraw.Draw(glyphs)
    y = margin
    for cell, h in zip(cells, heights, strict=True):
        if cell is not None:
            ch, left, top, right, bottom = cell
            x = margin + (column - (right - left)) / 2 - left
            draw.text((x, y + (h - (bottom - top)) / 2 - top), ch, font=font, fill=255, anchor="ls")
        y += h + gap
    ink = np.asarray(glyphs)
    guide = np.zeros_like(ink)
    guide[margin : margin + total, margin : margin + column] = 255
    return ink, guide


def is_cjk_text(text: str) -> bool:
    return any(is_hanzi(ch) for ch in text)
