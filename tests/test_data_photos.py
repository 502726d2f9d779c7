"""Whole-photo importers: upright crops through rotated and perspective quads, every format, every skip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from scenetext.data.lmdb_store import LmdbReader
from scenetext.data.photos import SkipWord, create_photo_lmdb, crop_word, polygon_to_quad, read_annotations
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import load_image

PATTERN_W, PATTERN_H = 96, 32


def pattern() -> np.ndarray:
    """A word-sized RGB pattern that shows its orientation: red grows left to right, green top to bottom,
    and a black block marks the top-left corner."""
    x = np.linspace(0, 255, PATTERN_W)[None, :].repeat(PATTERN_H, 0)
    y = np.linspace(0, 255, PATTERN_H)[:, None].repeat(PATTERN_W, 1)
    image = np.stack([x, y, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    image[:12, :20] = 0
    return image


def photo_with_pattern(corners: np.ndarray, size: int = 200) -> np.ndarray:
    """A white photo with the pattern warped so that its corners land on ``corners`` (TL, TR, BR, BL)."""
    source = np.array([[0, 0], [PATTERN_W - 1, 0], [PATTERN_W - 1, PATTERN_H - 1], [0, PATTERN_H - 1]])
    warp = cv2.getPerspectiveTransform(source.astype(np.float32), corners.astype(np.float32))
    return cv2.warpPerspective(
        pattern(), warp, (size, size), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255)
    )


def rotated_corners(angle_degrees: float, centre=(100, 100)) -> np.ndarray:
    """The pattern's corners (TL, TR, BR, BL) turned by ``angle_degrees`` around ``centre``."""
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [(PATTERN_W - 1) / 2, (PATTERN_H - 1) / 2]
    a = np.deg2rad(angle_degrees)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return half @ turn.T + centre


def difference_from_pattern(crop: np.ndarray) -> float:
    resized = cv2.resize(crop, (PATTERN_W, PATTERN_H), interpolation=cv2.INTER_AREA)
    return float(np.abs(resized.astype(float) - pattern().astype(float)).mean())


PERSPECTIVE = np.array([[40.0, 60.0], [170.0, 40.0], [160.0, 120.0], [50.0, 100.0]])


@pytest.mark.parametrize(
    "corners",
    [rotated_corners(0), rotated_corners(25), rotated_corners(-70), rotated_corners(160), PERSPECTIVE],
    ids=["level", "rotated-25", "rotated-minus-70", "upside-down-160", "perspective"],
)
def test_quad_crop_comes_out_upright(corners):
    photo = photo_with_pattern(corners)
    crop = crop_word(photo, corners)
    assert difference_from_pattern(crop) < 12
    # The same crop flipped either way is far from the pattern: the check can tell upright from not.
    assert difference_from_pattern(crop[::-1, ::-1]) > 40
    assert difference_from_pattern(crop[:, ::-1]) > 40
    # Counter-clockwise vertex order from the same first corner: the same crop, not a mirror image.
    assert difference_from_pattern(crop_word(photo, corners[[0, 3, 2, 1]])) < 12


def test_level_crop_is_tight_and_exact():
    photo = np.random.default_rng(0).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    box = np.array([[10, 5], [39, 5], [39, 14], [10, 14]])  # first and last pixels, inclusive
    crop = crop_word(photo, box)
    assert crop.shape == (10, 30, 3)
    assert np.array_equal(crop, photo[5:15, 10:40])
    padded = crop_word(photo, box, pad=0.2)  # 2 pixels (0.2 of the height) on every side
    assert np.array_equal(padded, photo[3:17, 8:42])


def test_box_partly_outside_is_clipped_and_wholly_outside_is_skipped():
    photo = np.full((40, 60, 3), 200, np.uint8)
    crop = crop_word(photo, np.array([[50, -5], [79, -5], [79, 9], [50, 9]]))
    assert crop.shape == (10, 10, 3)
    with pytest.raises(SkipWord, match="outside the image"):
        crop_word(photo, np.array([[70, 5], [90, 5], [90, 15], [70, 15]]))


