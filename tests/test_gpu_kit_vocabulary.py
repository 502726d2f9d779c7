"""The synthetic engine's `vocabulary` option: a word-list file that replaces wordfreq (the GPU kit's)."""

from __future__ import annotations

import json

import pytest
from synth_helpers import generator, latin_fonts
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset
from scenetext.synth import corpus
from scenetext.synth.config import SynthConfig
from scenetext.synth.corpus import Corpus, export_vocabulary
from scenetext.synth.generator import SynthGenerator


def test_exported_vocabulary_gives_the_wordfreq_dictionary(tmp_path, monkeypatch):
    path = tmp_path / "words.txt"
    assert export_vocabulary("en", path, 3000) == 3000
    charset = Charset.from_spec("en94")
    expected = [w for w in corpus._wordfreq_words("en", 3000) if w.isascii() and any(c.isalpha() for c in w)]
    expected = [w for w in expected if corpus.fit_label(w, charset) is not None]

    def no_wordfreq(lang: str, count: int) -> tuple[str, ...]:
        raise AssertionError("wordfreq was asked although a vocabulary file was given")

    monkeypatch.setattr(corpus, "_wordfreq_words", no_wordfreq)
    words = Corpus("en", charset, vocabulary=str(path)).words
    assert words == expected and len(words) > 2500


def test_vocabulary_replaces_wordfreq_in_the_generator(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("zyxwvut\nqqqplonk\n", encoding="utf-8")
    base = generator("en")
    config = SynthConfig(
        lang="en", categories={"general": 1.0}, vocabulary=str(path), font_dirs=base.config.font_dirs
    )
    gen = SynthGenerator(config, fonts=base.fonts)
    assert gen.corpus.words == ["zyxwvut", "qqqplonk"]
    assert SynthConfig.from_dict(config.to_dict()).vocabulary == str(path)


def test_missing_vocabulary_is_one_clear_error(tmp_path):
    with pytest.raises(ScenetextError, match="no such file"):
        Corpus("en", Charset.from_spec("en36"), vocabulary=str(tmp_path / "none.txt"))


def test_synth_cli_vocabulary_flag(tmp_path):
    fonts = latin_fonts()
    if fonts is None:
        pytest.skip("no Latin system font")
    path = tmp_path / "words.txt"
    path.write_text("zyxwvut\n", encoding="utf-8")
    out = tmp_path / "en"
    args = ["synth", "--count", "2", "--output", str(out), "--vocabulary", str(path), "--fonts", fonts[0]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "synth.json").read_text())["config"]["vocabulary"] == str(path)
