"""Fine-tuning the shipped model: `model.init_from=default` and the configs/finetune recipe."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from engine_helpers import make_lmdb, word_png
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.engine.config import load_config
from scenetext.engine.train import build_from_config, train
from scenetext.models.artifact import load_artifact, read_safetensors
from scenetext.runtime.artifact import read_artifact_config
from scenetext.runtime.names import WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "finetune" / "default-en.yaml"


def test_recipe_describes_the_shipped_default() -> None:
    """The recipe's model section must be the default's, or the strict load refuses it (a new charset...)."""
    config = load_config(RECIPE)
    shipped = read_artifact_config(WEIGHTS_DIR / "default")
    built = build_from_config(config, RECIPE.parent, initialise=False)
    assert config.model.init_from == "default"
    assert config.model.name == shipped["model"]["name"]
    assert built.charset.chars == shipped["charset"]["chars"]
    assert built.model.max_length == shipped["max_length"]
    assert list(config.model.options["img_size"]) == shipped["model"]["options"]["img_size"]
    assert config.eval.protocol == shipped["protocol"]
    assert len(config.data.train) == 1


def test_init_from_a_builtin_name_loads_its_weights() -> None:
    built = build_from_config(load_config(RECIPE), RECIPE.parent)
    shipped = read_safetensors(WEIGHTS_DIR / "default" / "model.safetensors")
    state = built.model.state_dict()
    assert set(state) == set(shipped)
    assert all(torch.equal(state[key], shipped[key]) for key in shipped)


def test_unknown_init_from_is_one_line_naming_the_builtin_models() -> None:
    with pytest.raises(ValueError, match="model.init_from: nope: .*not a built-in model name \\(default"):
        build_from_config(load_config(RECIPE, ["model.init_from=nope"]), RECIPE.parent)


def test_finetune_recipe_from_default_then_read(tmp_path: Path) -> None:
    make_lmdb(tmp_path / "mine" / "train", 16, seed=1)
    make_lmdb(tmp_path / "mine" / "val", 8, seed=2)
    overrides = [
        f"run.output_dir={tmp_path / 'runs'}",
        f"data.train.0.roots=[{tmp_path / 'mine' / 'train'}]",
        f"data.val=[{tmp_path / 'mine' / 'val'}]",
        "data.batch_size=4",
        "data.val_batch_size=8",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.progress_bar=plain",
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(load_config(RECIPE, overrides), recipe_dir=RECIPE.parent)
    # 4 batches an epoch, a logging interval of 20 steps: Lightning's warning about it is not for users.
    assert not [w for w in caught if "logging interval" in str(w.message)]
    assert result.global_step == 2 and result.artifact == tmp_path / "runs" / "finetune-default-en" / "best"
    _, tokenizer, _, meta = load_artifact(result.artifact)
    assert meta["charset"] == read_artifact_config(WEIGHTS_DIR / "default")["charset"]
    image = tmp_path / "word.png"
    image.write_bytes(word_png("cat", 0, size=(96, 32)))
    cli = CliRunner().invoke(app, ["read", "--model", str(result.artifact), str(image)])
    assert cli.exit_code == 0, cli.output
    assert cli.stdout.startswith(f"{image}\t")


def test_model_names_resolve_below_inference_and_without_torch() -> None:
    """The artifact layer resolves built-in names itself: it imports neither inference nor torch for that."""
    code = (
        "import sys; from scenetext.runtime.artifact import resolve_model_source; "
        "print(resolve_model_source('default').name); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('scenetext.inference')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["default", "[]"]
