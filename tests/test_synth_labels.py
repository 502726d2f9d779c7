"""Labels always fit the chosen charset (en94, en36, zh and a user key file)."""

from __future__ import annotations

import pytest
from synth_helpers import generator

from scenetext.runtime.charset import Charset
from scenetext.synth.corpus import fit_label


def test_fit_label_rules():
    en94, en36, zh = Charset.from_spec("en94"), Charset.from_spec("en36"), Charset.from_spec("zh")
    assert fit_label("Hello World", en94) == "HelloWorld"
    assert fit_label("Hello World", en36) == "helloworld"
    assert fit_label("$9.99", en36) is None
    assert fit_label("café", en94) is None
    assert fit_label("北京 2024年", zh) == "北京2024年"
    assert fit_label("臺灣", zh) is None  # Traditional characters are outside GB2312


@pytest.mark.parametrize(("lang", "charset"), [("en", "en94"), ("en", "en36"), ("zh", "zh")])
def test_every_label_fits_the_charset(lang, charset):
    gen = generator(lang, None, seed=11, charset=charset)
    chars = Charset.from_spec(charset)
    for i in range(150):
        sample = gen.sample(i)
        assert sample.label, f"sample {i}: empty label"
        assert len(sample.label) <= gen.config.max_length
        bad = [ch for ch in sample.label if ch not in chars]
        assert not bad, f"sample {i} ({sample.category}): {sample.label!r} has {bad} outside {charset}"


def test_small_key_file_charset_restricts_labels(tmp_path):
    key = tmp_path / "digits.txt"
    key.write_text("0123456789\n", encoding="utf-8")
    from scenetext.synth.config import SynthConfig
    from scenetext.synth.generator import SynthGenerator

    base = generator("en")
    gen = SynthGenerator(
        SynthConfig(
            lang="en", charset=str(key), categories={"contextless": 1.0}, font_dirs=base.config.font_dirs
        ),
        fonts=base.fonts,
    )
    for i in range(20):
        assert gen.sample(i).label.isdigit()
