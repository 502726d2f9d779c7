"""What the engine draws from: user word lists, user photo/texture folders and GIMP pattern files."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image
from synth_helpers import generator

from scenetext.errors import ScenetextError
from scenetext.synth.backgrounds import BackgroundMaker, read_gimp_pattern
from scenetext.synth.config import SynthConfig
from scenetext.synth.generator import SynthGenerator


def test_user_word_list_supplies_words(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("zyxwvut\nqqqplonk\n", encoding="utf-8")
    base = generator("en")
    config = SynthConfig(
        lang="en", categories={"general": 1.0}, word_lists=[str(words)], font_dirs=base.config.font_dirs
    )
    labels = [SynthGenerator(config, fonts=base.fonts).sample(i).label.lower() for i in range(40)]
    assert sum(label in ("zyxwvut", "qqqplonk") for label in labels) >= 8


def test_bad_word_lists_are_reported(tmp_path):
    base = generator("en")
    missing = SynthConfig(lang="en", word_lists=[str(tmp_path / "none.txt")], font_dirs=base.config.font_dirs)
    with pytest.raises(ScenetextError, match="no such file"):
        SynthGenerator(missing, fonts=base.fonts)
    (tmp_path / "greek.txt").write_text("αβγ\n", encoding="utf-8")
    greek = SynthConfig(lang="en", word_lists=[str(tmp_path / "greek.txt")], font_dirs=base.config.font_dirs)
    with pytest.raises(ScenetextError, match="no word fits charset"):
        SynthGenerator(greek, fonts=base.fonts)


def test_photo_crops_come_from_a_user_folder(tmp_path):
    photo = np.zeros((200, 300, 3), np.uint8)
    photo[:, :, 0] = 200  # a red picture: every crop of it is red
    Image.fromarray(photo).save(tmp_path / "red.png")
    maker = BackgroundMaker([tmp_path], system=False)
    assert maker.photos == [str((tmp_path / "red.png").resolve())]
    crop = maker.make(np.random.default_rng(0), 32, 100, "photo")
    assert crop.shape == (32, 100, 3)
    assert (crop[..., 0] == 200).all() and (crop[..., 1:] == 0).all()


def test_procedural_backgrounds_without_any_folder():
    maker = BackgroundMaker([], system=False)
    rng = np.random.default_rng(1)
    for kind in ("flat", "gradient", "noise", "stripes", None):
        image = maker.make(rng, 32, 90, kind)
        assert image.shape == (32, 90, 3) and image.dtype == np.uint8


def test_gimp_pattern_is_decoded(tmp_path):
    width, height = 3, 2
    pixels = bytes(range(width * height * 3))
    name = b"test\x00"
    header = struct.pack(">5I", 24 + len(name), 1, width, height, 3) + b"GPAT"
    (tmp_path / "tile.pat").write_bytes(header + name + pixels)
    tile = read_gimp_pattern(tmp_path / "tile.pat")
    assert tile.shape == (2, 3, 3)
    assert tile.reshape(-1).tolist() == list(pixels)
