"""`scenetext synth` writes readable LMDBs; bad input exits 1 with one line on stderr."""

from __future__ import annotations

import json

import pytest
from synth_helpers import latin_fonts
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.data.lmdb_store import LmdbReader, find_lmdbs
from scenetext.runtime.charset import Charset
from scenetext.runtime.preprocess import load_image
from scenetext.synth.config import UNION14M_CATEGORIES

runner = CliRunner()


def _font_args() -> list[str]:
    fonts = latin_fonts()
    if fonts is None:
        pytest.skip("no Latin system font")
    return ["--fonts", fonts[0]]


def test_synth_writes_a_readable_lmdb(tmp_path):
    out = tmp_path / "en"
    result = runner.invoke(
        app, ["synth", "--lang", "en", "--count", "12", "--output", str(out), "--seed", "4", *_font_args()]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic data written" in result.output
    reader = LmdbReader(out)
    assert len(reader) == 12
    charset = Charset.from_spec("en94")
    for i in range(12):
        data, label = reader.read(i)
        image = load_image(data)
        assert image.height >= 32 or image.width >= 32
        assert label and all(ch in charset for ch in label)
    meta = json.loads((out / "synth.json").read_text())
    assert meta["count"] == 12 and meta["config"]["seed"] == 4


def test_categories_and_charset_flags(tmp_path):
    out = tmp_path / "curved"
    args = ["synth", "--count", "6", "--output", str(out), "--categories", "curve", "--charset", "en36"]
    result = runner.invoke(app, [*args, *_font_args()])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "synth.json").read_text())
    assert meta["categories"] == {"curve": 6}
    labels = [LmdbReader(out).read(i)[1] for i in range(6)]
    assert all(label == label.lower() for label in labels)


def test_benchmark_writes_one_lmdb_per_category(tmp_path):
    result = runner.invoke(
        app, ["synth", "benchmark", "--output", str(tmp_path), "--per-category", "2", *_font_args()]
    )
    assert result.exit_code == 0, result.output
    found = sorted(p.name for p in find_lmdbs(tmp_path))
    assert found == sorted(UNION14M_CATEGORIES)
    assert all(len(LmdbReader(tmp_path / name)) == 2 for name in UNION14M_CATEGORIES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--categories", "wavy"], "unknown category"),
        (["--charset", "nope"], "charset nope"),
        (["--height", "4"], "height 4"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, args, message):
    result = runner.invoke(app, ["synth", "--count", "2", "--output", str(tmp_path / "x"), *args])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "set"
    assert runner.invoke(app, ["synth", "--count", "2", "--output", str(out), *_font_args()]).exit_code == 0
    before = (out / "data.mdb").read_bytes()
    result = runner.invoke(app, ["synth", "--count", "3", "--output", str(out), *_font_args()])
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert (out / "data.mdb").read_bytes() == before


def test_fonts_command_lists_faces_and_fallback(tmp_path):
    result = runner.invoke(app, ["synth", "fonts", *_font_args()])
    assert result.exit_code == 0 and "en:" in result.output and "sans" in result.output
    result = runner.invoke(app, ["synth", "fonts", "--fonts", str(tmp_path)])
    assert result.exit_code == 0
    assert "built-in" in result.output and "warning:" in result.stderr


def test_config_file_with_flag_overrides(tmp_path):
    config = tmp_path / "synth.yaml"
    config.write_text("lang: en\nheight: 40\ncategories: {contextless: 1}\nseed: 9\n", encoding="utf-8")
    out = tmp_path / "set"
    result = runner.invoke(
        app,
        [
            "synth",
            "--config",
            str(config),
            "--seed",
            "3",
            "--count",
            "3",
            "--output",
            str(out),
            *_font_args(),
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "synth.json").read_text())
    assert meta["config"]["height"] == 40 and meta["config"]["seed"] == 3
    assert meta["categories"] == {"contextless": 3}
    config.write_text("lang: en\nheigth: 40\n", encoding="utf-8")
    result = runner.invoke(
        app, ["synth", "--config", str(config), "--count", "1", "--output", str(tmp_path / "y")]
    )
    assert result.exit_code == 1 and "unknown key 'heigth'" in result.stderr
