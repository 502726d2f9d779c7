"""Image decoding and model-input preprocessing, shared by training, evaluation and inference.

No torch here: the ONNX inference path uses this module on its own. cv2 is imported only when the bilinear
(NASTR) resize runs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
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


_BLOCK_ELEMENTS = 1 << 18
"""Images are converted this many values at a time, so the temporaries of a conversion stay small."""


def _row_blocks(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, _BLOCK_ELEMENTS // max(1, width))
    for start in range(0, height, rows):
        yield start, min(height, start + rows)


def _uint8_rule(dtype: np.dtype, peak: float, name: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a block of values becomes 8 bits, given the whole image's maximum (as :func:`_to_uint8`)."""
    if dtype == np.bool_:
        return lambda block: block.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(dtype, np.floating):
        scale = 255.0 if peak <= 1.0 else 1.0

        def floats(block: np.ndarray) -> np.ndarray:
            if not np.isfinite(block).all():
                raise ScenetextError(f"{name}: image holds NaN or infinite values")
            return np.clip(np.rint(block * scale), 0, 255).astype(np.uint8)

        return floats
    if np.issubdtype(dtype, np.integer):
        peak = max(peak, 0)
        if dtype.itemsize == 2 or peak > 255:
            divisor = 257.0 if peak <= 65535 else peak / 255.0
            return lambda block: np.clip(
                np.rint(np.clip(block.astype(np.int64), 0, None) / divisor), 0, 255
            ).astype(np.uint8)
        return lambda block: np.clip(block, 0, None).astype(np.uint8)
    raise ScenetextError(f"{name}: unsupported pixel type {dtype}")


def _to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Scale an array of any numeric dtype to 8 bits.

    uint16 and 16-bit-range integers are divided by 257 (65535 -> 255); wider integers are scaled by their
    maximum; floats are taken as [0, 1] when their maximum is at most 1, else as [0, 255]; bool maps to 0/255.
    The work goes block by block, so no full-size 64-bit copy of the image is ever made.
    """
    if values.dtype == np.uint8:
        return values
    if values.dtype != np.bool_ and not np.issubdtype(values.dtype, np.number):
        raise ScenetextError(f"{name}: unsupported pixel type {values.dtype}")
    peak = values.max().item() if values.size else 0
    convert = _uint8_rule(values.dtype, peak, name)
    out = np.empty(values.shape, dtype=np.uint8)
    for start, stop in _row_blocks(values.shape[0], values[0].size if values.size else 1):
        out[start:stop] = convert(values[start:stop])
    return out


def _high_depth_gray(image: Image.Image, name: str) -> np.ndarray:
    """A 16/32-bit integer or float Pillow image (one band) as uint8 H x W, converted strip by strip."""
    width, height = image.size
    _, peak = image.getextrema()
    sample = np.asarray(image.crop((0, 0, 1, 1)))
    convert = _uint8_rule(sample.dtype, float(peak), name)
    out = np.empty((height, width), dtype=np.uint8)
    for start, stop in _row_blocks(height, width):
        out[start:stop] = convert(np.asarray(image.crop((0, start, width, stop))))
    return out


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
        return Image.fromarray(_high_depth_gray(image, name), "L").convert("RGB")
    return image.convert("RGB")


def _pixels(image: Image.Image, name: str) -> np.ndarray:
    """``np.asarray(_pil_to_rgb(image))`` without its full-size intermediate copies.

    The image is converted a strip of rows at a time into one array: H x W for gray images (L, 1, 16/32-bit,
    float: their three RGB channels would be equal), else H x W x 3.
    """
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return _high_depth_gray(image, name)
    width, height = image.size
    out = np.empty((height, width) if mode in ("L", "1") else (height, width, 3), dtype=np.uint8)
    for start, stop in _row_blocks(height, width):
        strip = image.crop((0, start, width, stop))
        if mode == "1":
            strip = strip.convert("L")
        elif mode != "L":
            strip = _pil_to_rgb(strip, name)
        out[start:stop] = np.asarray(strip)
    return out


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


def _decode(source: ImageSource, max_pixels: int, name: str) -> Image.Image:
    """Open, check the size from the header, decode and apply EXIF orientation (any Pillow mode)."""
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
    return image


def _check_array(source: np.ndarray, max_pixels: int, name: str) -> None:
    if source.ndim < 2:
        raise ScenetextError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {source.shape}")
    _check_size(source.shape[1], source.shape[0], max_pixels, name)


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
        _check_array(source, max_pixels, name)
        return _array_to_rgb(source, name)
    return _pil_to_rgb(_decode(source, max_pixels, name), name)


def load_pixels(
    source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> np.ndarray:
    """The pixels :func:`load_image` gives, as uint8 H x W x 3, or H x W for a gray image, in less memory.

    For the model input only the resized image matters, so this skips load_image's full-size RGB copies:
    a gray image is not widened to three channels, and other modes are converted a strip at a time. At most
    about 4 (decoded) + 3 (result) bytes per pixel are held, whatever the mode or bit depth.
    """
    name = name or _source_name(source)
    if isinstance(source, np.ndarray):
        _check_array(source, max_pixels, name)
        if source.ndim == 2 or (source.ndim == 3 and source.shape[2] == 1):
            return _to_uint8(source.reshape(source.shape[:2]), name)
        return np.asarray(_array_to_rgb(source, name))
    return _pixels(_decode(source, max_pixels, name), name)


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


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    """A gray H x W array as its H x W x 3 RGB image (equal channels); RGB arrays unchanged."""
    return pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)


class ImagePreprocessor:
    """RGB image -> normalised float32 3 x H x W array, the one preprocessing path for every model."""

    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config

    def __call__(self, image: Image.Image | np.ndarray) -> np.ndarray:
        return self.normalize_array(self.resize(image))

    def load(
        self, source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
    ) -> np.ndarray:
        """Decode any image source straight to the model-size uint8 H x W x 3 view.

        Equal to ``resize(load_image(source))``, but through :func:`load_pixels`, so a large or high-bit-depth
        image costs a few bytes per pixel instead of several full-size RGB copies.
        """
        return self.resize(load_pixels(source, max_pixels, name))

    def resize(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Rotate (if configured) and resize to the model size: uint8 H x W x 3, before normalisation.

        Accepts an RGB PIL image, a uint8 H x W x 3 array or a uint8 H x W gray array (resized as one
        channel, then repeated: the same result as its RGB image); anything else goes through
        :func:`load_image`.
        """
        pixels = self._as_pixels(image)
        cfg = self.config
        if cfg.rotate_tall and pixels.shape[0] > pixels.shape[1]:
            pixels = np.ascontiguousarray(np.rot90(pixels, k=1))  # counter-clockwise, as PIL ROTATE_90
        if not cfg.keep_ratio:
            return _as_rgb(self._resize_to(pixels, cfg.width, cfg.height))
        h, w = pixels.shape[:2]
        new_w = max(1, min(cfg.width, round(w * cfg.height / h)))
        resized = _as_rgb(self._resize_to(pixels, new_w, cfg.height))
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
    def _as_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
        if (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
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
