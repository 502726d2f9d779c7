"""`scenetext bench` (JSON on a tiny model with tiny counts) and `scenetext demo` end to end."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import font_files, make_artifact, png_bytes, word_image
from PIL import Image
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.inference.attention import attention_strip, strip_layout

runner = CliRunner()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("bench") / "model")


def test_bench_json_reports_every_figure(artifact: Path) -> None:
    args = ["bench", "-m", str(artifact), "--device", "cpu", "--batch", "1,4", "--threads", "1"]
    result = runner.invoke(app, [*args, "--runs", "3", "--warmup", "1", "--batch-runs", "1", "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["name"] == "nastr-tiny" and report["backend"] == "torch" and report["device"] == "cpu"
    assert report["threads"] == 1
    assert report["parameters"] > 100_000
    assert report["flops"] > 1_000_000
    assert report["latency_ms"]["runs"] == 3
    assert 0 < report["latency_ms"]["median"] <= report["latency_ms"]["p90"]
    assert [t["batch"] for t in report["throughput"]] == [1, 4]
    assert all(t["images_per_s"] > 0 for t in report["throughput"])
    assert all(m["kind"] == "process_peak_rss" and m["mb"] > 0 for m in report["peak_memory"])


def test_bench_rejects_bad_batch_list(artifact: Path) -> None:
    result = runner.invoke(app, ["bench", "-m", str(artifact), "--device", "cpu", "--batch", "1,x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --batch")


@pytest.mark.slow
def test_demo_renders_reads_and_writes_a_self_contained_report(artifact: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    fonts = font_files(tmp_path)[0]
    args = ["demo", "-m", str(artifact), "--count", "3", "--output", str(out), "--fonts", fonts]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rendered #3" in result.stdout and "report:" in result.stdout
    page = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 6  # per word: the input and its attention strip
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched when the page opens


def test_demo_reads_the_users_images(artifact: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "one.png").write_bytes(png_bytes(word_image(0)))
    (mine / "broken.png").write_bytes(b"nope")
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "-m", str(artifact), "--images", str(mine), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "broken.png" in result.stderr
    page = (out / "report.html").read_text()
    assert str(mine / "one.png") in page and page.count("data:image/png;base64,") == 2


def test_demo_strips_fit_a_1300_pixel_window(tmp_path: Path) -> None:
    """The shipped default (32 x 128 input): six panels a row at twice that size would be 1,564 pixels."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "long.png").write_bytes(png_bytes(word_image(0, size=(32, 400))))
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--images", str(mine), "--output", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    strips = re.findall(r'alt="attention" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(strips) == 1
    with Image.open(io.BytesIO(base64.b64decode(strips[0]))) as strip:
        assert strip.width <= 540  # the other columns take the rest: the input is shown at most 240 wide
    assert re.search(r"img\.input \{ max-width: 240px", page)
    assert 'class="input"' in page


@pytest.mark.parametrize("width", [32, 64, 128, 256, 400, 800])
def test_strip_layout_stays_within_the_width(width: int) -> None:
    scale, columns = strip_layout(width, 540)
    strip = attention_strip(
        np.zeros((32, width, 3), np.uint8),
        "ab",
        np.zeros((2, 4, 8), np.float32),
        scale=scale,
        columns=columns,
    )
    assert strip.width <= 540 and columns >= 1 and scale <= 2.0
