"""Shared fixtures for the inference tests: small untrained artifacts of each model family, test images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scenetext.models.artifact import save_artifact
from scenetext.models.registry import available_models, build_model
from scenetext.runtime.charset import Charset
from scenetext.runtime.preprocess import PreprocessConfig

# Small configurations of each family at a 32 x 64 input: fast to build, export and run on 2 cores.
FAMILIES = {
    "nastr-tiny": ({"img_size": [32, 64], "max_length": 8}, "nastr", "bilinear"),
    "lpv-micro": ({"img_size": [32, 64], "max_length": 8}, "lpv", "bicubic"),
    # The AR export unrolls its greedy loop (one decoder pass per position): a short maximum keeps it quick.
    "ar-tiny": ({"img_size": [32, 64], "max_length": 3}, "nastr", "bilinear"),
}


def family_params() -> list:
    """One pytest param per family; a family whose model is not registered (yet) is skipped, not failed."""
    registered = set(available_models())
    return [
        pytest.param(name, marks=pytest.mark.skipif(name not in registered, reason=f"{name} not registered"))
        for name in FAMILIES
    ]


def make_artifact(directory: Path, name: str = "nastr-tiny", seed: int = 0) -> Path:
    """Save an untrained ``name`` with the en36 charset as an artifact in ``directory``."""
    import torch

    options, normalize, interpolation = FAMILIES[name]
    charset = Charset.from_spec("en36")
    torch.manual_seed(seed)
    model = build_model(name, len(charset) + 3, **{**options, "img_size": tuple(options["img_size"])})
    preprocess = PreprocessConfig(32, 64, normalize=normalize, interpolation=interpolation)
    return save_artifact(
        directory,
        model,
        model_name=name,
        model_options=options,
        charset=charset,
        preprocess=preprocess,
        protocol="en36",
    )


_COMMON_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
)


def font_files(tmp_path: Path) -> list[str]:
    """One common system font file (fast to index), or an empty directory for Pillow's built-in font."""
    for candidate in _COMMON_FONTS:
        if Path(candidate).is_file():
            return [candidate]
    empty = tmp_path / "no-fonts"
    empty.mkdir(exist_ok=True)
    return [str(empty)]


def word_image(seed: int, size: tuple[int, int] = (28, 90)) -> np.ndarray:
    """A uint8 RGB array with dark strokes on a light background (content does not matter, shape does)."""
    rng = np.random.default_rng(seed)
    image = np.full((*size, 3), 230, dtype=np.uint8)
    for _ in range(6):
        x = int(rng.integers(4, size[1] - 10))
        image[4 : size[0] - 4, x : x + 3] = rng.integers(0, 60, 3, dtype=np.uint8)
    return image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
