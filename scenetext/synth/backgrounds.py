"""Backgrounds at output size: procedural (flat, gradients, value noise, stripes), tiled textures and photo
crops from user directories or the standard system locations (GIMP patterns, desktop wallpapers)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scenetext.synth.sampling import weighted_index

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".pat")
SYSTEM_TEXTURE_DIRS = ("/usr/share/gimp/2.0/patterns",)
SYSTEM_PHOTO_DIRS = ("/usr/share/backgrounds",)
# scikit-image sample photos that contain text, or are synthetic patterns rather than photos.
SKIMAGE_EXCLUDE = ("text", "page", "checker", "logo", "horse", "binary", "microaneurysms", "lbp", "eagle")
MAX_SIDE = 640
TILE_MAX_SIDE = 300


def random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def read_gimp_pattern(path: str | Path) -> np.ndarray:
    """Decode a GIMP .pat file (big-endian header, name, raw pixels), which Pillow cannot read."""
    data = Path(path).read_bytes()
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or depth not in (1, 2, 3, 4):
        raise ValueError(f"{path}: not a GIMP pattern")
    pixels = np.frombuffer(data, np.uint8, width * height * depth, header_size).reshape(height, width, depth)
    if depth in (1, 2):
        return np.repeat(pixels[..., :1], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


@lru_cache(maxsize=256)
def load_picture(path: str, max_side: int) -> np.ndarray | None:
    """RGB uint8, shrunk so its longer side is at most ``max_side``; None if unreadable."""
    try:
        if path.endswith(".pat"):
            arr = read_gimp_pattern(path)
        else:
            with Image.open(path) as im:
                im.draft("RGB", (max_side, max_side))
                arr = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, struct.error, Image.DecompressionBombError):
        return None
    scale = max_side / max(arr.shape[:2])
    if scale < 1:
        arr = cv2.resize(arr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return arr if min(arr.shape[:2]) >= 8 else None


def _find_images(dirs: Sequence[str | Path]) -> list[str]:
    found: set[str] = set()
    for root in dirs:
        root = Path(root).expanduser()
        if root.is_dir():
            for path in root.rglob("*"):
                if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                    found.add(str(path.resolve()))
    return sorted(found)


def _skimage_photos() -> list[str]:
    try:
        import skimage
    except ImportError:
        return []
    data = Path(skimage.__file__).parent / "data"
    return [p for p in _find_images([data]) if not any(word in Path(p).stem for word in SKIMAGE_EXCLUDE)]


class BackgroundMaker:
    """Draws one background per call; the choice and content depend only on the given Generator."""

    def __init__(self, dirs: Sequence[str | Path] = (), system: bool = True) -> None:
        self.photos = _find_images(dirs)
        self.textures: list[str] = []
        if system:
            self.textures = _find_images(SYSTEM_TEXTURE_DIRS)
            self.photos = sorted(
                set(self.photos) | set(_find_images(SYSTEM_PHOTO_DIRS)) | set(_skimage_photos())
            )
        kinds = {"flat": 0.2, "gradient": 0.2, "noise": 0.25, "stripes": 0.05}
        if self.textures:
            kinds["texture"] = 0.15
        if self.photos:
            kinds["photo"] = 0.25
        self._kinds = list(kinds)
        self._cumulative = np.cumsum(list(kinds.values()))

    def make(self, rng: np.random.Generator, height: int, width: int, kind: str | None = None) -> np.ndarray:
        """uint8 H x W x 3. ``kind`` forces one of flat/gradient/noise/stripes/texture/photo."""
        if kind is None:
            kind = self._kinds[weighted_index(rng, self._cumulative)]
        if kind == "texture" and self.textures:
            image = self._picture(rng, self.textures, height, width, tile=True)
        elif kind == "photo" and self.photos:
            image = self._picture(rng, self.photos, height, width, tile=False)
        else:
            image = None
        if image is None:
            procedural = {"flat": self._flat, "gradient": self._gradient, "stripes": self._stripes}
            image = procedural.get(kind, self._noise)(rng, height, width)
        return image

    def _flat(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        image = np.empty((h, w, 3), np.uint8)
        image[:] = random_colour(rng).astype(np.uint8)
        return image

    def _gradient(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        a, b = random_colour(rng), random_colour(rng)
        angle = rng.uniform(0, np.pi)
        t = np.arange(w, dtype=np.float32) * np.cos(angle) + np.arange(h, dtype=np.float32)[:, None] * np.sin(
            angle
        )
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        return (a + (b - a) * t[..., None]).astype(np.uint8)

    def _noise(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """Multi-octave value noise mixing two colours: cheap, unlimited, paper/stone/foliage-like."""
        field = np.zeros((h, w), np.float32)
        amplitude, total = 1.0, 0.0
        cell = float(rng.uniform(0.3, 1.5)) * h
        for _ in range(4):
            gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
            grid = rng.random((gh, gw), dtype=np.float32)
            field += amplitude * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
            total += amplitude
            amplitude *= 0.5
            cell /= 2.2
        field = np.clip(field / total, 0, 1)
        a, b = random_colour(rng), random_colour(rng)
        return (a + (b - a) * field[..., None]).astype(np.uint8)

    def _stripes(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.2, 1.0) * h
        phase = np.arange(w, dtype=np.float32) * np.cos(angle) + np.arange(h, dtype=np.float32)[
            :, None
        ] * np.sin(angle)
        t = 0.5 + 0.5 * np.sin(phase * (2 * np.pi / period))
        a = random_colour(rng)
        b = np.clip(a + rng.uniform(-60, 60, size=3), 0, 255).astype(np.float32)
        return (a + (b - a) * t[..., None]).astype(np.uint8)

    def _picture(
        self, rng: np.random.Generator, paths: list[str], h: int, w: int, tile: bool
    ) -> np.ndarray | None:
        picture = load_picture(paths[int(rng.integers(len(paths)))], TILE_MAX_SIDE if tile else MAX_SIDE)
        if picture is None:
            return None
        if tile:
            scale = rng.uniform(0.25, 1.0)
            tile_img = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            th, tw = tile_img.shape[:2]
            if th < 2 or tw < 2:
                return None
            reps = (h // th + 2, w // tw + 2, 1)
            tiled = np.tile(tile_img, reps)
            y, x = int(rng.integers(th)), int(rng.integers(tw))
            return np.ascontiguousarray(tiled[y : y + h, x : x + w])
        ph, pw = picture.shape[:2]
        # Crop a window of the output's aspect ratio, covering 10-60% of the picture's height.
        crop_h = max(4, int(ph * rng.uniform(0.1, 0.6)))
        crop_w = min(pw, max(4, int(crop_h * w / h)))
        crop_h = min(crop_h, max(4, int(crop_w * h / w)), ph)
        y = int(rng.integers(ph - crop_h + 1))
        x = int(rng.integers(pw - crop_w + 1))
        crop = picture[y : y + crop_h, x : x + crop_w]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
