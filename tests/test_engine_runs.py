"""Starting, failing, resuming and extending runs through the CLI, and one-line errors for bad values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from engine_helpers import TINY, make_lmdb
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.engine.lightning_module import RecognitionSystem

LR = 0.01


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_lmdb(root / "train", 24, seed=1)
    make_lmdb(root / "val", 6, seed=2)
    return root


def write_recipe(tmp_path: Path, **trainer: object) -> Path:
    """A recipe like a shipped one: its data paths do not exist here, the command line gives the real ones."""
    recipe = tmp_path / "recipe.yaml"
    settings = {"max_steps": 4, "val_check_interval": 2, "log_every_n_steps": 1, "progress_bar": "plain"}
    settings.update(trainer)
    recipe.write_text(
        "# test recipe\n"
        + yaml.safe_dump(
            {
                "run": {"name": "r", "output_dir": str(tmp_path / "runs")},
                "model": {"name": TINY, "max_length": 6, "options": {"img_size": [16, 48]}},
                "data": {
                    "train": [{"roots": ["lmdb/train"]}],
                    "val": ["lmdb/val"],
                    "batch_size": 4,
                    "val_batch_size": 4,
                    "num_workers": 0,
                    "label": {"max_length": 6},
                },
                "optim": {"lr": LR},
                "trainer": settings,
            }
        )
    )
    return recipe


def data_overrides(data: Path) -> list[str]:
    return [f"data.train.0.roots=[{data / 'train'}]", f"data.val=[{data / 'val'}]"]


def cli(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below ``directory`` with a digest of its bytes and its modification time."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def onecycle_lrs(total: int) -> list[float]:
    """LR after each optimizer step of a run planned over ``total`` steps (the recipe's OneCycle)."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LR, total_steps=total, pct_start=0.025, div_factor=25.0, final_div_factor=1e4
    )
    lrs = []
    for _ in range(total):
        optimizer.step()
        schedule.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def test_a_finished_run_extends_and_its_schedule_is_laid_out_over_the_new_total(
    data: Path, tmp_path: Path
) -> None:
    recipe = write_recipe(tmp_path)
    run = tmp_path / "runs" / "r"
    code, _, err = cli(recipe, *data_overrides(data))
    assert code == 0, err
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    # The recipe again, without the first start's data overrides: config.yaml is the base, so the recipe's
    # own (missing) data paths do not come back; only the new max_steps changes.
    code, out, err = cli(recipe, "--resume", run, "trainer.max_steps=8")
    assert code == 0, err
    assert "resuming with a changed recipe: trainer.max_steps: 4 -> 8" in out
    assert "resumed at step 4 of 8" in out
    assert "laid out again over trainer.max_steps 8" in out
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8
    assert last["lr_schedulers"][0]["total_steps"] == 8
    # The documented rule: from the saved step on, the LR is that of a run planned over the new total.
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(onecycle_lrs(8)[-1])
    logged = [line for line in out.splitlines() if "step 6/8 |" in line]
    assert logged and float(logged[0].split("| lr ")[1].split(" |")[0]) == pytest.approx(
        onecycle_lrs(8)[5], rel=1e-2
    )
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["trainer"]["max_steps"] == 8
    assert saved["data"]["train"][0]["roots"] == [str(data / "train")]
    # Nothing left to train: said in one line, and the run directory is left as it was.
    before = snapshot(run)
    code, out, _ = cli("--resume", run)
    assert code == 0 and "nothing to train: the run is at step 8 of trainer.max_steps 8" in out
    assert snapshot(run) == before


