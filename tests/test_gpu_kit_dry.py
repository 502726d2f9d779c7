"""The GPU kit end to end on the CPU: `scripts/gpu-kit.sh build` on small generated inputs (real-data lists in
both formats, one font folder, a few backgrounds, a short word list, the cp311 wheels from PyPI), then
`scripts/gpu-kit.sh run --dry`, which installs the wheels into a fresh target, trains, checkpoints, exports
and reads its rendered samples back with `scenetext read --model`."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from synth_helpers import latin_fonts

from scenetext.data.importers import create_lmdb
from scenetext.data.lmdb_store import LmdbReader

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
WORDS = 20  # per real set: the 10% held out is 2 of each


def _word_image(path: Path, text: str) -> None:
    image = Image.new("RGB", (24 + 14 * len(text), 40), (230, 230, 220))
    ImageDraw.Draw(image).text((8, 8), text, fill=(20, 20, 40), font=ImageFont.load_default(size=22))
    image.save(path)


def _real_data(root: Path) -> None:
    """IIIT5K-style tags and IC15-style gt.txt lists, every label unique so the split can be checked."""
    iiit = root / "iiit5k-train"
    (iiit / "train").mkdir(parents=True)
    lines = []
    for i in range(WORDS):
        _word_image(iiit / "train" / f"{i}.png", f"Iw{i}!")
        lines.append(f"train/{i}.png Iw{i}!")
    (iiit / "train-punct.tags").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ic15 = root / "ic15-train"
    ic15.mkdir()
    lines = []
    for i in range(WORDS):
        _word_image(ic15 / f"word_{i + 1}.png", f"IC{i}")
        lines.append(f'word_{i + 1}.png, "IC{i}"')
    (ic15 / "gt.txt").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")


def _fonts(root: Path) -> str:
    """DejaVu when installed, else Pillow's own scalable font written out as a file."""
    found = latin_fonts()
    if found:
        return found[0]
    root.mkdir()
    (root / "builtin.ttf").write_bytes(ImageFont.load_default(size=20).font_bytes)
    return str(root)


def _backgrounds(root: Path) -> str:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)).save(root / f"bg{i}.png")
    return str(root)


def _split_labels(lmdb: Path, tmp: Path) -> tuple[set[str], set[str]]:
    """The labels scripts/split_lmdb.py puts on each side (the kit must hold exactly the train side)."""
    train, val = tmp / f"{lmdb.name}-train", tmp / f"{lmdb.name}-val"
    script = [sys.executable, str(REPO / "scripts/split_lmdb.py"), str(lmdb), str(train), str(val)]
    subprocess.run([*script, "--val-fraction", "0.1", "--seed", "0"], check=True, capture_output=True)
    sides = []
    for side in (train, val):
        reader = LmdbReader(side)
        sides.append({reader.read(i)[1] for i in range(len(reader))})
    return sides[0], sides[1]


def test_build_then_dry_run_leaves_an_artifact_that_scenetext_read_loads(tmp_path):
    real = tmp_path / "real"
    _real_data(real)
    kit, dry_kit, out = tmp_path / "kit", tmp_path / "kit-dry", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    build = [
        "scripts/gpu-kit.sh", "build", "--kit", str(kit), "--dry-kit", str(dry_kit), "--real", str(real),
        "--fonts", _fonts(tmp_path / "fonts"), "--backgrounds", _backgrounds(tmp_path / "backgrounds"),
        "--vocab-size", "3000", "--wheels", "cp311", "--faces-per-family", "2", "--min-faces", "1",
    ]  # fmt: skip
    done = subprocess.run(build, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    manifest = json.loads((kit / "MANIFEST.json").read_text())
    assert manifest["real"] == {"iiit5k": 18, "iiit5k_held_out": 2, "ic15": 18, "ic15_held_out": 2}
    assert manifest["vocabulary_words"] == 3000 and manifest["backgrounds"] == 3
    assert len(list((dry_kit / "wheels").glob("*cp311*.whl"))) >= 5
    assert any((kit / "fonts").rglob("*.ttf")) and (kit / "font-index.json").is_file()
    sets = (("iiit5k", "tags", "iiit5k-train/train-punct.tags"), ("ic15", "icdar", "ic15-train/gt.txt"))
    for name, fmt, listing in sets:
        create_lmdb(fmt, real / listing, tmp_path / name)
        train_labels, held_out = _split_labels(tmp_path / name, tmp_path)
        with zipfile.ZipFile(kit / "real" / f"{name}.zip") as archive:
            labels = json.loads(archive.read("labels.json"))
            image = np.asarray(Image.open(io.BytesIO(archive.read("000000.jpg"))))
        assert set(labels) == train_labels and not train_labels & held_out
        assert image.shape[0] == 32  # re-encoded at training height

    env["OUT"] = str(out)
    env["KIT"], env["KIT_DRY"] = str(kit), str(dry_kit)
    command = ["scripts/gpu-kit.sh", "run", "--dry", "--set", "trainer.max_time=00:00:00:12"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "training path imports; carried packages from" in done.stdout

    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"] >= 5 and math.isfinite(stats["final_loss"])
    assert stats["images_per_second"] > 0 and 0 <= stats["data_wait_fraction"] <= 1
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(
        ["config.json", "model.safetensors"] * 2 + ["log.txt", "stats.json"]
    )  # the device tool brings back at most eight files
    for folder in ("artifact", "checkpoint"):
        config = json.loads((out / folder / "config.json").read_text())
        assert config["model"]["name"] == "nastr-tiny" and len(config["charset"]["chars"]) == 94
    read_lines = [line for line in done.stdout.splitlines() if line.split("\t")[0].endswith(".png")]
    assert len(read_lines) == 4 and all(len(line.split("\t")) == 3 for line in read_lines)
