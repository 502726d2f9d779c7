"""Turning command-line arguments (files, directories, glob patterns) into the list of image files to read.

Directories are walked here rather than with ``glob``/``rglob``: a link back to a parent folder would make
``**`` list the same tree again at every level (tens of thousands of results for a few thousand files), and
``rglob`` passes over dangling links and unreadable folders without a word. Each real folder is listed at most
once per walk (links to folders are followed, but never into a folder already listed), and every dangling link
or unreadable folder is reported exactly once.
"""

from __future__ import annotations

import fnmatch
import glob
import os
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


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


class _Walker:
    """Lists folders for one expansion, remembering the problems met (each reported once)."""

    def __init__(self) -> None:
        self.problems: dict[tuple[str, str], None] = {}

    def report(self, where: str | Path, reason: str) -> None:
        self.problems[(str(where), reason)] = None

    def entries(self, directory: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as scan:
                return sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            self.report(directory, f"cannot list this folder ({exc.strerror or type(exc).__name__})")
            return []

    @staticmethod
    def identity(path: Path | os.DirEntry[str]) -> tuple[int, int] | None:
        """(device, inode) of the folder a path leads to, following links; None when it cannot be read."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def is_dir(self, entry: os.DirEntry[str]) -> bool:
        try:
            return entry.is_dir()
        except OSError:
            return False

    def is_file(self, entry: os.DirEntry[str], path: Path) -> bool:
        """A regular file (or a link to one); a dangling link to an image name is reported."""
        try:
            if entry.is_file():
                return True
            if entry.is_symlink() and not os.path.exists(path) and _is_image_name(entry.name):
                self.report(path, "broken link (its target does not exist)")
        except OSError as exc:
            self.report(path, f"cannot read ({exc.strerror or type(exc).__name__})")
        return False

    def images_under(self, directory: Path, seen: set[tuple[int, int] | None] | None = None) -> list[Path]:
        """Image files below ``directory`` (recursive, by extension, case-insensitive), in sorted order.

        Folders in ``seen`` (and those reached twice) are not listed again; walks sharing ``seen`` list each
        folder once between them.
        """
        found: list[Path] = []
        seen = set() if seen is None else seen
        key = self.identity(directory)
        if key in seen:
            return found
        seen.add(key)
        stack = [directory]
        while stack:
            current = stack.pop()
            for entry in self.entries(current):
                path = current / entry.name
                if self.is_dir(entry):
                    key = self.identity(path)
                    if key is not None and key not in seen:
                        seen.add(key)
                        stack.append(path)
                elif _is_image_name(entry.name) and self.is_file(entry, path):
                    found.append(path)
        return sorted(found)

    def glob(self, pattern: str) -> list[Path]:
        """Paths matching ``pattern`` (``*``, ``?``, ``[...]``, ``**`` for any depth) as glob lists them,
        except that ``**`` enters each real folder once (no loops through links)."""
        parts = Path(pattern).parts
        first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        base = Path(*parts[:first]) if first else Path(os.curdir)
        matches: dict[Path, None] = {}
        self._match(base, parts[first:], matches, set())
        return sorted(matches)

    def _match(self, directory: Path, rest: tuple[str, ...], out: dict[Path, None], seen: set[tuple]) -> None:
        head, tail = rest[0], rest[1:]
        if head == "**":
            key = (self.identity(directory), len(rest))
            if key in seen:
                return
            seen.add(key)
            if tail:
                self._match(directory, tail, out, seen)
            elif directory != Path(os.curdir):
                out[directory] = None
            for entry in self.entries(directory):
                if entry.name.startswith("."):
                    continue
                path = directory / entry.name
                if self.is_dir(entry):
                    self._match(path, rest, out, seen)
                elif not tail and self.is_file(entry, path):
                    out[path] = None
            return
        if not glob.has_magic(head):
            path = directory / head
            if tail:
                if path.is_dir():
                    self._match(path, tail, out, seen)
            elif os.path.lexists(path):
                out[path] = None
            return
        for entry in self.entries(directory):
            if entry.name.startswith(".") and not head.startswith("."):
                continue
            if not fnmatch.fnmatchcase(entry.name, head):
                continue
            path = directory / entry.name
            if tail:
                if self.is_dir(entry):
                    self._match(path, tail, out, seen)
            elif self.is_dir(entry) or self.is_file(entry, path):
                out[path] = None


def expand_inputs(specs: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to read, and ``(where, reason)`` for each problem (arguments that matched nothing, dangling
    links, folders that cannot be listed; each once).

    A file named explicitly is read whatever its extension (the user asked for it); a directory contributes
    its image files recursively; a glob pattern (``*``, ``?``, ``[``, ``**`` recursive) contributes every
    matching file and the image files of matching directories. Duplicates are read once, first order kept.
    """
    files: dict[Path, None] = {}
    walker = _Walker()
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = walker.images_under(path)
            if not found:
                walker.report(spec, "no image files in this directory")
            files.update(dict.fromkeys(found))
        elif path.is_file():
            files[path] = None
        elif glob.has_magic(spec):
            found = []
            walked: set[tuple[int, int] | None] = set()
            for match in walker.glob(spec):
                if match.is_dir():
                    found += walker.images_under(match, walked)
                elif match.is_file():
                    found.append(match)
                elif match.is_symlink():
                    walker.report(match, "broken link (its target does not exist)")
            if not found:
                walker.report(spec, "no file matches this pattern")
            files.update(dict.fromkeys(found))
        elif path.is_symlink():
            walker.report(spec, "broken link (its target does not exist)")
        else:
            walker.report(spec, "no such file or directory")
    return list(files), list(walker.problems)
