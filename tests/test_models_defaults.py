"""The default models ship inside the package and load by name, offline, from safetensors + JSON only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenetext.inference import Recognizer
from scenetext.runtime.names import WEIGHTS_DIR, builtin_names

EXPECTED = {"default": ("en94", [32, 128]), "default-zh": ("zh", [32, 128])}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_artifact_is_small_and_pickle_free(name: str) -> None:
    directory = WEIGHTS_DIR / name
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.onnx", "model.safetensors"]
    assert (directory / "model.safetensors").stat().st_size <= 50 * 2**20
    assert (directory / "model.onnx").stat().st_size <= 50 * 2**20
    config = json.loads((directory / "config.json").read_text())
    charset, img_size = EXPECTED[name]
    assert config["charset"]["name"] == charset
    assert config["model"]["options"]["img_size"] == img_size


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_name_loads_and_reads_within_its_charset(name: str) -> None:
    assert name in builtin_names()
    recognizer = Recognizer.load(name, threads=1)
    assert recognizer.source == WEIGHTS_DIR / name
    image = np.full((32, 96, 3), 255, dtype=np.uint8)
    image[8:24, 10:86] = 0
    result = recognizer.read(image)
    chars = set(json.loads((WEIGHTS_DIR / name / "config.json").read_text())["charset"]["chars"])
    assert set(result.text) <= chars
    assert 0.0 <= result.confidence <= 1.0
