"""List importers: every format with BOM, quotes, commas and spaces; unreadable images reported, not fatal."""

from __future__ import annotations

import json

import pytest
from data_helpers import png_bytes

from scenetext.data.importers import create_lmdb, parse_line, read_list, report_path_for
from scenetext.data.lmdb_store import LmdbReader
from scenetext.errors import ScenetextError

BOM = "\ufeff"


def make_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(png_bytes(name[:3]))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('word_1.png, "Genaxis Theatre"', ("word_1.png", "Genaxis Theatre")),
        ('word_159.png, "100,000"', ("word_159.png", "100,000")),
        ('word_1018.png, "\\"SCAN\\""', ("word_1018.png", '"SCAN"')),
        ('word_1013.png, "READER\\""', ("word_1013.png", 'READER"')),
        ('word_7.png, "say ""hi"""', ("word_7.png", 'say "hi"')),
        ('word_8.png, "back\\\\slash"', ("word_8.png", "back\\slash")),
        ('word_9.png, "ends\\"', ("word_9.png", "ends\\")),
        ("word_10.png, plain, with comma", ("word_10.png", "plain, with comma")),
        ('word_11.png,"no space"  ', ("word_11.png", "no space")),
    ],
)
def test_icdar_lines(line, expected):
    assert parse_line("icdar", line) == expected


@pytest.mark.parametrize(
    ("fmt", "line", "reason"),
    [
        ("icdar", "word_1.png", "no comma"),
        ("icdar", 'word_1.png, "open', "unterminated"),
        ("icdar", 'word_1.png, "a" b', "after the closing quote"),
        ("icdar", 'word_1.png, ""', "empty label"),
        ("tsv", "img.png no tab", "no tab"),
        ("tags", "img.png", "no space"),
        ("jsonl", "{not json", "invalid JSON"),
        ("jsonl", '{"filename": "a.png"}', "'text'"),
        ("jsonl", "[1, 2]", "JSON object"),
    ],
)
def test_malformed_lines_say_why(fmt, line, reason):
    with pytest.raises(ScenetextError, match=reason):
        parse_line(fmt, line)


def test_tsv_and_tags_split_at_the_first_separator(tmp_path):
    assert parse_line("tsv", "a b.png\tNew York, NY\tx") == ("a b.png", "New York, NY\tx")
    assert parse_line("tags", "train/1.png two words") == ("train/1.png", "two words")
    listing = tmp_path / "list.tsv"
    listing.write_bytes((BOM + "a.png\tfirst one\r\n\r\nbroken line\r\nb.png\t中文\r\n").encode())
    entries, malformed = read_list("tsv", listing)
    assert [(e.line, e.path, e.label) for e in entries] == [(1, "a.png", "first one"), (4, "b.png", "中文")]
    assert [(m.line, "no tab" in m.reason) for m in malformed] == [(3, True)]


def test_icdar_file_with_bom_and_crlf_round_trips(tmp_path):
    make_images(tmp_path, ["word_1.png", "word_2.png", "word_3.png"])
    gt = tmp_path / "gt.txt"
    gt.write_bytes(
        (
            BOM + 'word_1.png, "Genaxis Theatre"\r\nword_2.png, "\\"SCAN\\""\r\nword_3.png, "36,000,000"\r\n'
        ).encode()
    )
    result = create_lmdb("icdar", gt, tmp_path / "out")
    assert result.summary == "written 3 of 3"
    assert result.report is None and not report_path_for(tmp_path / "out").exists()
    assert LmdbReader(tmp_path / "out").labels() == ["Genaxis Theatre", '"SCAN"', "36,000,000"]


def test_jsonl_and_tags_with_a_separate_root(tmp_path):
    make_images(tmp_path / "images" / "train", ["1.png", "2.png"])
    lists = tmp_path / "lists"
    lists.mkdir()
    jsonl = lists / "labels.jsonl"
    rows = [{"filename": "train/1.png", "text": "Hello World"}, {"filename": "train/2.png", "text": '"q", x'}]
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = create_lmdb("jsonl", jsonl, tmp_path / "j", root=tmp_path / "images")
    assert result.written == 2
    assert LmdbReader(tmp_path / "j").labels() == ["Hello World", '"q", x']

    tags = tmp_path / "images" / "train.tags"
    tags.write_text("train/1.png New York\ntrain/2.png IIIT\n", encoding="utf-8")
    create_lmdb("tags", tags, tmp_path / "t")  # root defaults to the list file's folder
    assert LmdbReader(tmp_path / "t").labels() == ["New York", "IIIT"]


def test_unreadable_images_and_bad_lines_are_skipped_and_reported(tmp_path):
    make_images(tmp_path, ["good1.png", "good2.png"])
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    listing = tmp_path / "list.tsv"
    listing.write_text(
        "good1.png\tone\n"
        "missing.png\ttwo\n"
        "garbage.png\tthree\n"
        "this line has no tab\n"
        "empty.png\tfive\n"
        "folder.png\tsix\n"
        "good2.png\tseven\n",
        encoding="utf-8",
    )
    result = create_lmdb("tsv", listing, tmp_path / "out" / "lmdb")
    assert result.summary == "written 2 of 7"
    assert LmdbReader(tmp_path / "out" / "lmdb").labels() == ["one", "seven"]
    assert [(s.line, s.path) for s in result.skipped] == [
        (2, "missing.png"),
        (3, "garbage.png"),
        (4, ""),
        (5, "empty.png"),
        (6, "folder.png"),
    ]
    assert "not found" in result.skipped[0].reason
    assert "empty" in result.skipped[3].reason
    report = (tmp_path / "out" / "lmdb.skipped.tsv").read_text(encoding="utf-8").splitlines()
    assert result.report == tmp_path / "out" / "lmdb.skipped.tsv"
    assert report[0] == "line\tpath\treason"
    assert [row.split("\t")[0] for row in report[1:]] == ["2", "3", "4", "5", "6"]
    assert "no tab" in report[3]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lmdb", "lmdb.skipped.tsv"]


def test_nothing_written_when_no_image_is_readable(tmp_path):
    listing = tmp_path / "list.tsv"
    listing.write_text("a.png\tx\nb.png\ty\n", encoding="utf-8")
    with pytest.raises(
        ScenetextError, match=r"none of the 2 samples is readable \(line 1: image file not found"
    ):
        create_lmdb("tsv", listing, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert report_path_for(tmp_path / "out").exists()


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(ScenetextError, match="unknown list format 'csv'"):
        read_list("csv", tmp_path / "x")
    with pytest.raises(ScenetextError, match="cannot read"):
        create_lmdb("tsv", tmp_path / "missing.tsv", tmp_path / "out")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ScenetextError, match="no samples listed"):
        create_lmdb("tsv", empty, tmp_path / "out")
    with pytest.raises(ScenetextError, match="image root is not a directory"):
        create_lmdb("tsv", empty, tmp_path / "out", root=tmp_path / "nope")
    assert not (tmp_path / "out").exists()


def test_invalid_utf8_line_is_reported_not_fatal(tmp_path):
    make_images(tmp_path, ["a.png"])
    listing = tmp_path / "list.tags"
    listing.write_bytes(b"a.png ok\nb.png \xff\xfe\n")
    entries, malformed = read_list("tags", listing)
    assert [e.label for e in entries] == ["ok"]
    assert [(m.line, m.reason) for m in malformed] == [(2, "line is not valid UTF-8")]
