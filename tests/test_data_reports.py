"""Reports stay readable whatever the data holds: bounded `data stats`, TSV quoted by the csv rules."""

from __future__ import annotations

import csv
import io
import json

import pytest
from data_helpers import png_bytes, write_lmdb
from engine_helpers import word_png
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.data.stats import label_stats
from scenetext.errors import ScenetextError

runner = CliRunner()


def test_a_100000_character_label_does_not_print_100000_rows(tmp_path):
    write_lmdb(tmp_path / "set", ["ab", "abc", "x" * 100_000], [png_bytes()] * 3)
    result = runner.invoke(app, ["data", "stats", str(tmp_path / "set")])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) < 120
    assert "41-100000" in result.stdout


def test_length_rows_group_the_tail_into_one_row():
    stats = label_stats(["ab", "abc", "abcd", "x" * 50])
    assert stats.length_rows(max_rows=4) == [("2", 1), ("3", 1), ("4", 1), ("5-50", 1)]
    assert stats.length_rows(max_rows=49) == [(str(n), c) for n, c in stats.length_histogram()]
    assert len(stats.length_rows()) == 40


def test_skipped_tsv_quotes_tabs_newlines_and_quotes_in_paths(tmp_path):
    (tmp_path / "ok.png").write_bytes(png_bytes())
    odd = ["tab\there.png", 'quote"d.png', "new\nline.png"]
    lines = [{"filename": "ok.png", "text": "ok"}] + [{"filename": name, "text": "w"} for name in odd]
    listing = tmp_path / "list.jsonl"
    listing.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = runner.invoke(
        app, ["data", "create", "-f", "jsonl", "-i", str(listing), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out.skipped.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["line", "path", "reason"]
    assert [row[1] for row in rows[1:]] == odd
    assert all(len(row) == 3 and row[2] == "image file not found" for row in rows[1:])
    # The console lists them on one line each.
    assert "line 2 tab here.png: image file not found" in result.stdout


def test_read_output_quotes_a_tab_in_a_path(tmp_path):
    image = tmp_path / "a\tb.png"
    image.write_bytes(word_png("cat", 0))
    result = runner.invoke(app, ["read", "--model", "default", str(image)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter="\t"))
    assert len(rows) == 1 and len(rows[0]) == 3 and rows[0][0] == str(image)
    float(rows[0][2])


def test_photo_import_skips_are_quoted_too(tmp_path):
    """The whole-photo importers list skips through the same quoted writer (an image name with a tab)."""
    from scenetext.data.photos import create_photo_lmdb

    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "gt_a\tb.txt").write_text('1, 1, 20, 10, "word"\n', encoding="utf-8")
    with pytest.raises(ScenetextError):
        create_photo_lmdb("icdar13-boxes", gt, tmp_path / "out", tmp_path)
    with open(tmp_path / "out.skipped.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["file", "where", "image", "reason"]
    assert len(rows) == 2 and all(len(row) == 4 for row in rows) and "a\tb" in rows[1][2]
