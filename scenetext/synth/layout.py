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
NEIGHBOUR_CHARS = 4  # letters of a neighbouring word that are drawn; a crop shows at most one or two


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


def neighbours(
    font: ImageFont.FreeTypeFont,
    ink: np.ndarray,
    guide: np.ndarray,
    cjk: bool,
    left: str,
    right: str,
    gap: float,
    keep: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words on the same baseline ``gap`` pixels before and after a :func:`horizontal` line, on a third
    layer (the crop is set by the main line alone, so only the neighbours' nearest letters show, cut by the
    crop edge as in detector crops of running text). Only their NEIGHBOUR_CHARS letters and ``keep`` pixels
    nearest the line are drawn: the rest could never be inside the crop. Returns the three layers on a
    canvas grown to fit."""
    rows, cols = np.flatnonzero(guide.any(axis=1)), np.flatnonzero(guide.any(axis=0))
    baseline = int(rows[0]) - zone(font, cjk)[0]
    placed = []  # (x, y, mask) in canvas coordinates of the current line
    for word, before in ((left[-NEIGHBOUR_CHARS:], True), (right[:NEIGHBOUR_CHARS], False)):
        if not word:
            continue
        mask, _, dy = _mask(font, word)
        inked = np.flatnonzero(mask.any(axis=0))
        if inked.size == 0:
            continue
        if before:
            mask = mask[:, max(int(inked[-1]) + 1 - keep, 0) : int(inked[-1]) + 1]
            x = int(cols[0]) - int(round(gap)) - mask.shape[1]
        else:
            mask = mask[:, int(inked[0]) : int(inked[0]) + keep]
            x = int(cols[-1]) + 1 + int(round(gap))
        placed.append((x, baseline + dy, mask))
    h, w = ink.shape
    pad_left = max([0] + [-x for x, _, _ in placed])
    pad_right = max([0] + [x + m.shape[1] - w for x, _, m in placed])
    pad_top = max([0] + [-y for _, y, _ in placed])
    pad_bottom = max([0] + [y + m.shape[0] - h for _, y, m in placed])
    widths = ((pad_top, pad_bottom), (pad_left, pad_right))
    ink, guide = np.pad(ink, widths), np.pad(guide, widths)
    others = np.zeros_like(ink)
    for x, y, mask in placed:
        region = others[
            y + pad_top : y + pad_top + mask.shape[0], x + pad_left : x + pad_left + mask.shape[1]
        ]
        np.maximum(region, mask, out=region)
    return ink, guide, others


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
