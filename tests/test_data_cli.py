"""`scenetext data create | stats | show`: summaries, statistics, the PNG grid, and one-line errors."""

from __future__ import annotations

import pytest
from data_helpers import png_bytes, write_lmdb
from PIL import Image
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.data.grid import GridSample, label_font, read_samples, render_grid
from scenetext.data.stats import label_stats
from scenetext.runtime.charset import Charset

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["data", *map(str, args)])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_create_prints_written_n_of_m_and_the_skipped_lines(tmp_path):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(png_bytes(name))
    listing = tmp_path / "gt.txt"
    listing.write_text('a.png, "Hello, World"\nmissing.png, "x"\nb.png, "\\"q\\""\n', encoding="utf-8-sig")
    result = run("create", "--format", "icdar", "--input", listing, "--output", tmp_path / "lmdb")
    assert result.exit_code == 0, result.output
    assert "written 2 of 3" in result.stdout
    assert "line 2 missing.png: image file not found" in result.stdout
    assert (tmp_path / "lmdb.skipped.tsv").is_file()


def test_create_errors_are_one_line(tmp_path):
    listing = tmp_path / "list.tsv"
    (tmp_path / "a.png").write_bytes(png_bytes())
    listing.write_text("a.png\tword\n", encoding="utf-8")
    assert_one_line_error(
        run("create", "--format", "csv", "--input", listing, "--output", tmp_path / "o"), "--format 'csv'"
    )
    assert_one_line_error(
        run("create", "-f", "tsv", "-i", tmp_path / "nope.tsv", "-o", tmp_path / "o"),
        "nope.tsv",
        "cannot read",
    )
    assert run("create", "-f", "tsv", "-i", listing, "-o", tmp_path / "o").exit_code == 0
    assert_one_line_error(run("create", "-f", "tsv", "-i", listing, "-o", tmp_path / "o"), "already exists")
    assert run("create", "-f", "tsv", "-i", listing, "-o", tmp_path / "o", "--overwrite").exit_code == 0


def test_create_writes_nothing_but_errors_to_stderr(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "list.tsv").write_text("a.png\tword\n", encoding="utf-8")
    result = run("create", "-f", "tsv", "-i", tmp_path / "list.tsv", "-o", tmp_path / "o")
    assert result.exit_code == 0 and "written 1 of 1" in result.stdout
    assert result.stderr == ""  # no blank line left by the progress bar off a terminal


def test_create_with_the_wrong_format_names_the_one_that_reads_the_first_line(tmp_path):
    (tmp_path / "word_1.png").write_bytes(png_bytes())
    (tmp_path / "gt.txt").write_text('word_1.png, "Hello"\n', encoding="utf-8")
    result = run("create", "-f", "tags", "-i", tmp_path / "gt.txt", "-o", tmp_path / "o")
    assert_one_line_error(result, "none of the 1 samples", "--format icdar")
    (tmp_path / "list.tsv").write_text("word_1.png\tHello\n", encoding="utf-8")
    assert_one_line_error(
        run("create", "-f", "tags", "-i", tmp_path / "list.tsv", "-o", tmp_path / "o"), "--format tsv"
    )
    (tmp_path / "junk.txt").write_text("nothing here\n", encoding="utf-8")
    result = run("create", "-f", "tags", "-i", tmp_path / "junk.txt", "-o", tmp_path / "o")
    assert_one_line_error(result, "none of the 1 samples")
    assert "--format" not in result.stderr


def test_stats_reports_count_lengths_characters_and_coverage(tmp_path):
    write_lmdb(tmp_path / "root" / "one", ["Hello", "hi", "中文"])
    write_lmdb(tmp_path / "root" / "two", ["a-b"])
    result = run("stats", tmp_path / "root", "--charset", "en36")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "samples: 4" in out and "characters: 12" in out
    assert "label length" in out and "outside charset en36" in out
    assert "'h'" in out and "'中'" in out


def test_label_stats_counts_coverage_as_written_and_lowercased():
    stats = label_stats(["Hello", "hi", "中文", "a-b"], Charset.from_spec("en36"))
    assert stats.count == 4
    assert stats.length_histogram() == [(2, 2), (3, 1), (4, 0), (5, 1)]
    assert stats.chars.most_common(1) == [("l", 2)] and stats.total_chars == 12
    assert stats.coverage.labels_outside == 3  # "Hello" (H), "中文", "a-b"
    assert stats.coverage_lowercased.labels_outside == 2
    assert stats.coverage_lowercased.chars_outside == {"中": 1, "文": 1, "-": 1}


