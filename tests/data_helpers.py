"""Fixture builders for the data tests: small images made with Pillow and LMDBs written record by record."""

from __future__ import annotations

import io
from pathlib import Path

import lmdb
from PIL import Image, ImageDraw

from scenetext.data.lmdb_store import LmdbWriter


def png_bytes(
    text: str = "ab", size: tuple[int, int] = (48, 16), colour: tuple[int, int, int] = (250, 250, 250)
):
    """A small PNG with ``text`` drawn on it."""
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).text((2, 2), text, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_lmdb(path: Path, labels: list[str], images: list[bytes] | None = None) -> Path:
    """An LMDB with one rendered image per label (or the given image bytes)."""
    images = images if images is not None else [png_bytes(label[:4]) for label in labels]
    with LmdbWriter(path) as writer:
        for image, label in zip(images, labels, strict=True):
            writer.add(image, label)
    return path


def write_raw_lmdb(path: Path, entries: dict[bytes, bytes]) -> Path:
    """An LMDB holding exactly ``entries``: for layouts the writer refuses to make (truncated, no count)."""
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in entries.items():
            txn.put(key, value)
    env.close()
    return path