@pytest.mark.parametrize(
    "points",
    [
        [[5, 5], [5, 5], [5, 9], [5, 9]],
        [[0, 0], [10, 0], [20, 0], [30, 0]],
        [[3, 3], [12, 3], [12, 3], [3, 3]],
    ],
    ids=["one-pixel-wide", "collinear", "one-pixel-tall"],
)
def test_degenerate_boxes_are_skipped(points):
    with pytest.raises(SkipWord, match="degenerate box"):
        crop_word(np.zeros((40, 40, 3), np.uint8), np.array(points))


def six_point_ring(corners: np.ndarray) -> np.ndarray:
    """The quad's corners with the midpoints of its right and left sides: a six-point polygon."""
    right, left = corners[1:3].mean(0)[None], corners[[3, 0]].mean(0)[None]
    return np.concatenate([corners[:2], right, corners[2:], left])


def test_polygon_goes_through_a_quad_that_starts_at_its_first_vertex():
    # A curved word's polygon: top edge left to right, then bottom edge right to left.
    top = [[20 + 20 * i, 40 - 6 * np.sin(np.pi * i / 5)] for i in range(6)]
    bottom = [[x, y + 30] for x, y in reversed(top)]
    polygon = np.array(top + bottom)
    quad = polygon_to_quad(polygon)
    assert len(quad) == 4
    assert np.linalg.norm(quad[0] - polygon[0]) < 10  # top-left first
    assert quad[1][0] > quad[0][0] + 50  # then towards the top-right
    # Any polygon around the rotated pattern crops it upright, whichever vertex count it has.
    corners = rotated_corners(30)
    photo = photo_with_pattern(corners)
    ring = six_point_ring(corners)
    assert difference_from_pattern(crop_word(photo, ring)) < 12


# ---- formats, on generated photo folders ------------------------------------------------------------------


def save_photo(path, corners=None, size=200):
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = photo_with_pattern(corners) if corners is not None else np.full((size, size, 3), 240, np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))


def report_rows(output):
    text = output.with_name(output.name + ".skipped.tsv").read_text(encoding="utf-8")
    return [row.split("\t") for row in text.splitlines()]


def test_svt_xml(tmp_path):
    save_photo(tmp_path / "img" / "a.jpg")
    save_photo(tmp_path / "img" / "b.png", rotated_corners(0))
    xml = """<?xml version="1.0" encoding="utf-8"?>
<tagset>
  <image>
    <imageName>img/a.jpg</imageName>
    <lex>HELLO,WORLD</lex>
    <taggedRectangles>
      <taggedRectangle height="20" width="60" x="10" y="30"><tag>HELLO</tag></taggedRectangle>
      <taggedRectangle height="20" width="60" x="185" y="30"><tag>EDGE</tag></taggedRectangle>
      <taggedRectangle height="20" width="1" x="10" y="30"><tag>THIN</tag></taggedRectangle>
      <taggedRectangle height="20" width="60" y="30"><tag>NOX</tag></taggedRectangle>
      <taggedRectangle height="20" width="60" x="10" y="30"><tag> </tag></taggedRectangle>
    </taggedRectangles>
  </image>
  <image>
    <imageName>img/b.png</imageName>
    <taggedRectangles>
      <taggedRectangle height="32" width="96" x="52" y="84"><tag>PATTERN</tag></taggedRectangle>
    </taggedRectangles>
  </image>
  <image>
    <imageName>img/missing.jpg</imageName>
    <taggedRectangles>
      <taggedRectangle height="20" width="60" x="10" y="30"><tag>GONE</tag></taggedRectangle>
    </taggedRectangles>
  </image>
</tagset>
"""
    (tmp_path / "train.xml").write_text(xml, encoding="utf-8")
    result = create_photo_lmdb("svt", tmp_path / "train.xml", tmp_path / "out")
    reader = LmdbReader(tmp_path / "out")
    assert reader.labels() == ["HELLO", "EDGE", "PATTERN"]
    assert reader.sources() == [b"img/a.jpg", b"img/a.jpg", b"img/b.png"]
    assert load_image(reader.read_image(0)).size == (60, 20)
    assert load_image(reader.read_image(1)).size == (15, 20)  # clipped at the photo's right edge
    assert difference_from_pattern(np.asarray(load_image(reader.read_image(2)))) < 12
    assert result.summary == (
        "written 3 of 7 words from 3 images; skipped 1 degenerate box, 1 malformed annotation, "
        "1 empty transcription, 1 image not found; 1 taller than wide (kept)"
    )
    rows = report_rows(tmp_path / "out")
    assert rows[0] == ["file", "where", "image", "reason"]
    assert [row[:3] for row in rows[1:]] == [
        ["train.xml", "line 9", "img/a.jpg"],
        ["train.xml", "line 10", "img/a.jpg"],
        ["train.xml", "line 11", "img/a.jpg"],
        ["train.xml", "line 23", "img/missing.jpg"],
    ]
    assert rows[2][3] == "malformed annotation: taggedRectangle without x"