def test_resume_applies_the_recipes_later_edits_and_overrides_only(data: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, max_steps=2)
    run = tmp_path / "runs" / "r"
    assert cli(recipe, *data_overrides(data), "trainer.log_every_n_steps=2")[0] == 0
    assert yaml.safe_load((run / "recipe.yaml").read_text())["trainer"]["log_every_n_steps"] == 1
    recipe.write_text(recipe.read_text().replace("lr: 0.01", "lr: 0.02"))
    code, out, err = cli(recipe, "--resume", run, "trainer.max_steps=4")
    assert code == 0, err
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 0.02  # edited in the recipe since the start
    assert saved["trainer"]["log_every_n_steps"] == 2  # the first start's override stays
    assert saved["trainer"]["max_steps"] == 4
    assert "optim.lr: 0.01 -> 0.02" in out and "log_every_n_steps" not in out.split("changed recipe")[1]
    # Without a recipe: the saved config and the overrides alone.
    code, out, err = cli("--resume", run, "trainer.max_steps=6")
    assert code == 0, err
    assert "resumed at step 4 of 6" in out


def test_a_failed_resume_writes_nothing(data: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, max_steps=2)
    run = tmp_path / "runs" / "r"
    assert cli(recipe, *data_overrides(data))[0] == 0
    before = snapshot(run)
    for overrides in (["data.train.0.roots=[nowhere]"], ["trainer.max_steps=4", "optim.lr=-1"]):
        code, _, err = cli(recipe, "--resume", run, *overrides)
        assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert snapshot(run) == before


def test_a_first_start_that_fails_at_its_first_step_leaves_no_run_directory(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_step(*args: object) -> None:
        raise RuntimeError("out of memory at the first step")

    monkeypatch.setattr(RecognitionSystem, "training_step", broken_step)
    result = CliRunner().invoke(app, ["train", str(write_recipe(tmp_path)), *data_overrides(data)])
    assert isinstance(result.exception, RuntimeError)
    assert not (tmp_path / "runs" / "r").exists()


def test_a_run_killed_between_its_first_best_and_last_checkpoint_resumes_from_best(
    data: Path, tmp_path: Path
) -> None:
    recipe = write_recipe(tmp_path, max_steps=2)
    run = tmp_path / "runs" / "r"
    assert cli(recipe, *data_overrides(data))[0] == 0
    (run / "checkpoints" / "last.ckpt").unlink()  # as a kill right after best.ckpt was written leaves it
    code, _, err = cli(recipe, *data_overrides(data))
    assert code == 1 and f"continue it with --resume {run}" in err
    code, out, err = cli("--resume", run, "trainer.max_steps=4")
    assert code == 0, err
    assert "resuming from best.ckpt" in out and "resumed at step 2 of 4" in out
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


ONE_LINE_ERRORS = [
    ("optim.lr=0", "optim.lr 0.0: must be positive"),
    ("optim.lr=-0.001", "optim.lr -0.001: must be positive"),
    ("optim.betas=[0.9]", "optim.betas [0.9]: expected two values"),
    ("optim.betas=[0.9, 0.99, 0.999]", "optim.betas [0.9, 0.99, 0.999]: expected two values"),
    ("data.num_workers=-1", "data.num_workers -1: must be 0"),
    ("data.val_num_workers=-2", "data.val_num_workers -2: must be 0"),
    ("schedule.pct_start=0", "schedule.pct_start 0.0: must lie strictly between 0 and 1"),
    ("schedule.pct_start=1.5", "schedule.pct_start 1.5: must lie strictly between 0 and 1"),
    ("trainer.devices=0", "trainer.devices 0: use a positive count"),
    ("trainer.max_steps=1", "trainer.max_steps 1 < trainer.val_check_interval 2"),
    pytest.param(
        "trainer.accelerator=gpu",
        "trainer.accelerator gpu: this machine has no such device",
        marks=pytest.mark.skipif(
            torch.cuda.is_available() or torch.backends.mps.is_available(), reason="a GPU is present"
        ),
    ),
]


@pytest.mark.parametrize(("override", "message"), ONE_LINE_ERRORS)
def test_bad_values_fail_in_one_line_and_leave_no_run_directory(
    override: str, message: str, data: Path, tmp_path: Path
) -> None:
    code, _, err = cli(write_recipe(tmp_path), *data_overrides(data), override)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), err
    assert not (tmp_path / "runs" / "r").exists()
