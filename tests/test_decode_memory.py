"""Decoding to the model input without full-size copies: same pixels as load_image + resize, bounded memory.

A 4000 x 4000 16-bit PNG (exactly the service's default --max-pixels) used to cost 469 MB to decode (int64
and float64 copies of the whole image, then full-size RGB copies); the ceiling tests run the service's decode
in a fresh process and read its peak resident memory (VmHWM, restarted just before decoding: ru_maxrss would
start from the parent's size at fork).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scenetext.runtime import preprocess
from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig, load_image, load_pixels

SIDE = 4000  # 16,000,000 pixels: the service's default max_pixels
DEFAULT_MAX_PIXELS = 16_000_000


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    palette = Image.fromarray(rgb).quantize(16)
    transparent = palette.copy()
    transparent.info["transparency"] = 3
    rgba = np.dstack([rgb, rng.integers(0, 256, (37, 53), dtype=np.uint8)])
    return {
        "RGB": Image.fromarray(rgb),
        "L": Image.fromarray(rgb[:, :, 0]),
        "1": Image.fromarray(rgb[:, :, 0] > 128),
        "LA": Image.fromarray(rgba[:, :, [0, 3]], "LA"),
        "RGBA": Image.fromarray(rgba, "RGBA"),
        "P": palette,
        "P+transparency": transparent,
        "CMYK": Image.fromarray(rgb).convert("CMYK"),
        "I;16 png": Image.open(io.BytesIO(_png(Image.fromarray(gray16)))),
        "I": Image.fromarray(gray16.astype(np.int32) * 3 - 1000),
        "I small": Image.fromarray((gray16 % 200).astype(np.int32)),
        "F unit": Image.fromarray(gray16.astype(np.float32) / 65535),
        "F wide": Image.fromarray(gray16.astype(np.float32) / 100),
    }


CONFIGS = [
    PreprocessConfig(32, 128),
    PreprocessConfig(48, 160, normalize="lpv", interpolation="bicubic"),
    PreprocessConfig(32, 128, keep_ratio=True),
    PreprocessConfig(32, 24, keep_ratio=True, rotate_tall=True, interpolation="bicubic"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.interpolation}-{c.keep_ratio}-{c.rotate_tall}")
def test_load_gives_the_pixels_of_load_image_then_resize(
    config: PreprocessConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess, "_BLOCK_ELEMENTS", 200)  # many strips, even on these small images
    preprocessor = ImagePreprocessor(config)
    for mode, image in _images().items():
        for source in (
            image,
            _png(image) if mode not in ("CMYK", "I", "I small", "F unit", "F wide") else image,
        ):
            expected = preprocessor.resize(load_image(source))
            got = preprocessor.load(source)
            assert got.dtype == np.uint8 and got.shape == (config.height, config.width, 3), mode
            np.testing.assert_array_equal(got, expected, err_msg=mode)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(60_000, dtype=np.uint16).reshape(200, 300),
        np.linspace(0, 1, 4000, dtype=np.float32).reshape(40, 100),
        (np.arange(6000, dtype=np.int64).reshape(30, 200) - 100) * 50_000,
        np.arange(3000).reshape(30, 100, 1) % 2 == 0,
        np.arange(24_000, dtype=np.uint16).reshape(20, 100, 3, 4)[:, :, 0, :],
    ],
    ids=["uint16", "float unit", "int64 wide", "bool HxWx1", "uint16 RGBA"],
)
def test_array_sources_convert_block_by_block_as_before(array: np.ndarray, monkeypatch) -> None:
    whole = load_image(array)
    monkeypatch.setattr(preprocess, "_BLOCK_ELEMENTS", 150)
    np.testing.assert_array_equal(np.asarray(load_image(array)), np.asarray(whole))
    pixels = load_pixels(array)
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(rgb, np.asarray(whole))


def test_non_finite_values_are_still_refused_in_any_block(monkeypatch) -> None:
    monkeypatch.setattr(preprocess, "_BLOCK_ELEMENTS", 10)
    values = np.zeros((20, 10), dtype=np.float32)
    values[17, 3] = np.nan
    with pytest.raises(preprocess.ScenetextError, match="NaN or infinite"):
        load_pixels(values)
    with pytest.raises(preprocess.ScenetextError, match="NaN or infinite"):
        load_pixels(Image.fromarray(values))


_MEASURE = textwrap.dedent(
    """
    import json, sys
    from types import SimpleNamespace
    from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig
    from scenetext.serve.model import ServedModel
    from scenetext.serve.uploads import Upload

    def status(key):
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) / 1e3 for line in lines if line.startswith(key + ":"))

    data = open(sys.argv[1], "rb").read()
    recognizer = SimpleNamespace(preprocessor=ImagePreprocessor(PreprocessConfig(32, 128)), backend=None)
    model = ServedModel(recognizer, int(sys.argv[2]))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # restart the peak (VmHWM) from the current resident size
    before = status("VmRSS")
    view = model.prepare(Upload("big.png", data))
    print(json.dumps({"shape": list(view.shape), "growth_mb": status("VmHWM") - before}))
    """
)


def _decode_peak(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(DEFAULT_MAX_PIXELS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-memory counters"
)
@pytest.mark.parametrize(
    ("kind", "ceiling_mb"),
    [("16-bit gray", 100), ("8-bit RGBA", 160)],
)
def test_an_image_at_the_pixel_limit_decodes_within_a_memory_ceiling(
    kind: str, ceiling_mb: float, tmp_path: Path
) -> None:
    """16-bit gray: 32 MB decoded + 16 MB of 8-bit gray + strips, measured 63 MB (was 469 MB).
    RGBA: 64 MB decoded + 48 MB of RGB + strips, measured 125 MB (was 266 MB)."""
    rows = np.full((SIDE, SIDE), 20_000, dtype=np.uint16)
    rows[::50] = 60_000  # some structure, still a small file
    if kind == "16-bit gray":
        image = Image.fromarray(rows)
    else:
        image = Image.fromarray((rows >> 8).astype(np.uint8)).convert("RGBA")
    path = tmp_path / "big.png"
    image.save(path)
    assert image.width * image.height == DEFAULT_MAX_PIXELS
    del image, rows
    result = _decode_peak(path)
    assert result["shape"] == [32, 128, 3]
    assert result["growth_mb"] < ceiling_mb, result


def test_decoding_runs_on_decode_workers_threads_only() -> None:
    """Few threads, not just few at a time: the C allocator keeps freed memory in one arena per thread."""
    import asyncio
    from types import SimpleNamespace

    from scenetext.serve.model import ServedModel
    from scenetext.serve.uploads import Upload

    active, peak, threads, lock = [0], [0], set(), threading.Lock()

    class SlowPreprocessor:
        def load(self, data, max_pixels, name):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                threads.add(threading.get_ident())
            time.sleep(0.02)
            with lock:
                active[0] -= 1
            return np.zeros((2, 2, 3), np.uint8)

    model = ServedModel(SimpleNamespace(preprocessor=SlowPreprocessor(), backend=None), 100, decode_workers=2)

    async def requests() -> list:
        return await asyncio.gather(
            *(model.prepare_all([Upload(f"{i}-{j}", b"x") for j in range(3)]) for i in range(8))
        )

    answers = asyncio.run(requests())
    assert [len(answer) for answer in answers] == [3] * 8
    assert all(view.shape == (2, 2, 3) and ms >= 0 for answer in answers for view, ms in answer)
    assert peak[0] == 2 and len(threads) == 2