def test_stats_errors_are_one_line(tmp_path):
    write_lmdb(tmp_path / "set", ["x"])
    assert_one_line_error(run("stats", tmp_path / "missing"), "missing", "no such file")
    (tmp_path / "plain").mkdir()
    assert_one_line_error(run("stats", tmp_path / "plain"), "no LMDB found")
    assert_one_line_error(run("stats", tmp_path / "set", "--charset", tmp_path / "nokeys.txt"), "nokeys")


def test_show_writes_a_png_grid(tmp_path):
    labels = ["Hello", "中文标签", "a very long label that cannot fit in one cell of the grid", "x"]
    images = [png_bytes(), png_bytes(), png_bytes(), b"not an image at all"]
    write_lmdb(tmp_path / "set", labels, images)
    out = tmp_path / "grids" / "grid.png"
    result = run("show", tmp_path / "set", "--output", out, "--count", 10, "--columns", 2)
    assert result.exit_code == 0, result.output
    assert "4 samples (1 unreadable)" in result.stdout
    with Image.open(out) as grid:
        assert grid.format == "PNG"
        assert grid.width == 2 * 240 and grid.height > 0
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]


def test_show_labels_samples_with_their_1_based_lmdb_keys(tmp_path):
    write_lmdb(tmp_path / "set", ["a", "b", "c"])
    samples = read_samples(tmp_path / "set", 3)
    assert [(s.source, s.label) for s in samples] == [("set[1]", "a"), ("set[2]", "b"), ("set[3]", "c")]


def test_show_errors_are_one_line(tmp_path):
    write_lmdb(tmp_path / "set", ["x"])
    assert_one_line_error(run("show", tmp_path / "none", "-o", tmp_path / "g.png"), "no such file")
    assert_one_line_error(run("show", tmp_path / "set", "-o", tmp_path / "g.png", "-n", 0), "count 0")
    (tmp_path / "g.png").mkdir()
    assert_one_line_error(run("show", tmp_path / "set", "-o", tmp_path / "g.png"))


@pytest.mark.parametrize("label", ["ok", "中文", "😀 emoji", "tab\tand\nnewline", ""])
def test_grid_draws_any_label_without_crashing(label):
    samples = [GridSample(Image.new("RGB", (30, 200), "white"), label, "set[1]")]
    samples.append(GridSample(None, label, "set[2]", "corrupt or truncated image"))
    sheet = render_grid(samples, columns=4)
    assert sheet.size[0] == 2 * 240
    assert label_font(12) is label_font(12)


def test_create_from_whole_photos_prints_the_summary_and_skips(tmp_path):
    from PIL import Image

    Image.new("RGB", (120, 60), "white").save(tmp_path / "photo.jpg")
    (tmp_path / "train.xml").write_text(
        "<tagset><image><imageName>photo.jpg</imageName><taggedRectangles>\n"
        '<taggedRectangle height="20" width="50" x="10" y="10"><tag>WORD</tag></taggedRectangle>\n'
        '<taggedRectangle height="20" width="1" x="10" y="10"><tag>THIN</tag></taggedRectangle>\n'
        "</taggedRectangles></image></tagset>\n",
        encoding="utf-8",
    )
    args = ["create", "--format", "svt", "--input", tmp_path / "train.xml", "--output", tmp_path / "lmdb"]
    result = run(*args, "--pad", "0.1")
    assert result.exit_code == 0, result.output
    assert "written 1 of 2 words from 1 images; skipped 1 degenerate box" in result.stdout
    assert "train.xml line 3 photo.jpg: degenerate box: 1 x 20 pixels" in result.stdout
    assert (tmp_path / "lmdb.skipped.tsv").is_file()
    assert_one_line_error(run(*args, "--overwrite", "--pad", "-1"), "--pad -1.0")


def test_create_lists_every_format_and_keeps_pad_to_photos(tmp_path):
    help_text = " ".join(run("create", "--help").stdout.split())
    for name in ("tsv", "tags", "icdar,", "jsonl", "svt", "icdar13-boxes", "icdar15-quads", "mlt-quads"):
        assert name in help_text
    assert "polygon-json" in help_text
    (tmp_path / "list.tsv").write_text("a.png\tword\n", encoding="utf-8")
    result = run("create", "-f", "tsv", "-i", tmp_path / "list.tsv", "-o", tmp_path / "o", "--pad", "0.2")
    assert_one_line_error(result, "--pad", "whole-photo formats")
    result = run("create", "-f", "coco", "-i", tmp_path / "list.tsv", "-o", tmp_path / "o")
    assert_one_line_error(result, "--format 'coco'", "svt", "polygon-json")
