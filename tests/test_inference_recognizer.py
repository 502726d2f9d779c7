"""The Recognizer API: every input kind, batching, errors, attention maps and built-in name resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference_helpers import make_artifact, png_bytes, word_image
from PIL import Image

from scenetext.errors import ScenetextError
from scenetext.inference import RecognitionResult, Recognizer
from scenetext.runtime import names as names_module
from scenetext.runtime.artifact import resolve_model_source


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("nastr") / "model")


@pytest.fixture(scope="module")
def recognizer(artifact: Path) -> Recognizer:
    return Recognizer.load(artifact, device="cpu", threads=1)


def _same(a: RecognitionResult, b: RecognitionResult) -> None:
    assert a.text == b.text
    assert a.confidence == pytest.approx(b.confidence, rel=1e-4, abs=1e-9)


def test_every_input_kind_gives_the_same_reading(recognizer: Recognizer, tmp_path: Path) -> None:
    array = word_image(1)
    path = tmp_path / "word.png"
    path.write_bytes(png_bytes(array))
    reference = recognizer.read(array)
    assert isinstance(reference, RecognitionResult)
    for source in (str(path), path, path.read_bytes(), bytearray(path.read_bytes()), Image.fromarray(array)):
        _same(recognizer.read(source), reference)
    rgba = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])
    _same(recognizer.read(rgba), reference)
    gray = recognizer.read(array[:, :, 0])  # H x W arrays are read as greyscale
    assert isinstance(gray.text, str)


def test_lists_and_4d_batches_return_lists_in_order(recognizer: Recognizer) -> None:
    arrays = [word_image(seed) for seed in range(5)]
    one_by_one = [recognizer.read(a) for a in arrays]
    batched = recognizer.read(arrays, batch_size=2)
    stacked = recognizer.read(np.stack(arrays))
    assert isinstance(batched, list) and len(batched) == 5 and len(stacked) == 5
    for single, b, s in zip(one_by_one, batched, stacked, strict=True):
        _same(b, single)
        _same(s, single)
    assert recognizer.read([]) == []


def test_result_fields_are_consistent(recognizer: Recognizer) -> None:
    result = recognizer.read(word_image(3), return_attention=True)
    assert len(result.char_confidences) == len(result.text)
    assert all(0.0 <= p <= 1.0 for p in result.char_confidences)
    assert 0.0 <= result.confidence <= min(result.char_confidences, default=1.0) + 1e-6
    assert result.attention is not None
    assert result.attention.shape[0] == len(result.text)
    assert result.attention.shape[1:] == (4, 8)  # the 32 x 64 input's encoder grid
    assert set(result.to_dict()) == {"text", "confidence", "char_confidences"}
    assert recognizer.read(word_image(3)).attention is None


def test_bad_image_raises_or_is_kept_with_its_reason(recognizer: Recognizer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ScenetextError, match="broken.png"):
        recognizer.read([word_image(0), broken])
    results = recognizer.read([word_image(0), broken, word_image(1)], errors="keep")
    assert [r.error is None for r in results] == [True, False, True]
    assert "broken.png" in results[1].error and results[1].source == str(broken)
    _same(results[2], recognizer.read(word_image(1)))


def test_load_errors_are_one_line(artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(names_module, "WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(ScenetextError, match="the default model is not installed") as info:
        Recognizer.load("default")
    assert "\n" not in str(info.value)
    with pytest.raises(ScenetextError, match="default-zh model is not installed"):
        resolve_model_source("default-zh")  # the artifact module resolves names in the same place
    with pytest.raises(ScenetextError, match="not a built-in model name"):
        Recognizer.load(tmp_path / "missing")
    with pytest.raises(ScenetextError, match="backend"):
        Recognizer.load(artifact, backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ScenetextError, match="no model.onnx"):
        Recognizer.load(artifact, backend="onnx")
    with pytest.raises(ScenetextError, match="batch_size"):
        Recognizer.load(artifact).read(word_image(0), batch_size=0)


def test_builtin_name_resolves_to_weights_inside_the_package(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights"
    (weights / "default").mkdir(parents=True)
    for name in ("model.safetensors", "config.json"):
        (weights / "default" / name).write_bytes((artifact / name).read_bytes())
    monkeypatch.setattr(names_module, "WEIGHTS_DIR", weights)
    loaded = Recognizer.load("default")
    assert loaded.source == weights / "default"
    _same(loaded.read(word_image(2)), Recognizer.load(artifact).read(word_image(2)))


def test_attention_strip_has_one_panel_per_character(recognizer: Recognizer) -> None:
    image = word_image(4)
    result = recognizer.read(image, return_attention=True)
    strip = recognizer.attention_strip(image, result)
    panels = len(result.text) + 1  # the plain input first
    per_row = min(6, panels)
    assert strip.width >= per_row * 128  # panels at twice the 32 x 64 model input
    assert strip.height >= -(-panels // per_row) * 64
    with pytest.raises(ScenetextError, match="return_attention"):
        recognizer.attention_strip(image, recognizer.read(image))
