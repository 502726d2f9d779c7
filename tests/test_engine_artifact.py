"""Inference artifacts: safetensors + JSON round trip, no unpickling, clear errors for broken artifacts."""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import pytest
import torch
from engine_helpers import TINY, TinyRecognizer, reference_forward

from scenetext.errors import ScenetextError
from scenetext.models.artifact import load_artifact, save_artifact
from scenetext.runtime.artifact import read_artifact_config
from scenetext.runtime.charset import Charset
from scenetext.runtime.preprocess import PreprocessConfig


def saved(tmp_path: Path) -> tuple[Path, TinyRecognizer, Charset]:
    charset = Charset("abcdefghijklmnopqrstuvwxyz", "letters")
    torch.manual_seed(3)
    model = TinyRecognizer(len(charset) + 3, img_size=(16, 48), max_length=6)
    preprocess = PreprocessConfig(height=16, width=48, normalize="nastr", interpolation="bicubic")
    directory = save_artifact(
        tmp_path / "best",
        model,
        model_name=TINY,
        model_options={"img_size": (16, 48), "max_length": 6},
        charset=charset,
        preprocess=preprocess,
        protocol="en36",
        extra={"step": 12},
    )
    return directory, model, charset


def test_round_trip_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory, model, charset = saved(tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    expected = reference_forward(model, (16, 48))

    def refuse(*args, **kwargs):
        raise AssertionError("artifact loading must not unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for path in (directory, directory / "model.safetensors", directory / "config.json"):
        loaded, tokenizer, preprocess, meta = load_artifact(path)
        assert not loaded.training
        assert torch.equal(reference_forward(loaded, (16, 48)), expected)
        assert tokenizer.charset.chars == charset.chars
        assert preprocess == PreprocessConfig(height=16, width=48, normalize="nastr", interpolation="bicubic")
        assert meta["max_length"] == 6 and meta["protocol"] == "en36" and meta["extra"] == {"step": 12}


def test_config_is_plain_json_with_everything_needed(tmp_path: Path) -> None:
    directory, _, charset = saved(tmp_path)
    config = read_artifact_config(directory)
    assert config["model"] == {
        "name": TINY,
        "options": {"img_size": [16, 48], "max_length": 6},
        "num_classes": 29,
    }
    assert config["charset"]["chars"] == charset.chars
    assert config["preprocess"]["height"] == 16 and config["version"] == 1


def test_saving_again_replaces_the_whole_artifact(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    saved(tmp_path)
    assert sorted(p.name for p in directory.parent.iterdir()) == ["best"]


def test_files_get_the_umask_default_mode_not_private_ones(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        directory, _, _ = saved(tmp_path)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
    assert modes == {"model.safetensors": 0o640, "config.json": 0o640}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750


def test_broken_artifacts_fail_with_one_line(tmp_path: Path) -> None:
    directory, _, _ = saved(tmp_path)
    with pytest.raises(ScenetextError, match="no such file"):
        load_artifact(tmp_path / "nowhere")
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())

    config_path.write_text(json.dumps({**config, "version": 99}))
    with pytest.raises(ScenetextError, match="newer than this scenetext reads"):
        read_artifact_config(directory)

    config_path.write_text(json.dumps({**config, "charset": {"name": "x", "chars": "abc"}}))
    with pytest.raises(ScenetextError, match="does not match the charset"):
        load_artifact(directory)

    config_path.write_text(json.dumps({**config, "model": {**config["model"], "options": {"max_length": 9}}}))
    with pytest.raises(ScenetextError, match=r"options.max_length 9: differs from max_length 6"):
        load_artifact(directory)

    config_path.write_text(json.dumps(config))
    (directory / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ScenetextError, match="not a valid safetensors file"):
        load_artifact(directory)

    config_path.write_text("{ nope")
    with pytest.raises(ScenetextError, match="not valid JSON"):
        read_artifact_config(directory)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"model": {"options": {"img_size": [32, 40000000]}}}, r"model.options.img_size \[32, 40000000\]"),
        ({"model": {"options": {"img_size": [32]}}}, r"img_size \[32\]: expected \[height, width\]"),
        ({"model": {"options": {"img_size": [16, 48], "embed_dim": 10**9}}}, "model.options.embed_dim"),
        ({"model": {"options": {"img_size": [16, 48], "dims": [8, 10**9]}}}, "model.options.dims"),
        ({"model": {"num_classes": 10**6}}, r"model.num_classes 1000000: does not match the charset"),
        ({"max_length": 10**7}, r"max_length 10000000: expected an integer 1..1024"),
        ({"max_length": "6"}, r"max_length \"6\": expected an integer"),
        ({"preprocess": {"height": 16, "width": 10**6}}, r"preprocess \[height, width\] \[16, 1000000\]"),
        ({"preprocess": {"height": 16, "width": 64}}, "differs from model.options.img_size"),
        ({"charset": {"name": "x", "chars": ""}}, "expected 1..65536 characters"),
    ],
)
def test_config_sizes_are_checked_before_building(tmp_path: Path, edit: dict, message: str) -> None:
    """A hand-edited config.json cannot make the loader allocate gigabytes: one line before any build."""
    directory, _, _ = saved(tmp_path)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    for key, value in edit.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    config_path.write_text(json.dumps(config))
    with pytest.raises(ScenetextError, match=message) as info:
        load_artifact(directory)
    assert str(info.value).startswith(str(config_path)) and "\n" not in str(info.value)
    # The ONNX path and the service read the same config without torch: same check.
    with pytest.raises(ScenetextError, match=message):
        read_artifact_config(directory)
