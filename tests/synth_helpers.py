"""Shared set-up for the synthetic data engine's tests: small font sets, so indexing stays fast."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from scenetext.synth.config import SynthConfig
from scenetext.synth.generator import SynthGenerator

LATIN_DIRS = ("/usr/share/fonts/truetype/dejavu",)
CJK_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def latin_fonts() -> list[str] | None:
    """DejaVu when installed (Debian images have it), else None: the tests then use Pillow's font."""
    found = [d for d in LATIN_DIRS if Path(d).is_dir()]
    return found or None


def cjk_fonts() -> list[str]:
    """One small CJK font file; Chinese rendering tests skip without one."""
    for path in CJK_FILES:
        if Path(path).is_file():
            return [path]
    pytest.skip("no CJK font installed (scripts/install-fonts.sh --minimal installs one)")


@cache
def _generator(lang: str, category: str | None, seed: int, charset: str | None, fonts: tuple[str, ...]):
    categories = {category: 1.0} if category else None
    kwargs = {"categories": categories} if categories else {}
    config = SynthConfig(lang=lang, seed=seed, charset=charset, font_dirs=list(fonts), **kwargs)
    return SynthGenerator(config)


def generator(
    lang: str = "en", category: str | None = None, seed: int = 0, charset: str | None = None
) -> SynthGenerator:
    """A cached generator on the small test font set (word lists load once per test session)."""
    fonts = cjk_fonts() if lang == "zh" else (latin_fonts() or [])
    if lang == "en" and not fonts:
        pytest.skip("no Latin system font; the fallback tests cover Pillow's own font")
    return _generator(lang, category, seed, charset, tuple(fonts))
