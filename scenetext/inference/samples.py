"""Word images from the synthetic engine, for the ONNX parity check, the demo and the speed benchmarks.

Rendering needs no data set and no network, so these work right after installation; the images are a pure
function of (seed, index), so a parity check or a benchmark sees the same images on every run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scenetext.errors import ScenetextError


@dataclass
class WordImage:
    label: str  # the ground truth in the renderer's charset
    image: np.ndarray  # uint8 H x W x 3, RGB


def lang_of(config: dict) -> str:
    """``zh`` for models evaluated with the Chinese protocol, else ``en`` (what the renderer should draw)."""
    return "zh" if config.get("protocol") == "zh" else "en"


def render_words(
    count: int,
    lang: str = "en",
    seed: int = 0,
    categories: str = "general",
    font_dirs: Sequence[str] = (),
    height: int = 32,
) -> list[WordImage]:
    """``count`` rendered words; ``categories`` as for the synth engine ("general", "curve=2,general=1")."""
    from scenetext.synth.config import SynthConfig, parse_categories
    from scenetext.synth.generator import SynthGenerator

    if count < 1:
        raise ScenetextError(f"count {count}: must be at least 1")
    config = SynthConfig(
        lang=lang,
        seed=seed,
        height=height,
        categories=parse_categories(categories),
        font_dirs=list(font_dirs),
        max_length=25 if lang == "en" else 12,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the built-in-font fallback warning; the images are still usable
        generator = SynthGenerator(config)
        samples = [generator.sample(i) for i in range(count)]
    return [WordImage(s.label, s.image) for s in samples]
