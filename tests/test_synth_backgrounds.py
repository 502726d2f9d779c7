"""Background patches from annotated photos: word boxes painted out, photo lists honoured, folder usable
as --backgrounds. The photos are generated here: a smooth scene with dark words drawn in boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.errors import ScenetextError
from scenetext.synth import photo_backgrounds as pb
from scenetext.synth.backgrounds import BackgroundMaker, luminance

runner = CliRunner()
WORDS = ("OPEN", "Coffee", "42")
INK = 40  # words are drawn this dark; the scene itself never goes below 110


def _scene(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, bright, slightly textured scene (no ink-dark pixel anywhere)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 150 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + rng.normal(0, 3, (height, width))
    scene = np.stack([base, base * 0.9 + 20, base * 0.8 + 30], axis=-1)
    return np.clip(scene, 110, 255).astype(np.uint8)


def _photo(
    width: int, height: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """(photo with words, the same scene without them, word boxes x0, y0, x1, y1)."""
    clean = _scene(width, height, seed)
    image = Image.fromarray(clean)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    boxes = []
    for k, word in enumerate(WORDS):
        x, y = 40 + 150 * k, 60 + 90 * k
        left, top, right, bottom = draw.textbbox((x, y), word, font=font)
        draw.text((x, y), word, font=font, fill=(INK, INK, INK))
        boxes.append((left - 2, top - 2, right + 2, bottom + 2))
    return np.asarray(image), clean, boxes


def _svt_set(root: Path, names: tuple[str, ...] = ("a", "b")) -> Path:
    (root / "img").mkdir(parents=True)
    entries = []
    for k, name in enumerate(names):
        image, _, boxes = _photo(640, 400, k)
        Image.fromarray(image).save(root / "img" / f"{name}.png")
        rects = "".join(
            f'<taggedRectangle height="{y1 - y0}" width="{x1 - x0}" x="{x0}" y="{y0}"><tag>W</tag>'
            "</taggedRectangle>"
            for x0, y0, x1, y1 in boxes
        )
        entries.append(
            f"<image><imageName>img/{name}.png</imageName><taggedRectangles>{rects}</taggedRectangles></image>"
        )
    xml = root / "train.xml"
    xml.write_text(f'<?xml version="1.0" encoding="utf-8"?><tagset>{"".join(entries)}</tagset>', "utf-8")
    return xml


def _darkest(path: Path) -> float:
    return float(luminance(np.asarray(Image.open(path).convert("RGB"), np.float32)).min())


def test_painting_out_removes_the_ink_of_every_box():
    image, clean, boxes = _photo(640, 400, 0)
    painted, mask = pb.paint_out(image, boxes)
    for x0, y0, x1, y1 in boxes:
        before = luminance(image[y0:y1, x0:x1].astype(np.float32))
        after = luminance(painted[y0:y1, x0:x1].astype(np.float32))
        assert before.min() < INK + 10  # the fixture really has ink there
        assert after.min() > 100, "ink left inside a painted-out box"
        assert np.abs(after - luminance(clean[y0:y1, x0:x1].astype(np.float32))).mean() < 15
        assert mask[y0:y1, x0:x1].all()
    outside = mask == 0
    assert np.array_equal(painted[outside], image[outside])  # the rest of the photo is untouched


def test_svt_photos_become_text_free_patches(tmp_path):
    xml = _svt_set(tmp_path / "svt")
    out = tmp_path / "bg"
    result = runner.invoke(
        app, ["synth", "backgrounds", "--svt", str(xml), "--output", str(out), "--per-photo", "6"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 12 patches from 2 of 2 photos (6 word boxes painted out)" in result.output
    patches = sorted(out.glob("*.jpg"))
    assert len(patches) == 12
    assert all(_darkest(p) > 80 for p in patches), "a patch still shows word ink"
    rows = (out / pb.MANIFEST).read_text().splitlines()
    assert rows[0].startswith("patch\tphoto") and len(rows) == 13
    for row in rows[1:]:
        _, photo, x, y, w, h = row.split("\t")
        x, y, w, h = int(x), int(y), int(w), int(h)
        assert photo in ("img/a.png", "img/b.png")
        assert min(w, h) >= pb.MIN_SIDE and x + w <= 640 and y + h <= 400
        for ox0, oy0, ox1, oy1 in pb.overlay_boxes("svt", 640, 400):  # clear of the viewer's overlays
            assert x + w <= ox0 or x >= ox1 or y + h <= oy0 or y >= oy1

    maker = BackgroundMaker([out], system=False)
    assert len(maker.photos) == 12
    background = maker.make(np.random.default_rng(0), 32, 100, "photo")
    assert background.shape == (32, 100, 3) and luminance(background.astype(np.float32)).min() > 80


def test_patches_are_deterministic_per_photo(tmp_path):
    photos = pb.read_svt(_svt_set(tmp_path / "svt"))
    pb.write_backgrounds(photos, tmp_path / "one", per_photo=3, seed=4)
    pb.write_backgrounds(photos[1:], tmp_path / "two", per_photo=3, seed=4)
    pb.write_backgrounds(photos, tmp_path / "three", per_photo=3, seed=5)
    one = (tmp_path / "one" / pb.MANIFEST).read_text().splitlines()
    two = (tmp_path / "two" / pb.MANIFEST).read_text().splitlines()
    three = (tmp_path / "three" / pb.MANIFEST).read_text().splitlines()
    assert [row for row in one if "img/b.png" in row] == two[1:]  # excluding a leaves b's patches alone
    assert one != three


def test_include_and_exclude_lists(tmp_path):
    xml = _svt_set(tmp_path / "svt", ("a", "b", "c"))
    photos = pb.read_svt(xml)
    assert [p.name for p in pb.select(photos, exclude=["img/b.png"])] == ["img/a.png", "img/c.png"]
    assert [p.name for p in pb.select(photos, include=["a.png", "c.png"], exclude=["c.png"])] == ["img/a.png"]
    with pytest.raises(ScenetextError, match="exclude list: no annotated photo named 'img/z.png'"):
        pb.select(photos, exclude=["img/z.png"])

    keep = tmp_path / "train-photos.txt"
    keep.write_text("# train part\nimg/a.png\n\nc.png\n", encoding="utf-8")
    held_out = tmp_path / "held-out.txt"
    held_out.write_text("img/c.png\n", encoding="utf-8")
    out = tmp_path / "bg"
    args = ["synth", "backgrounds", "--svt", str(xml), "--output", str(out), "--per-photo", "2"]
    result = runner.invoke(app, [*args, "--include-list", str(keep), "--exclude-list", str(held_out)])
    assert result.exit_code == 0, result.output
    sources = {row.split("\t")[1] for row in (out / pb.MANIFEST).read_text().splitlines()[1:]}
    assert sources == {"img/a.png"}

    held_out.write_text("img/typo.png\n", encoding="utf-8")
    result = runner.invoke(app, [*args, "--overwrite", "--exclude-list", str(held_out)])
    assert result.exit_code == 1
    assert result.output.strip() == "error: exclude list: no annotated photo named 'img/typo.png'"


def test_ic13_boxes_are_read_and_painted_out(tmp_path):
    root = tmp_path / "ic13"
    (root / "gt").mkdir(parents=True)
    (root / "images").mkdir()
    image, _, boxes = _photo(480, 320, 7)
    Image.fromarray(image).save(root / "images" / "img_1.png")
    lines = [
        f'{x0}, {y0}, {x1 - 1}, {y1 - 1}, "{word}"'
        for (x0, y0, x1, y1), word in zip(boxes, WORDS, strict=True)
    ]
    (root / "gt" / "gt_img_1.txt").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    photos = pb.read_ic13(root)
    assert [(p.name, p.boxes) for p in photos] == [("images/img_1.png", boxes)]
    summary = pb.write_backgrounds(photos, tmp_path / "bg", per_photo=4)
    assert summary.patches == 4 and summary.boxes == 3
    assert all(_darkest(p) > 80 for p in (tmp_path / "bg").glob("*.jpg"))

    (root / "gt" / "gt_img_1.txt").write_text("10, 20, 30\n", encoding="utf-8")
    with pytest.raises(ScenetextError, match=r"gt_img_1.txt line 1: expected"):
        pb.read_ic13(root)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs --svt FILE or --ic13 DIR"),
        (["--svt", "{tmp}/missing.xml"], "missing.xml: cannot read"),
        (["--svt", "{tmp}/bad.xml"], "bad.xml: not valid XML"),
        (["--svt", "{tmp}/svt/train.xml", "--per-photo", "0"], "--per-photo 0: must be at least 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    _svt_set(tmp_path / "svt", ("a",))
    (tmp_path / "bad.xml").write_text("<tagset><image>", encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(app, ["synth", "backgrounds", "--output", str(tmp_path / "bg"), *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_a_folder_it_did_not_write_is_never_replaced(tmp_path):
    xml = _svt_set(tmp_path / "svt", ("a",))
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me", encoding="utf-8")
    args = ["synth", "backgrounds", "--svt", str(xml), "--output", str(other), "--per-photo", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "exists and is not empty" in result.output
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 1 and "not a folder written by this tool" in result.output
    assert (other / "notes.txt").read_text(encoding="utf-8") == "keep me"

    out = tmp_path / "bg"
    assert runner.invoke(app, [*args[:-4], "--output", str(out), "--per-photo", "1"]).exit_code == 0
    assert (
        runner.invoke(app, [*args[:-4], "--output", str(out), "--per-photo", "2", "--overwrite"]).exit_code
        == 0
    )
    assert len(list(out.glob("*.jpg"))) == 2
