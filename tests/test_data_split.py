"""`scenetext data split`: the old record-level selection exactly, whole photos on one side, many LMDBs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_helpers import png_bytes
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.data.lmdb_store import LmdbReader, LmdbWriter
from scenetext.data.split import select_held_out, split_lmdb, split_root
from scenetext.errors import ScenetextError

REPO = Path(__file__).resolve().parents[1]


def old_selection(total: int, fraction: float, seed: int) -> list[int]:
    """What scripts/split_lmdb.py held out before it moved into the package (the shipped models' split)."""
    order = np.random.default_rng(seed).permutation(total)
    return sorted(order[: max(1, round(total * fraction))].tolist())


def write(path: Path, labels: list[str], sources: list[str | None] | None = None) -> Path:
    sources = sources or [None] * len(labels)
    with LmdbWriter(path) as writer:
        for label, source in zip(labels, sources, strict=True):
            writer.add(png_bytes(label[:3]), label, source)
    return path


@pytest.mark.parametrize("total", [2, 7, 257, 2000, 4468])
@pytest.mark.parametrize(("fraction", "seed"), [(0.1, 0), (0.05, 0), (0.3, 3)])
def test_without_sources_the_selection_is_the_old_one(total, fraction, seed):
    assert select_held_out([None] * total, fraction, seed) == old_selection(total, fraction, seed)


def test_whole_photos_stay_on_one_side():
    rng = np.random.default_rng(5)
    sources = [f"img/{p}.jpg".encode() for p in rng.integers(0, 40, 400)] + [None] * 20
    held_out = select_held_out(sources, 0.1, 0)
    assert held_out == select_held_out(sources, 0.1, 0)
    assert held_out != select_held_out(sources, 0.1, 1)
    val = {sources[i] for i in held_out} - {None}
    train = {s for i, s in enumerate(sources) if i not in set(held_out)} - {None}
    assert not val & train
    assert 42 <= len(held_out) < 100  # at least round(420 * 0.1), by whole photos


@pytest.mark.parametrize(
    ("sources", "fraction", "message"),
    [
        ([None] * 5, 0.0, "between 0 and 1"),
        ([None] * 5, 1.0, "between 0 and 1"),
        ([None], 0.5, "1 records from 1 record: too few"),
        ([b"a.jpg"] * 4, 0.5, "4 records from 1 photo: too few"),
        ([None, None], 0.9, "no record for training"),
    ],
)
def test_impossible_splits_say_why(sources, fraction, message):
    with pytest.raises(ScenetextError, match=message):
        select_held_out(sources, fraction, 0)


def test_records_and_sources_are_copied_and_the_wrapper_script_agrees(tmp_path):
    labels = [f"w{i}" for i in range(23)]
    write(tmp_path / "in", labels)
    result = split_lmdb(tmp_path / "in", tmp_path / "train", tmp_path / "val", 0.2, 4)
    held = old_selection(23, 0.2, 4)
    assert (result.train, result.val, result.photos) == (18, 5, None)
    assert LmdbReader(tmp_path / "val").labels() == [labels[i] for i in held]
    assert LmdbReader(tmp_path / "train").labels() == [x for i, x in enumerate(labels) if i not in held]
    assert LmdbReader(tmp_path / "val").read_image(0) == LmdbReader(tmp_path / "in").read_image(held[0])
    script = [sys.executable, str(REPO / "scripts" / "split_lmdb.py"), str(tmp_path / "in")]
    script += [str(tmp_path / "t2"), str(tmp_path / "v2"), "--val-fraction", "0.2", "--seed", "4"]
    done = subprocess.run(script, capture_output=True, text=True, check=True, cwd=REPO)
    assert "18 records" in done.stdout
    assert LmdbReader(tmp_path / "v2").labels() == LmdbReader(tmp_path / "val").labels()

    write(tmp_path / "photos", ["a", "b", "c", "d"], ["1.jpg", "1.jpg", "2.jpg", "3.jpg"])
    result = split_lmdb(tmp_path / "photos", tmp_path / "pt", tmp_path / "pv", 0.25, 0)
    assert result.photos == 3
    assert set(LmdbReader(tmp_path / "pv").sources()) | set(LmdbReader(tmp_path / "pt").sources()) == {
        b"1.jpg",
        b"2.jpg",
        b"3.jpg",
    }
    assert not set(LmdbReader(tmp_path / "pv").sources()) & set(LmdbReader(tmp_path / "pt").sources())


def test_a_root_of_several_lmdbs_is_split_lmdb_by_lmdb(tmp_path):
    write(tmp_path / "root" / "iiit5k", [f"i{i}" for i in range(20)])
    write(tmp_path / "root" / "more" / "ic15", [f"c{i}" for i in range(30)])
    results = split_root(tmp_path / "root", tmp_path / "dev", tmp_path / "report", 0.5, 0)
    assert [(r.train, r.val) for r in results] == [(10, 10), (15, 15)]
    assert LmdbReader(tmp_path / "report" / "more" / "ic15").labels() == [
        f"c{i}" for i in old_selection(30, 0.5, 0)
    ]
    assert len(LmdbReader(tmp_path / "dev" / "iiit5k")) == 10
    # Existing outputs are refused before anything is written, and outputs inside the input too.
    (tmp_path / "dev" / "iiit5k" / "data.mdb").unlink()
    with pytest.raises(ScenetextError, match="already exists"):
        split_root(tmp_path / "root", tmp_path / "dev", tmp_path / "report", 0.5, 0)
    assert not (tmp_path / "dev" / "iiit5k" / "data.mdb").exists()
    with pytest.raises(ScenetextError, match="lies inside the input"):
        split_root(tmp_path / "root", tmp_path / "root" / "t", tmp_path / "v", 0.5, 0)
    assert len(split_root(tmp_path / "root", tmp_path / "dev", tmp_path / "report", 0.5, 0, True)) == 2


def test_cli_split(tmp_path):
    write(tmp_path / "set", [f"w{i}" for i in range(10)], [f"{i // 2}.jpg" for i in range(10)])
    runner = CliRunner()
    args = ["data", "split", str(tmp_path / "set"), str(tmp_path / "t"), str(tmp_path / "v")]
    result = runner.invoke(app, [*args, "--val-fraction", "0.2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "10 records from 5 photos -> 8 in" in result.stdout
    result = runner.invoke(app, [*args, "--val-fraction", "2"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["error: --val-fraction 2.0: must be between 0 and 1"]
