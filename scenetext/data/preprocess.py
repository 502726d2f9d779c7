"""Image decoding and model-input preprocessing, shared by training, evaluation and inference.

No torch here: the ONNX inference path uses this module on its own. cv2 is imported only when the bilinear
(NASTR) resize runs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scenetext.errors import ImageTooLargeError, ScenetextError

ImageSource = str | Path | bytes | bytearray | memoryview | Image.Image | np.ndarray

DEFAULT_MAX_PIXELS = 50_000_000
"""Refuse images above this many pixels (about 7000 x 7000): text crops are far smaller, bombs far larger."""

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255)


def _source_name(source: ImageSource) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    if isinstance(source, np.ndarray):
        return "<array>"
    return "<image>"


def _check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise ScenetextError(f"{name}: zero-size image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels} "
            "(possible decompression bomb)"
        )


def _to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Scale an array of any numeric dtype to 8 bits.

    uint16 and 16-bit-range integers are divided by 257 (65535 -> 255); wider integers are scaled by their
    maximum; floats are taken as [0, 1] when their maximum is at most 1, else as [0, 255]; bool maps to 0/255.
    """
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise ScenetextError(f"{name}: image holds NaN or infinite values")
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(values.dtype, np.integer):
        sixteen_bit = values.dtype.itemsize == 2
        values = np.clip(values.astype(np.int64), 0, None)
        peak = int(values.max()) if values.size else 0
        if sixteen_bit or peak > 255:
            divisor = 257.0 if peak <= 65535 else peak / 255.0
            return np.clip(np.rint(values / divisor), 0, 255).astype(np.uint8)
        return values.astype(np.uint8)
    raise ScenetextError(f"{name}: unsupported pixel type {values.dtype}")


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return background


