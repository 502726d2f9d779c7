"""A training process killed with SIGKILL resumes from last.ckpt with its step and LR schedule intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_helpers import TINY, make_lmdb

TESTS = Path(__file__).resolve().parent
MAX_STEPS = 60
LR = 0.01

# Runs the real CLI in a fresh process, with the tiny test model registered.
LAUNCHER = (
    "import sys; sys.path.insert(0, {tests!r}); import engine_helpers; "
    "from scenetext.cli.main import app; sys.argv = ['scenetext'] + sys.argv[1:]; app()"
)


def scenetext(*args: str) -> list[str]:
    return [sys.executable, "-c", LAUNCHER.format(tests=str(TESTS)), *args]


def expected_lrs(steps: int) -> list[float]:
    """LR after each optimizer step under the recipe's OneCycle schedule, computed independently."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LR, total_steps=steps, pct_start=0.025, div_factor=25.0, final_div_factor=1e4
    )
    lrs = []
    for _ in range(steps):
        optimizer.step()
        schedule.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@pytest.mark.slow
def test_killed_run_resumes_at_the_saved_step(tmp_path: Path) -> None:
    make_lmdb(tmp_path / "train", 40, seed=1)
    make_lmdb(tmp_path / "val", 8, seed=2)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"""# resume test
run: {{name: r, output_dir: {tmp_path / "runs"}}}
model: {{name: {TINY}, max_length: 6, options: {{img_size: [16, 48]}}}}
data:
  train: [{{roots: [{tmp_path / "train"}]}}]
  val: [{tmp_path / "val"}]
  batch_size: 8
  num_workers: 0
  label: {{max_length: 6}}
optim: {{lr: {LR}}}
trainer: {{max_steps: {MAX_STEPS}, val_check_interval: 5, log_every_n_steps: 5, progress_bar: plain}}
"""
    )
    run = tmp_path / "runs" / "r"
    last = run / "checkpoints" / "last.ckpt"
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        first = subprocess.Popen(scenetext("train", str(recipe)), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not last.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert last.exists(), log_path.read_text()
        os.kill(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL, "the first run finished before it could be killed"

    saved = torch.load(last, map_location="cpu", weights_only=True)  # complete and loadable
    step = saved["global_step"]
    assert 0 < step < MAX_STEPS
    lrs = expected_lrs(MAX_STEPS)
    assert saved["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(lrs[step - 1])

    second = subprocess.run(
        scenetext("train", str(recipe), "--resume", str(run)), capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resumed at step {step} of {MAX_STEPS}" in second.stdout
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] == MAX_STEPS
    assert final["lr_schedulers"][0]["last_epoch"] == MAX_STEPS
    assert final["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(lrs[-1])
    # The schedule continued from the saved step: the LR logged at the first step after resuming is the
    # schedule's, not a restarted warm-up's.
    logged = [
        line for line in second.stdout.splitlines() if line.split(" | ")[0].endswith(f"step {step + 5}/60")
    ]
    assert logged, second.stdout
    assert float(logged[0].split("| lr ")[1].split(" |")[0]) == pytest.approx(lrs[step + 4], rel=1e-2)
    best = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert 0 < best["global_step"] <= MAX_STEPS
    assert (run / "best" / "model.safetensors").exists()
    assert not list((run / "checkpoints").glob(".*tmp*"))