def test_icdar13_boxes_folder_with_separate_images(tmp_path):
    save_photo(tmp_path / "images" / "img_1.png")
    save_photo(tmp_path / "images" / "img_2.gif")
    (tmp_path / "images" / "img_3.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    gt = tmp_path / "gt"
    gt.mkdir()
    lines = [
        '10, 20, 69, 39, "Hello"',
        '10, 20, 69, 39, "\\"CLuB\\""',
        '10, 20, 69, 39, ""',
        '10, 20, 13, 20, "-"',
        "10, 20, 69",
        '190, 20, 229, 39, "edge"',
        '38 43 97 62 "spaces"',
        '10, 20, x, 39, "word"',
    ]
    (gt / "gt_img_1.txt").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    (gt / "gt_img_2.txt").write_text('5, 5, 24, 14, "two"\n', encoding="utf-8")
    (gt / "gt_img_3.txt").write_text('5, 5, 24, 14, "bad"\n', encoding="utf-8")
    (gt / "gt_img_10.txt").write_text('5, 5, 24, 14, "lost"\n', encoding="utf-8")
    result = create_photo_lmdb("icdar13-boxes", gt, tmp_path / "out", images=tmp_path / "images")
    reader = LmdbReader(tmp_path / "out")
    assert reader.labels() == ["Hello", '"CLuB"', "edge", "spaces", "two"]
    assert load_image(reader.read_image(0)).size == (60, 20)  # x2, y2 are the last pixel
    assert load_image(reader.read_image(2)).size == (10, 20)  # clipped
    assert reader.sources()[-1] == b"img_2.gif"
    skipped = [(s.file, s.where, s.kind) for s in result.skipped]
    assert skipped == [
        ("gt_img_1.txt", "line 3", "empty transcription"),
        ("gt_img_1.txt", "line 4", "degenerate box"),
        ("gt_img_1.txt", "line 5", "malformed annotation"),
        ("gt_img_1.txt", "line 8", "malformed annotation"),
        ("gt_img_3.txt", "line 1", "image unreadable"),
        ("gt_img_10.txt", "line 1", "image not found"),
    ]
    assert "4 x 1 pixels" in result.skipped[1].reason
    assert "'x'" in result.skipped[3].reason


def test_icdar15_and_mlt_quads(tmp_path):
    corners = rotated_corners(-20)
    save_photo(tmp_path / "img_1.jpg", corners)
    quad = ",".join(str(round(v)) for v in corners.flatten())
    (tmp_path / "gt_img_1.txt").write_text(
        f"\ufeff{quad},Genaxis Theatre, Inc\n{quad},###\n1,2,3,4,5,6,7,word\n", encoding="utf-8"
    )
    result = create_photo_lmdb("icdar15-quads", tmp_path, tmp_path / "out")
    reader = LmdbReader(tmp_path / "out")
    assert reader.labels() == ["Genaxis Theatre, Inc"]
    assert difference_from_pattern(np.asarray(load_image(reader.read_image(0)))) < 15
    assert [(s.where, s.kind) for s in result.skipped] == [
        ("line 2", "do-not-care"),
        ("line 3", "malformed annotation"),
    ]

    mlt = tmp_path / "mlt"
    mlt.mkdir()
    (mlt / "gt_img_1.txt").write_text(f"{quad},Latin,Hello, you\n{quad},Latin,###\n", encoding="utf-8")
    create_photo_lmdb("mlt-quads", mlt / "gt_img_1.txt", tmp_path / "mlt-out", images=tmp_path)
    assert LmdbReader(tmp_path / "mlt-out").labels() == ["Hello, you"]


def test_polygon_json_coco_text_and_textocr_layouts(tmp_path):
    corners = rotated_corners(15)
    save_photo(tmp_path / "train" / "p.jpg", corners)
    ring = six_point_ring(corners)
    textocr = {
        "imgs": {"p": {"id": "p", "file_name": "train/p.jpg", "width": 200, "height": 200}},
        "anns": {
            "p_1": {"image_id": "p", "utf8_string": "curved", "points": ring.flatten().tolist()},
            "p_2": {"image_id": "p", "utf8_string": "box", "bbox": [10, 10, 40, 12]},
            "p_3": {"image_id": "p", "utf8_string": ".", "bbox": [10, 10, 40, 12]},
            "p_4": {"image_id": "q", "utf8_string": "orphan", "bbox": [10, 10, 40, 12]},
            "p_5": {"image_id": "p", "utf8_string": "nogeometry"},
        },
    }
    (tmp_path / "textocr.json").write_text(json.dumps(textocr), encoding="utf-8")
    result = create_photo_lmdb("polygon-json", tmp_path / "textocr.json", tmp_path / "out")
    reader = LmdbReader(tmp_path / "out")
    assert reader.labels() == ["curved", "box"]
    assert difference_from_pattern(np.asarray(load_image(reader.read_image(0)))) < 15
    assert load_image(reader.read_image(1)).size == (40, 12)
    assert [(s.where, s.kind) for s in result.skipped] == [
        ('anns["p_3"]', "illegible"),
        ('anns["p_4"]', "malformed annotation"),
        ('anns["p_5"]', "malformed annotation"),
    ]

    coco = {
        "imgs": [{"id": 7, "file_name": "train/p.jpg"}],
        "anns": [
            {"id": 1, "image_id": 7, "utf8_string": "Word", "mask": ring.tolist(), "legibility": "legible"},
            {"id": 2, "image_id": 7, "bbox": [10, 10, 40, 12], "legibility": "illegible"},
        ],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco), encoding="utf-8")
    result = create_photo_lmdb("polygon-json", tmp_path / "coco.json", tmp_path / "coco-out")
    assert LmdbReader(tmp_path / "coco-out").labels() == ["Word"]
    assert [(s.where, s.kind) for s in result.skipped] == [("anns[1]", "illegible")]


def test_whole_file_problems_are_one_line_errors(tmp_path):
    (tmp_path / "bad.xml").write_text("<tagset><image></tagset>", encoding="utf-8")
    with pytest.raises(ScenetextError, match="not well-formed XML"):
        read_annotations("svt", tmp_path / "bad.xml")
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ScenetextError, match="'imgs' and 'anns'"):
        read_annotations("polygon-json", tmp_path / "bad.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenetextError, match=r"no ground-truth files \(\*.txt\)"):
        read_annotations("icdar15-quads", tmp_path / "empty")
    with pytest.raises(ScenetextError, match="no such file"):
        read_annotations("svt", tmp_path / "nope.xml")
    with pytest.raises(ScenetextError, match="image folder is not a directory"):
        read_annotations("svt", tmp_path / "bad.xml", images=tmp_path / "nope")
    (tmp_path / "gt_img_1.txt").write_text("1,1,40,1,40,20,1,20,word\n", encoding="utf-8")
    with pytest.raises(ScenetextError, match=r"none of the 1 annotated words gives a crop .*image not found"):
        create_photo_lmdb("icdar15-quads", tmp_path / "gt_img_1.txt", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "out.skipped.tsv").is_file()
