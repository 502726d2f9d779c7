"""Font discovery, glyph coverage (no tofu boxes) and the built-in fallback font."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from synth_helpers import cjk_fonts, latin_fonts

from scenetext.errors import ScenetextError
from scenetext.synth.fonts import FontLibrary, FontPicker


def test_builtin_font_covers_latin_but_rejects_chinese():
    library = FontLibrary.builtin()
    face = library.faces[0]
    assert library.is_builtin and face.latin and not face.cjk
    assert library.covers(face, "Hello World 42")
    assert not library.covers(face, "中国")
    assert not library.covers(face, "ok中")


def test_latin_font_is_rejected_for_a_chinese_word():
    dirs = latin_fonts()
    if dirs is None:
        pytest.skip("no Latin system font")
    library = FontLibrary.discover(dirs)
    faces = library.for_lang("en")
    assert faces and library.for_lang("zh") == []
    assert all(not library.covers(face, "汉字") for face in faces)
    picker = FontPicker(library, faces)
    assert picker.pick(np.random.default_rng(0), {"sans": 1.0}, "汉字") is None
    assert picker.pick(np.random.default_rng(0), {"sans": 1.0}, "text") is not None


def test_cjk_font_covers_chinese_and_is_offered_for_zh():
    library = FontLibrary.discover(cjk_fonts())
    faces = library.for_lang("zh")
    assert faces
    assert all(library.covers(face, "中文识别") for face in faces)
    # A code point the font's cmap lacks (an emoji) is never "covered".
    assert not any(library.covers(face, "中\U0001f600") for face in faces)


def test_empty_font_dir_falls_back_to_pillow_font_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="built-in font"):
        library = FontLibrary.discover([tmp_path])
    assert library.is_builtin
    assert library.for_lang("en") and not library.for_lang("zh")


def test_missing_font_dir_is_an_error(tmp_path):
    with pytest.raises(ScenetextError, match="no such file"):
        FontLibrary.discover([tmp_path / "nope"])


def test_unreadable_font_file_is_skipped(tmp_path):
    dirs = latin_fonts()
    if dirs is None:
        pytest.skip("no Latin system font")
    (tmp_path / "broken.ttf").write_bytes(b"not a font at all")
    shutil.copy(Path(dirs[0]) / "DejaVuSans.ttf", tmp_path)
    library = FontLibrary.discover([tmp_path])
    assert [Path(face.path).name for face in library.faces] == ["DejaVuSans.ttf"]
