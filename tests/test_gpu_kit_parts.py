"""Pieces of the GPU kit (scripts/gpu_kit.py) that need neither a build nor a GPU."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def _kit_module():
    spec = importlib.util.spec_from_file_location("gpu_kit", REPO / "scripts" / "gpu_kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_kit = _kit_module()


def _wheel(path: Path, requires: list[str]) -> Path:
    metadata = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", metadata)
    return path


def test_requirements_must_be_carried_or_on_the_gpu_machine(tmp_path):
    ok = _wheel(
        tmp_path / "ok-1.0-py3-none-any.whl",
        [
            "numpy>=1.24",
            "pydantic>=2",
            "eval-type-backport; python_version < '3.10'",
            "pytest; extra == 'test'",
        ],
    )
    gpu_kit.check_requirements([ok], "3.12")
    bad = _wheel(tmp_path / "bad-1.0-py3-none-any.whl", ["numpy", "wordfreq>=3"])
    with pytest.raises(gpu_kit.KitError, match="wordfreq>=3, neither carried nor on the GPU machine"):
        gpu_kit.check_requirements([bad], "3.12")


def test_device_augment_keeps_shape_and_range_and_varies_each_image():
    torch.manual_seed(0)
    images = torch.rand(6, 3, 32, 128) * 2 - 1
    out = gpu_kit.device_augment(images, -1.0, 1.0)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= -1 and out.max() <= 1
    assert not torch.allclose(out, images)
    twice = gpu_kit.device_augment(images, -1.0, 1.0)
    assert not torch.allclose(out, twice)  # a fresh variant every repeat


def test_repeated_batches_yield_each_batch_in_a_row():
    repeated = gpu_kit.RepeatedBatches([1, 2, 3], 2)
    assert len(repeated) == 6 and list(repeated) == [1, 1, 2, 2, 3, 3]


def test_font_index_is_relocated_to_this_machine(tmp_path):
    kit = tmp_path / "kit"
    (kit / "fonts" / "a").mkdir(parents=True)
    font = kit / "fonts" / "a" / "x-0.ttf"
    font.write_bytes(b"1234")
    faces = [{"index": 0, "family": "X"}]
    (kit / "font-index.json").write_text(json.dumps({"version": 4, "files": {"fonts/a/x-0.ttf": faces}}))
    gpu_kit.relocate_font_index(kit, tmp_path / "cache")
    index = json.loads((tmp_path / "cache" / "font-index-v4.json").read_text())
    entry = index[str(font.resolve())]
    assert entry["faces"] == faces and entry["stamp"] == [4, int(font.stat().st_mtime)]


def test_kit_config_points_every_source_at_the_kit(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "recipe.yaml").write_text((REPO / gpu_kit.DEFAULT_RECIPE).read_text())
    real_root = tmp_path / "real"
    config = gpu_kit.kit_config(
        kit, real_root, tmp_path / "runs" / "r", dry=True, overrides=["optim.lr=0.001"]
    )
    real, synth = config.data.train
    assert real.roots == [str(real_root)] and config.data.val == []
    assert synth.synth["config"]["font_dirs"] == [str(kit / "fonts")]
    assert synth.synth["config"]["vocabulary"] == str(kit / "vocabulary-en.txt")
    assert synth.synth["config"]["system_backgrounds"] is False
    assert config.model.init_from == str(kit / "weights") and config.model.init_new_charset
    assert config.trainer.accelerator == "cpu" and config.data.batch_size == 8 and config.optim.lr == 0.001
    assert config.run.output_dir == str(tmp_path / "runs") and config.run.name == "r"


def test_the_gpu_recipe_trains_bf16_on_one_gpu_for_seven_minutes(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "recipe.yaml").write_text((REPO / gpu_kit.DEFAULT_RECIPE).read_text())
    config = gpu_kit.kit_config(kit, tmp_path / "real", tmp_path / "runs" / "r", dry=False, overrides=[])
    assert (config.trainer.accelerator, config.trainer.devices, config.trainer.precision) == (
        "gpu",
        1,
        "bf16-mixed",
    )
    assert config.trainer.max_time == "00:00:07:00" and config.data.num_workers == 15
    assert (
        config.model.charset == "en94" and not config.data.label.lowercase and config.eval.protocol == "en94"
    )
    assert [s.ratio for s in config.data.train] == [0.25, 0.75]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_a_gpu_run_without_a_gpu_stops_at_once(tmp_path, monkeypatch, capsys):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "MANIFEST.json").write_text(json.dumps({"modules": []}))
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    monkeypatch.setattr("sys.argv", ["gpu_kit.py", "run", "--kit", str(kit)])
    with pytest.raises(SystemExit) as exit_info:
        gpu_kit.main()
    assert exit_info.value.code == 1
    assert "gpu-kit error: no CUDA device visible to torch" in capsys.readouterr().err
