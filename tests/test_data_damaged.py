"""Damaged data on disk: imports killed mid-way, truncated and corrupted LMDBs, through the real commands.

Every command runs in a fresh process (``data create`` is killed for real; a truncated LMDB used to end the
reading process with SIGBUS), so a crash fails the test instead of the test run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import TINY, make_lmdb, word_png

TESTS = Path(__file__).resolve().parent
# The real CLI in a fresh process, with the tiny test model registered.
LAUNCHER = (
    "import sys; sys.path.insert(0, {tests!r}); import engine_helpers; "
    "from scenetext.cli.main import app; sys.argv = ['scenetext'] + sys.argv[1:]; app()"
)


def scenetext(*args: str | Path) -> list[str]:
    return [sys.executable, "-c", LAUNCHER.format(tests=str(TESTS)), *map(str, args)]


def run(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(scenetext(*args), capture_output=True, text=True, timeout=timeout, env=env)


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error: ")]


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 1 (not a signal), exactly one ``error:`` line holding ``fragments``, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    errors = error_lines(done)
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def recipe(tmp_path: Path, train_root: Path, steps: int = 2) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"""run: {{name: r, output_dir: {tmp_path / "runs"}}}
model: {{name: {TINY}, max_length: 6, options: {{img_size: [16, 48]}}}}
data:
  train: [{{roots: [{train_root}]}}]
  batch_size: 4
  num_workers: 1
  label: {{max_length: 6}}
trainer: {{max_steps: {steps}, log_every_n_steps: 1, progress_bar: plain}}
"""
    )
    return path


# --- interrupted imports -------------------------------------------------------------------------------


def start_blocked_import(tmp_path: Path, output: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``data create`` stopped inside its LMDB work folder: the list's third image is a FIFO nobody writes."""
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for name in ("a", "b", "d"):
        (images / f"{name}.png").write_bytes(word_png(name, 0))
    os.mkfifo(images / "c.png")
    listing = images / "list.tsv"
    listing.write_text("a.png\tcat\nb.png\tdog\nc.png\tsun\nd.png\tmap\n", encoding="utf-8")
    process = subprocess.Popen(
        scenetext("data", "create", "-f", "tsv", "-i", listing, "-o", output),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        partials = list(output.parent.glob(f".{output.name}.*.partial"))
        if partials and (partials[0] / "data.mdb").exists():
            time.sleep(0.2)  # blocked on the FIFO by now
            return process, partials[0]
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no work folder appeared: {process.communicate()}")


@pytest.mark.slow
def test_sigkilled_import_is_skipped_by_readers_and_removed_by_the_next(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_lmdb(data / "real", 8, seed=1)
    process, partial = start_blocked_import(tmp_path, data / "words")
    process.kill()
    process.communicate()
    assert partial.is_dir() and not (data / "words").exists()  # SIGKILL leaves the work folder behind

    stats = run("data", "stats", data)
    assert stats.returncode == 0, stats.stderr
    assert "samples: 8 " in stats.stdout and stats.stderr.count(partial.name) == 1, stats.stderr
    tested = run("test", "--model", "default", "--data", data, "--num-workers", "0")
    assert tested.returncode == 0, tested.stderr
    assert "real" in tested.stdout and tested.stderr.count(partial.name) == 1, tested.stderr
    trained = run("train", recipe(tmp_path, data))
    assert trained.returncode == 0, trained.stderr
    assert (trained.stdout + trained.stderr).count(partial.name) == 1

    listing = tmp_path / "images" / "list.tsv"
    os.unlink(tmp_path / "images" / "c.png")
    listing.write_text("a.png\tcat\nb.png\tdog\n", encoding="utf-8")
    again = run("data", "create", "-f", "tsv", "-i", listing, "-o", data / "words")
    assert again.returncode == 0, again.stderr
    assert not partial.exists() and (data / "words" / "data.mdb").is_file()


def test_sigterm_removes_the_work_folder(tmp_path: Path) -> None:
    output = tmp_path / "data" / "words"
    output.parent.mkdir()
    process, partial = start_blocked_import(tmp_path, output)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert b"Traceback" not in stderr
    assert not partial.exists() and not output.exists()
    assert list(output.parent.iterdir()) == []


def test_a_live_import_keeps_its_work_folder(tmp_path: Path) -> None:
    """Only folders whose process is gone are removed: another import running now is left alone."""
    from scenetext.data.lmdb_store import LmdbWriter

    output = tmp_path / "words"
    live = tmp_path / f".words.{os.getpid()}-0123abcd.partial"
    dead = tmp_path / ".words.999999999-0123abcd.partial"
    other = tmp_path / ".other.999999999-0123abcd.partial"
    for folder in (live, dead, other):
        folder.mkdir()
    with LmdbWriter(output) as writer:
        writer.add(word_png("cat", 0), "cat")
    assert live.is_dir() and other.is_dir() and not dead.exists()


# --- truncated and corrupted LMDBs --------------------------------------------------------------------


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    """An LMDB whose data.mdb was cut to half its size (an interrupted copy)."""
    root = tmp_path / "data"
    make_lmdb(root / "cut", 60, seed=1)
    data_file = root / "cut" / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size // 2)
    return root


@pytest.mark.slow
def test_truncated_lmdb_is_one_line_not_sigbus(tmp_path: Path, truncated: Path) -> None:
    where = str(truncated / "cut" / "data.mdb")
    assert_one_line_error(run("data", "stats", truncated), where, "truncated")
    assert_one_line_error(run("test", "--model", "default", "--data", truncated), where, "truncated")
    assert_one_line_error(run("train", recipe(tmp_path, truncated)), where, "truncated")


def corrupt(data_file: Path, offset: int, size: int = 8192) -> None:
    """Overwrite ``size`` bytes at ``offset`` with fixed pseudo-random garbage."""
    garbage = bytes((i * 197 + 89) % 256 for i in range(size))
    with open(data_file, "r+b") as handle:
        handle.seek(offset)
        handle.write(garbage)


@pytest.mark.slow
def test_corrupt_pages_are_skipped_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_lmdb(root / "bad", 200, seed=1)
    data_file = root / "bad" / "data.mdb"
    corrupt(data_file, data_file.stat().st_size // 4)  # image pages: those records cannot be read

    tested = run("test", "--model", "default", "--data", root, "--num-workers", "1")
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "Traceback" not in tested.stderr
    line = next(line for line in tested.stdout.splitlines() if "unreadable images skipped" in line)
    skipped = int(line.split(", ")[-1].split()[0])
    assert 0 < skipped < 200
    trained = run("train", recipe(tmp_path, root, steps=12))
    assert trained.returncode == 0, trained.stderr[-3000:]
    output = trained.stdout + trained.stderr
    assert "unreadable training samples were skipped" in output and "Traceback" not in output


def test_an_lmdb_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_lmdb(root / "bad", 20, seed=1)
    corrupt(root / "bad" / "data.mdb", 0, 8192)  # both meta pages
    assert_one_line_error(run("data", "stats", root), str(root / "bad"), "cannot open as LMDB")
    tested = run("test", "--model", "default", "--data", root, "--num-workers", "0")
    assert_one_line_error(tested, str(root / "bad"), "cannot open as LMDB")
