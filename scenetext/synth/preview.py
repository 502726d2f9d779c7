"""Contact sheets of rendered samples with their labels, to check by eye what the engine produces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenetext.synth.fonts import FontLibrary


def _label_font(library: FontLibrary, labels: Sequence[str], size: int) -> ImageFont.FreeTypeFont:
    """A plain face that covers every label (a CJK hei face for Chinese), else Pillow's own font."""
    text = "".join(labels)
    preferred = sorted(library.faces, key=lambda f: (f.kind not in ("sans", "hei"), f.path, f.index))
    for face in preferred:
        if library.covers(face, text):
            return library.font(face, size)
    return ImageFont.load_default(size=size)


def contact_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    library: FontLibrary,
    columns: int = 4,
    cell_height: int = 64,
    cell_width: int = 256,
    title: str | None = None,
) -> Image.Image:
    """Grid of images (scaled to fit a cell, aspect kept) each with its label underneath."""
    caption = 18
    header = 28 if title else 0
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new(
        "RGB", (columns * (cell_width + 8) + 8, header + rows * (cell_height + caption + 10) + 4), "white"
    )
    draw = ImageDraw.Draw(sheet)
    font = _label_font(library, list(labels), 14)
    if title:
        draw.text((8, 6), title, fill="black", font=_label_font(library, [title], 18))
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        r, c = divmod(i, columns)
        h, w = image.shape[:2]
        scale = min(cell_height / h, cell_width / w)
        tile = Image.fromarray(image).resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BICUBIC)
        x = 8 + c * (cell_width + 8)
        y = header + 4 + r * (cell_height + caption + 10)
        sheet.paste(tile, (x, y))
        draw.text((x, y + cell_height + 2), label, fill=(0, 0, 160), font=font)
    return sheet
