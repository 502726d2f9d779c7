"""A checkpoint with a planted pickle payload runs no code through any loader; each refuses it in one line.

The payload writes a marker file when unpickled. Every loader is tried with and without
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which makes torch unpickle freely wherever ``weights_only`` is left
unspecified: ``test --model``, ``Recognizer.load``, ``model.init_from``, ``model.encoder_init``, both official
loaders, ``--resume`` and every script in scripts/.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import TINY, make_lmdb
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.errors import ScenetextError
from scenetext.inference.recognizer import Recognizer
from scenetext.models.official_lpv import load_official_lpv
from scenetext.models.official_nastr import load_official_nastr
from scenetext.models.registry import build_model

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickles as ``function(argument)``."""

    def __init__(self, function: object, argument: object) -> None:
        self.function, self.argument = function, argument

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, (self.argument,)


def plant(path: Path, marker: Path, kind: str) -> Path:
    """A checkpoint that looks like a training checkpoint and runs ``touch marker`` when unpickled.

    ``os.system`` lives in a module torch's weights-only unpickler blocks outright; ``subprocess.call`` is
    merely not allow-listed, the case the official loaders' inert placeholders handle.
    """
    payload = (
        _Payload(os.system, f"touch {marker}")
        if kind == "os.system"
        else _Payload(subprocess.call, ["touch", str(marker)])
    )
    state = {"model.head.weight": torch.zeros(2, 2), "evil": payload}
    torch.save({"state_dict": state, "global_step": 1, "model": payload}, path)
    return path


@pytest.fixture(params=["os.system", "subprocess.call"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=[False, True], ids=["default-env", "force-no-weights-only"])
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if request.param:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    else:
        monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    return dict(os.environ)


def test_the_payload_runs_when_unpickled_freely(tmp_path: Path) -> None:
    """The fixture is a real attack: an unrestricted load runs it."""
    marker = tmp_path / "marker"
    torch.load(plant(tmp_path / "evil.ckpt", marker, "os.system"), weights_only=False)
    assert marker.exists()


def _invoke(*args: str):
    """The CLI in this process; training's log handler is bound to the stdout of the run that made it."""
    logging.getLogger("scenetext").handlers.clear()
    return CliRunner().invoke(app, list(args))


def _one_line_error(result, name: str) -> str:
    """The CLI's error output: exit 1, exactly one ``error:`` line naming ``name``, no traceback."""
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and name in errors[0], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def _recipe(tmp_path: Path, *extra: str) -> list[str]:
    make_lmdb(tmp_path / "train", 8, seed=1)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"""run: {{name: r, output_dir: {tmp_path / "runs"}}}
model: {{name: {TINY}, max_length: 6, options: {{img_size: [16, 48]}}}}
data:
  train: [{{roots: [{tmp_path / "train"}]}}]
  batch_size: 4
  num_workers: 0
  label: {{max_length: 6}}
trainer: {{max_steps: 2, log_every_n_steps: 1, progress_bar: plain}}
"""
    )
    return ["train", str(recipe), *extra]


def test_cli_loaders_refuse_the_payload(tmp_path: Path, env: dict[str, str]) -> None:
    marker = tmp_path / "marker"
    evil = plant(tmp_path / "evil.ckpt", marker, "os.system")
    # scenetext test --model: a .ckpt is no artifact, and a pickle renamed to model.safetensors is no weights.
    make_lmdb(tmp_path / "val", 4, seed=2)
    _one_line_error(_invoke("test", "--model", str(evil), "--data", str(tmp_path / "val")), "evil")
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "model.safetensors").write_bytes(evil.read_bytes())
    shutil.copy(REPO / "scenetext" / "weights" / "default" / "config.json", artifact)
    test_artifact = ["test", "--model", str(artifact), "--data", str(tmp_path / "val")]
    assert "not a valid safetensors file" in _one_line_error(_invoke(*test_artifact), "model.safetensors")
    # model.init_from, model.encoder_init and --resume.
    train = _recipe(tmp_path)
    line = _one_line_error(_invoke(*train, f"model.init_from={evil}"), str(evil))
    assert "cannot load training checkpoint safely" in line
    vit = [*train, "model.name=nastr-vit-small", f"model.encoder_init={evil}", "model.options={}"]
    _one_line_error(_invoke(*vit), str(evil))
    run_checkpoints = tmp_path / "runs" / "r" / "checkpoints"
    run_checkpoints.mkdir(parents=True, exist_ok=True)
    planted_last = plant(run_checkpoints / "last.ckpt", marker, "os.system")
    line = _one_line_error(_invoke(*train, "--resume", str(tmp_path / "runs" / "r")), "last.ckpt")
    assert str(planted_last) in line
    assert not marker.exists()


def test_library_loaders_refuse_the_payload(tmp_path: Path, kind: str, env: dict[str, str]) -> None:
    marker = tmp_path / "marker"
    evil = plant(tmp_path / "evil.pth", marker, kind)
    with pytest.raises(ScenetextError, match="evil.pth"):
        Recognizer.load(evil)
    with pytest.raises(ScenetextError) as official_lpv:
        load_official_lpv(build_model("lpv-tiny", 40), evil)
    with pytest.raises(ScenetextError) as official_nastr:
        load_official_nastr(build_model("nastr-tiny", 39), evil)
    for caught in (official_lpv, official_nastr):
        message = str(caught.value)
        assert str(evil) in message and "\n" not in message
    # MAE weights load non-strictly: a merely unlisted global loads as an inert placeholder, a blocked one
    # (os.system) is refused; neither runs.
    encoder = build_model("nastr-vit-small", 39).encoder
    if kind == "os.system":
        with pytest.raises(ScenetextError, match="cannot load checkpoint safely"):
            encoder.load_mae_pretrained(evil)
    else:
        assert encoder.load_mae_pretrained(evil).unexpected == ["model.head.weight"]
    assert not marker.exists()


def _script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@pytest.mark.slow
def test_every_script_refuses_the_payload(tmp_path: Path, env: dict[str, str]) -> None:
    marker = tmp_path / "marker"
    evil = plant(tmp_path / "evil.ckpt", marker, "os.system")
    # ckpt_to_artifact reads the checkpoint before the run's recipe.
    done = _script("ckpt_to_artifact.py", str(tmp_path), str(evil), str(tmp_path / "out"), env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {evil}: cannot load training checkpoint safely")
    # The other scripts read LMDBs and TensorBoard logs; the planted file in their place is refused too.
    lmdb_dir = tmp_path / "lmdb"
    lmdb_dir.mkdir()
    os.link(evil, lmdb_dir / "data.mdb")
    done = _script("split_lmdb.py", str(lmdb_dir), str(tmp_path / "a"), str(tmp_path / "b"), env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and str(lmdb_dir) in done.stderr, done.stderr
    run = tmp_path / "run"
    run.mkdir()
    os.link(evil, run / "events.out.tfevents.0.host")
    done = _script("val_curve.py", str(run), env=env)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr
    assert not marker.exists()
