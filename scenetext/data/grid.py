"""A PNG contact sheet of dataset samples with their labels, for checking what a dataset really holds.

Labels are drawn with a font that covers CJK when the system has one (fontconfig first, then common paths),
else DejaVu Sans, else Pillow's built-in font; a glyph the font lacks is drawn as the font's missing-glyph box
rather than failing. ``read_samples`` takes an optional ``transform`` (uint8 H x W x 3 -> same), the hook for
previewing augmentations.
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.data.lmdb_store import CorruptRecordError, LmdbReader, find_lmdbs
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import load_image

_CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
)
_LATIN_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")

_BACKGROUND = (255, 255, 255)
_TEXT = (0, 0, 0)
_PROBLEM = (200, 0, 0)
_FRAME = (200, 200, 200)


def _fontconfig_cjk_fonts() -> list[str]:
    """Regular-style font files that fontconfig says cover Chinese, sans before serif; [] without fc-list."""
    if shutil.which("fc-list") is None:
        return []
    try:
        result = subprocess.run(
            ["fc-list", ":lang=zh", "file", "style"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    files = []
    for line in result.stdout.splitlines():
        path, _, style = line.partition(":")
        if "Regular" in style or "Book" in style:
            files.append(path.strip())
    return sorted(set(files), key=lambda p: ("Sans" not in p, "Serif" in p, p))


def find_cjk_font() -> str | None:
    """A font file that covers CJK characters, or None."""
    for path in (*_CJK_FONT_PATHS, *_fontconfig_cjk_fonts()):
        if Path(path).is_file():
            return path
    return None


def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Open ``path``; in a font collection prefer the Simplified Chinese face (Noto CJK's "SC")."""
    font = ImageFont.truetype(path, size)
    if path.lower().endswith(".ttc"):
        for index in range(1, 16):
            try:
                face = ImageFont.truetype(path, size, index=index)
            except OSError:
                break
            if " SC" in face.getname()[0]:
                return face
    return font


@functools.lru_cache(maxsize=8)
def label_font(size: int = 18) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font for labels: CJK-capable if available, else DejaVu Sans, else Pillow's default."""
    for path in filter(None, (find_cjk_font(), *_LATIN_FONT_PATHS)):
        try:
            return _truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


@dataclass
class GridSample:
    """One cell of the grid: the image (None when unreadable), its label and where it came from."""

    image: Image.Image | None
    label: str
    source: str
    problem: str = ""


def read_samples(
    root: str | Path,
    count: int,
    seed: int = 0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[GridSample]:
    """``count`` random samples (without replacement) from every LMDB under ``root``, in LMDB order.

    Unreadable records become cells with a problem note instead of an error: finding them is the point.
    """
    if count < 1:
        raise ScenetextError(f"count {count}: must be at least 1")
    readers = [LmdbReader(path) for path in find_lmdbs(root)]
    if not readers:
        raise ScenetextError(f"{root}: no LMDB found (no data.mdb in it or below it)")
    where = [(reader, i) for reader in readers for i in range(len(reader))]
    if not where:
        raise ScenetextError(f"{root}: the LMDBs hold no samples")
    picked = sorted(random.Random(seed).sample(range(len(where)), min(count, len(where))))
    samples = []
    for k in picked:
        reader, index = where[k]
        source = f"{reader.path.name}[{index + 1}]"  # the 1-based number of its image-/label- keys
        try:
            data, label = reader.read(index)
        except CorruptRecordError as exc:
            samples.append(GridSample(None, "", source, str(exc).rpartition(": ")[2]))
            continue
        try:
            image = load_image(data, name=source)
        except ScenetextError as exc:
            samples.append(GridSample(None, label, source, str(exc).partition(": ")[2]))
            continue
        if transform is not None:
            image = Image.fromarray(transform(np.asarray(image)))
        samples.append(GridSample(image, label, source))
    return samples


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, cut with an ellipsis so that it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "\N{HORIZONTAL ELLIPSIS}", font=font) > width:
        text = text[:-1]
    return text + "\N{HORIZONTAL ELLIPSIS}"


def render_grid(
    samples: Sequence[GridSample],
    columns: int = 4,
    cell_width: int = 240,
    image_height: int = 64,
    font_size: int = 18,
) -> Image.Image:
    """Draw the samples in a grid: each image scaled to fit its cell, its label below, problems in red."""
    if not samples:
        raise ScenetextError("no samples to draw")
    columns = max(1, min(columns, len(samples)))
    rows = -(-len(samples) // columns)
    font = label_font(font_size)
    small = label_font(max(8, font_size * 2 // 3))
    pad = 6
    line = font_size + 6
    cell_height = image_height + line + (font_size * 2 // 3 + 4) + 2 * pad
    sheet = Image.new("RGB", (columns * cell_width, rows * cell_height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    inner = cell_width - 2 * pad
    for n, sample in enumerate(samples):
        x0, y0 = (n % columns) * cell_width + pad, (n // columns) * cell_height + pad
        if sample.image is not None:
            image = sample.image
            scale = min(inner / image.width, image_height / image.height)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            thumb = image.resize(size, Image.Resampling.BICUBIC)
            sheet.paste(thumb, (x0 + (inner - size[0]) // 2, y0 + (image_height - size[1]) // 2))
        else:
            draw.rectangle((x0, y0, x0 + inner, y0 + image_height - 1), outline=_PROBLEM)
            draw.text(
                (x0 + 4, y0 + 4), _fit_text(draw, sample.problem, small, inner - 8), font=small, fill=_PROBLEM
            )
        label = _printable(sample.label) if sample.label else "(no label)"
        colour = _TEXT if sample.label else _PROBLEM
        draw.text((x0, y0 + image_height + 3), _fit_text(draw, label, font, inner), font=font, fill=colour)
        draw.text((x0, y0 + image_height + line), sample.source, font=small, fill=(110, 110, 110))
        draw.rectangle(
            (x0 - pad, y0 - pad, x0 - pad + cell_width - 1, y0 - pad + cell_height - 1), outline=_FRAME
        )
    return sheet
