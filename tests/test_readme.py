"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inference_helpers import png_bytes, word_image
from PIL import Image, ImageChops

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [b for b in blocks if containing in b]
    return block


def test_recognizer_example_pairs_each_strip_with_its_own_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "word.png").write_bytes(png_bytes(word_image(1, size=(32, 128))))
    (tmp_path / "a.png").write_bytes(png_bytes(word_image(2, size=(40, 90))))
    namespace = {"img": word_image(3)}
    exec(python_block('Recognizer.load("default")'), namespace)  # the README's own example, as written
    rec = namespace["rec"]
    own = rec.attention_strip("word.png", rec.read("word.png", return_attention=True))
    with Image.open(tmp_path / "strip.png") as written:
        assert written.size == own.size
        assert ImageChops.difference(written.convert("RGB"), own).getbbox() is None
    assert [r.source for r in namespace["results"][:1]] == ["a.png"]