def _array_to_rgb(array: np.ndarray, name: str) -> Image.Image:
    """HxW, HxWx1, HxWx3 (RGB order) or HxWx4 (RGBA) arrays to an RGB image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ScenetextError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    pixels = np.ascontiguousarray(_to_uint8(array, name))
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L").convert("RGB")
    if pixels.shape[2] == 4:
        return _composite_on_white(Image.fromarray(pixels, "RGBA"))
    return Image.fromarray(pixels, "RGB")


def _pil_to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on white, 16/32-bit and float modes scaled to 8 bits."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        return _composite_on_white(image)
    if mode in _ALPHA_MODES:
        return _composite_on_white(image)
    if mode.startswith("I") or mode == "F":
        return _array_to_rgb(np.asarray(image), name)
    return image.convert("RGB")


def _open(source: ImageSource, name: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ScenetextError(f"{name}: empty data")
        stream: Any = io.BytesIO(bytes(source))
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ScenetextError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise ScenetextError(f"{name}: empty file")
        stream = path
    else:
        raise ScenetextError(f"{name}: cannot read an image from {type(source).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: refused, {exc} (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ScenetextError(f"{name}: not a recognised image format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ScenetextError(f"{name}: cannot open image ({exc})") from None


def load_image(
    source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """Decode an image into an RGB PIL image, or raise a one-line ScenetextError naming the source.

    Accepts a path, encoded bytes, a PIL image or a numpy array (HxW, HxWx3 in RGB order, HxWx4 RGBA).
    The size is checked against ``max_pixels`` from the header, before any pixel is decoded. EXIF
    orientation is applied; alpha is composited on white; 16-bit, CMYK, palette and 1-bit images become
    8-bit RGB. ``name`` overrides the source name used in error messages (for example an LMDB key).
    """
    name = name or _source_name(source)
    if isinstance(source, np.ndarray):
        if source.ndim < 2:
            raise ScenetextError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {source.shape}")
        _check_size(source.shape[1], source.shape[0], max_pixels, name)
        return _array_to_rgb(source, name)
    image = _open(source, name)
    _check_size(image.width, image.height, max_pixels, name)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except ScenetextError:
        raise
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, struct.error...) for bad data
        reason = str(exc) or type(exc).__name__
        raise ScenetextError(f"{name}: corrupt or truncated image ({reason})") from None
    _check_size(image.width, image.height, max_pixels, name)
    return _pil_to_rgb(image, name)


@dataclass
class PreprocessConfig:
    """How a model wants its input: size, normalisation and resizing rule (stored with checkpoints as JSON).

    ``normalize``: "nastr" maps pixels to [-1, 1] via (x - 127.5) / 127.5; "lpv" to [0, 1] via x / 255.
    ``interpolation``: "bilinear" is cv2.resize as NASTR (spec-nastr §4.2); "bicubic" is PIL BICUBIC as LPV
    (spec-lpv §3.3). ``keep_ratio`` resizes to the target height and pads on the right with the image's mean
    colour (a hard black edge could read as a stroke); images wider than the ratio allow are stretched to fit.
    ``rotate_tall`` rotates images taller than wide by 90 degrees counter-clockwise (the NASTR Chinese rule).
    """

    height: int = 32
    width: int = 128
    normalize: Literal["nastr", "lpv"] = "nastr"
    keep_ratio: bool = False
    rotate_tall: bool = False
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"

    def __post_init__(self) -> None:
        for key in ("height", "width"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ScenetextError(f"preprocess config {key}: expected a positive integer, got {value!r}")
        choices = {
            "normalize": ("nastr", "lpv"),
            "interpolation": ("bilinear", "bicubic"),
            "keep_ratio": (False, True),
            "rotate_tall": (False, True),
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            if not any(
                value is option or (isinstance(option, str) and value == option) for option in allowed
            ):
                raise ScenetextError(f"preprocess config {key}: expected one of {allowed}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ScenetextError(
                    f"preprocess config: unknown key {key!r} (known: {', '.join(sorted(known))})"
                )
        return cls(**data)


class ImagePreprocessor:
    """RGB image -> normalised float32 3 x H x W array, the one preprocessing path for every model."""

    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config

    def __call__(self, image: Image.Image | np.ndarray) -> np.ndarray:
        return self.normalize_array(self.resize(image))

    def resize(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Rotate (if configured) and resize to the model size: uint8 H x W x 3, before normalisation.

        Accepts an RGB PIL image or a uint8 H x W x 3 array; anything else goes through :func:`load_image`.
        """
        rgb = self._as_rgb_array(image)
        cfg = self.config
        if cfg.rotate_tall and rgb.shape[0] > rgb.shape[1]:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=1))  # counter-clockwise, as PIL ROTATE_90
        if not cfg.keep_ratio:
            return self._resize_to(rgb, cfg.width, cfg.height)
        h, w = rgb.shape[:2]
        new_w = max(1, min(cfg.width, round(w * cfg.height / h)))
        resized = self._resize_to(rgb, new_w, cfg.height)
        if new_w == cfg.width:
            return resized
        fill = resized.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        out = np.empty((cfg.height, cfg.width, 3), dtype=np.uint8)
        out[:, :] = fill
        out[:, :new_w] = resized
        return out

    def normalize_array(self, array: np.ndarray) -> np.ndarray:
        """uint8 H x W x 3 -> float32 3 x H x W in [-1, 1] ("nastr") or [0, 1] ("lpv")."""
        if array.ndim != 3 or array.shape[2] != 3:
            raise ScenetextError(f"normalize: expected an H x W x 3 array, got shape {array.shape}")
        chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
        if self.config.normalize == "nastr":
            return (chw - 127.5) / 127.5
        return chw / 255.0

    @staticmethod
    def _as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
        if (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and image.ndim == 3
            and image.shape[2] == 3
        ):
            return image
        if isinstance(image, Image.Image) and image.mode == "RGB":
            return np.asarray(image)
        return np.asarray(load_image(image))

    def _resize_to(self, rgb: np.ndarray, width: int, height: int) -> np.ndarray:
        if rgb.shape[0] == height and rgb.shape[1] == width:
            return rgb
        if self.config.interpolation == "bilinear":
            import cv2

            return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))
