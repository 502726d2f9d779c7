"""Every category renders legible-sized images, in English and Chinese, and with the fallback font."""

from __future__ import annotations

import numpy as np
import pytest
from synth_helpers import generator

from scenetext.runtime.charset import Charset
from scenetext.synth.config import CATEGORIES, SynthConfig
from scenetext.synth.generator import SynthGenerator, encode_png


def _check_image(image: np.ndarray, height: int) -> None:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= height
    assert max(image.shape[:2]) <= 12 * 4 * height
    assert image.std() > 3, "an image with (almost) nothing drawn on it"


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_category_renders(lang, category):
    gen = generator(lang, category)
    for i in range(6):
        sample = gen.sample(i)
        assert sample.category == category
        _check_image(sample.image, gen.config.height)
        assert sample.label


def test_vertical_text_is_stored_tall():
    gen = generator("en", "multi-oriented")
    shapes = [gen.sample(i).image.shape for i in range(30)]
    assert any(h > 2 * w for h, w, _ in shapes), "no vertical/rotated-90 sample in 30 draws"


def test_fallback_font_renders_every_category(tmp_path):
    with pytest.warns(UserWarning, match="built-in font"):
        gen = SynthGenerator(SynthConfig(lang="en", font_dirs=[str(tmp_path)], seed=3))
    assert gen.fonts.is_builtin
    charset = Charset.from_spec("en94")
    for i in range(40):
        sample = gen.sample(i)
        _check_image(sample.image, 32)
        assert all(ch in charset for ch in sample.label)
    seen = {gen.sample(i).category for i in range(40)}
    assert len(seen) >= 5


def test_chinese_without_cjk_font_is_a_clear_error(tmp_path):
    from scenetext.errors import ScenetextError

    with pytest.warns(UserWarning), pytest.raises(ScenetextError, match="no font with Chinese glyphs"):
        SynthGenerator(SynthConfig(lang="zh", font_dirs=[str(tmp_path)]))


def test_fixed_width_output_size():
    gen = generator("en", "general")
    fixed = SynthGenerator(SynthConfig(lang="en", width=128, font_dirs=gen.config.font_dirs), fonts=gen.fonts)
    for i in range(5):
        assert fixed.sample(i).image.shape == (32, 128, 3)


def test_png_encoding_is_lossless():
    import cv2

    image = generator("en").sample(0).image
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(encode_png(image), np.uint8), 1), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, image)


def test_text_colours_keep_the_contrast_floor():
    from scenetext.synth.backgrounds import BackgroundMaker, luminance
    from scenetext.synth.fonts import FontLibrary
    from scenetext.synth.render import WordRenderer

    renderer = WordRenderer(FontLibrary.builtin(), BackgroundMaker([], system=False), 32, min_contrast=70)
    rng = np.random.default_rng(0)
    for _ in range(500):
        background = float(rng.uniform(0, 255))
        colour = renderer._contrasting(rng, background, 70)
        second = renderer._contrasting(rng, background, 70, dark=bool(luminance(colour) < background))
        assert abs(luminance(colour) - background) >= 70
        assert abs(luminance(second) - background) >= 70
        assert (luminance(second) < background) == (luminance(colour) < background)
