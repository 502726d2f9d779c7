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


def horizontal(
    font: ImageFont.FreeTypeFont, text: str, spacing: float, cjk: bool, margin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Glyphs on one baseline; ``spacing`` adds that fraction of the font size after each character."""
    size = font.size
    extra = spacing * size
    if abs(extra) < 0.5:
        pieces = [(0.0, text)]
        advance = 0.0
    else:
        pieces, x = [], 0.0
        for ch in text:
            pieces.append((x, ch))
            x += font.getlength(ch, features=_features(font)) + extra
        advance = x - extra
    left, top, right, bottom = font.getbbox(text, anchor="ls", features=_features(font))
    zone_top, zone_bottom = zone(font, cjk)
    top, bottom = min(top, zone_top), max(bottom, zone_bottom)
    left, right = min(left, 0), max(right, int(advance) + 1)
    width = right - left + 2 * margin
    height = bottom - top + 2 * margin
    origin = (margin - left, margin - top)
    glyphs = Image.new("L", (width, height))
    draw = ImageDraw.Draw(glyphs)
    for x, piece in pieces:
        draw.text(
            (origin[0] + x, origin[1]), piece, font=font, fill=255, anchor="ls", features=_features(font)
        )
    ink = np.asarray(glyphs)
    guide = np.zeros_like(ink)
    cols = np.flatnonzero(ink.max(axis=0))
    x0, x1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (origin[0], origin[0] + int(advance))
    guide[origin[1] + zone_top : origin[1] + zone_bottom, x0:x1] = 255
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
