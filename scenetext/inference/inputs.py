"""Turning command-line arguments (files, directories, glob patterns) into the list of image files to read."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)


def _images_under(directory: Path) -> list[Path]:
    """Image files below ``directory`` (recursive, by extension, case-insensitive), in sorted order."""
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def expand_inputs(specs: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files to read and one-line problems for arguments that matched nothing.

    A file named explicitly is read whatever its extension (the user asked for it); a directory contributes
    its image files recursively; a glob pattern (``*``, ``?``, ``[``, ``**`` recursive) contributes every
    matching file and the image files of matching directories. Duplicates are read once, first order kept.
    """
    files: dict[Path, None] = {}
    problems: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = _images_under(path)
            if not found:
                problems.append(f"{spec}: no image files in this directory")
            files.update(dict.fromkeys(found))
        elif path.is_file():
            files[path] = None
        elif glob.has_magic(spec):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            found = []
            for match in matches:
                found += _images_under(match) if match.is_dir() else [match] if match.is_file() else []
            if not found:
                problems.append(f"{spec}: no file matches this pattern")
            files.update(dict.fromkeys(found))
        else:
            problems.append(f"{spec}: no such file or directory")
    return list(files), problems
