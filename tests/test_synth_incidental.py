"""The incidental category (ICDAR 2015-style captures) and the effects it adds: same seed, same bytes;
labels fit the charset; neighbouring words show at the crop's edges; occluders hide only a little."""

from __future__ import annotations

import numpy as np
import pytest
from synth_helpers import generator, latin_fonts

from scenetext.runtime.charset import Charset
from scenetext.synth import effects
from scenetext.synth.backgrounds import BackgroundMaker
from scenetext.synth.categories import incidental
from scenetext.synth.config import DEFAULT_MIX, SynthConfig
from scenetext.synth.generator import SynthGenerator, encode_png
from scenetext.synth.render import Style, WordRenderer


def _config(**changes) -> SynthConfig:
    fonts = latin_fonts()
    if fonts is None:
        pytest.skip("no Latin system font")
    return SynthConfig(lang="en", seed=9, font_dirs=fonts, categories={"incidental": 1.0}, **changes)


def test_incidental_is_opt_in():
    assert "incidental" not in DEFAULT_MIX
    assert all(name != "incidental" for name, _ in SynthConfig().mix)


def test_incidental_sample_is_a_pure_function_of_seed_and_index():
    config = _config()
    first = SynthGenerator(config)
    forward = [encode_png(first.sample(i).image) for i in range(16)]
    second = SynthGenerator(config)  # fresh caches, rendered in reverse order
    backward = [encode_png(second.sample(i).image) for i in reversed(range(16))][::-1]
    assert forward == backward
    assert len(set(forward)) == 16
    # The 16 samples went through the new paths (first-try plans, drawn as the generator draws them).
    plans = []
    for i in range(16):
        rng = np.random.default_rng([config.seed, i, 0])
        first.category(rng)
        plans.append(incidental("en", rng).style)
    assert any(any(s.neighbours) for s in plans)
    assert any(s.upsample > 1 for s in plans) and any(s.lighting > 0 for s in plans)
    assert any(s.occlusion for s in plans) and any(s.defocus > 0 for s in plans)


@pytest.mark.parametrize("charset", ["en36", "en94"])
def test_incidental_labels_fit_the_charset(charset):
    gen = generator("en", "incidental", seed=2, charset=charset)
    chars = Charset.from_spec(charset)
    for i in range(80):
        sample = gen.sample(i)
        assert sample.category == "incidental"
        assert sample.label and all(ch in chars for ch in sample.label), (i, sample.label)
        assert min(sample.image.shape[:2]) >= 32 and sample.image.std() > 3


def _edge_spread(image: np.ndarray, columns: int) -> float:
    edges = np.concatenate([image[:, :columns], image[:, -columns:]], axis=1).astype(np.float32)
    return float(edges.reshape(-1, 3).std(axis=0).max())


def test_neighbouring_words_show_at_the_crop_edges():
    gen = generator("en")
    renderer = WordRenderer(gen.fonts, BackgroundMaker([], system=False), 32)
    face = gen.fonts.faces[0]
    wide = Style(pad_x=(1.2, 1.2), pad_y=(0.1, 0.1), background="flat")
    alone = renderer.render("middle", face, wide, np.random.default_rng(1))
    flanked = Style(pad_x=(1.2, 1.2), pad_y=(0.1, 0.1), background="flat", neighbours=(True, True))
    beside = renderer.render("middle", face, flanked, np.random.default_rng(1), (), ("left", "right"))
    assert _edge_spread(alone, 6) < 1.0  # a flat background at both ends
    assert _edge_spread(beside, 6) > 20.0  # letters of both neighbours come in
    assert alone.shape == beside.shape  # the crop follows the main word only
    only_left = renderer.render("middle", face, flanked, np.random.default_rng(1), (), ("left", ""))
    assert _edge_spread(only_left[:, -6:], 3) < 1.0 < _edge_spread(only_left[:, :6], 3)


def test_occluders_hide_only_a_small_part_of_the_text():
    text_box = (6, 26, 10, 118)  # top, bottom, left, right in a 32 x 128 image
    covered = []
    for seed in range(200):
        image = np.zeros((32, 128, 3), np.uint8)
        out = effects.occlude(image, np.random.default_rng(seed), text_box, np.float32([255, 255, 255]))
        region = out[6:26, 10:118, 0] > 127
        covered.append(region.mean())
    assert min(covered) > 0  # always hides something of the line
    assert max(covered) < 0.3


def test_scene_and_capture_effects():
    rng = np.random.default_rng(0)
    image = np.full((32, 96, 3), 128, np.uint8)
    image[:, 40:56] = 20
    blurred = effects.defocus(image, 2.0)
    assert blurred.shape == image.shape and blurred.dtype == np.uint8
    assert abs(float(blurred.mean()) - float(image.mean())) < 1.0  # blur moves no light
    assert (
        np.abs(np.diff(blurred.astype(np.int16), axis=1)).max()
        < np.abs(np.diff(image.astype(np.int16), axis=1)).max()
    )
    lit = effects.uneven_light(np.full((32, 96, 3), 128, np.uint8), rng, 0.6)
    assert lit.dtype == np.uint8 and lit.shape == (32, 96, 3) and lit.std() > 3  # no longer uniform
