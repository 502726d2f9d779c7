"""Turning command-line arguments (files, directories, glob patterns) into the list of image files to read."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
# A word or line crop is small or elongated; a whole photo is neither (640x480, 1920x1080, 4032x3024).
PHOTO_MIN_SIDE = 400
PHOTO_MAX_ASPECT = 2.0


def looks_like_a_photo(width: int, height: int) -> bool:
    """Whether an image of this size is plainly not a word or line crop: large on both sides, not elongated.

    The models read one cropped word or line; a whole scene squeezed into their 32-pixel-high input reads as
    noise, so the caller warns (and still reads it).
    """
    short, long = sorted((width, height))
    return short >= PHOTO_MIN_SIDE and long < PHOTO_MAX_ASPECT * short


def _images_under(directory: Path) -> list[Path]:
    """Image files below ``directory`` (recursive, by extension, case-insensitive), in sorted order."""
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def expand_inputs(specs: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to read, and ``(argument, reason)`` for each argument that matched nothing.

    A file named explicitly is read whatever its extension (the user asked for it); a directory contributes
    its image files recursively; a glob pattern (``*``, ``?``, ``[``, ``**`` recursive) contributes every
    matching file and the image files of matching directories. Duplicates are read once, first order kept.
    """
    files: dict[Path, None] = {}
    problems: list[tuple[str, str]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = _images_under(path)
            if not found:
                problems.append((spec, "no image files in this directory"))
            files.update(dict.fromkeys(found))
        elif path.is_file():
            files[path] = None
        elif glob.has_magic(spec):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            found = []
            for match in matches:
                found += _images_under(match) if match.is_dir() else [match] if match.is_file() else []
            if not found:
                problems.append((spec, "no file matches this pattern"))
            files.update(dict.fromkeys(found))
        else:
            problems.append((spec, "no such file or directory"))
    return list(files), problems
