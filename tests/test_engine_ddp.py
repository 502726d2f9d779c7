"""Multi-process training on the CPU: two DDP processes (gloo) started by `scenetext train` itself.

Checks what only a real multi-process run shows: the ranks train on disjoint shards of each pass, validation
is scored once over the whole validation set, only rank 0 writes into the run directory, and a run killed
with SIGKILL resumes (under DDP again) from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_helpers import TINY, make_lmdb

from scenetext.engine.evaluate import discover_subsets, evaluate
from scenetext.models.artifact import load_artifact

TESTS = Path(__file__).resolve().parent
TRAIN_SIZE, BATCH, WORLD = 32, 4, 2
MAX_STEPS, VAL_EVERY = 8, 4

# A script (Lightning's launcher starts the other rank by running sys.argv[0] again) that runs the real CLI
# with the tiny test model registered, and records per process which samples it drew and what it wrote.
LAUNCHER = """
import json, os, sys, time
sys.path.insert(0, {tests!r})
import engine_helpers
import scenetext.engine.checkpointing as checkpointing
import scenetext.engine.datamodule as datamodule
import scenetext.engine.train as train
import scenetext.data.mixing as mixing
import scenetext.models.artifact as artifact

RECORD = os.path.join(os.environ["RECORD_DIR"], f"{{os.getpid()}}.jsonl")
DELAY = float(os.environ.get("BATCH_DELAY", "0"))


def record(**entry):
    entry["rank"] = int(os.environ.get("LOCAL_RANK", "0"))
    with open(RECORD, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")


def wrap(owner, name, kind):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        record(kind=kind)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


train_iter = mixing.RatioBatchSampler.__iter__


def train_batches(self):
    for batch in train_iter(self):
        record(kind="train", indices=batch)
        time.sleep(DELAY)
        yield batch


def val_shard(self):
    record(kind="val", length=self.indices.stop, indices=list(self.indices))
    return iter(self.indices)


mixing.RatioBatchSampler.__iter__ = train_batches
datamodule.ShardSampler.__iter__ = val_shard
wrap(checkpointing.AtomicCheckpointIO, "save_checkpoint", "checkpoint")
wrap(artifact, "save_artifact", "artifact")
wrap(train, "save_config", "config")

from scenetext.cli.main import app

app()
"""


def records(directory: Path) -> list[dict]:
    return [json.loads(line) for path in directory.glob("*.jsonl") for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_ddp_on_cpu_shards_data_validates_once_writes_on_rank_zero_and_resumes(tmp_path: Path) -> None:
    make_lmdb(tmp_path / "train", TRAIN_SIZE, seed=1)
    make_lmdb(tmp_path / "val" / "a", 5, seed=2)
    make_lmdb(tmp_path / "val" / "b", 4, seed=3)
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(TESTS)))
    run = tmp_path / "runs" / "ddp"
    first_records, second_records = tmp_path / "rec1", tmp_path / "rec2"
    first_records.mkdir()
    second_records.mkdir()
    overrides = [
        f"run.output_dir={tmp_path / 'runs'}",
        "run.name=ddp",
        f"model.name={TINY}",
        "model.max_length=6",
        "model.options.img_size=[16, 48]",
        "data.label.max_length=6",
        f"data.train=[{{roots: [{tmp_path / 'train'}]}}]",
        f"data.val=[{tmp_path / 'val'}]",
        f"data.batch_size={BATCH}",
        "data.val_batch_size=2",
        "data.num_workers=0",
        "optim.lr=0.01",
        f"trainer.max_steps={MAX_STEPS}",
        f"trainer.val_check_interval={VAL_EVERY}",
        "trainer.log_every_n_steps=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.progress_bar=plain",
        "trainer.accelerator=cpu",
        f"trainer.devices={WORLD}",
        "trainer.strategy=ddp",
    ]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("# the schema's defaults, changed by the overrides below\n")
    command = [sys.executable, str(launcher), "train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # First start, slowed down per batch so that it can be killed between its two validations.
    first_log = tmp_path / "first.log"
    last = run / "checkpoints" / "last.ckpt"
    with open(first_log, "w") as log:
        first = subprocess.Popen(
            [*command, str(recipe), *overrides],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, "RECORD_DIR": str(first_records), "BATCH_DELAY": "0.3"},
            start_new_session=True,  # both ranks in one process group, killed together
        )
    try:
        deadline = time.monotonic() + 240
        while not last.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert last.exists(), first_log.read_text()
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL, first_log.read_text()
    saved_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert saved_step == VAL_EVERY

    # Each rank draws its own shard of every pass over the training data: one pass is split, not repeated.
    seen = records(first_records)
    batches = {
        r: [e["indices"] for e in seen if e["kind"] == "train" and e["rank"] == r] for r in range(WORLD)
    }
    per_pass = TRAIN_SIZE // (WORLD * BATCH)
    shards = [{i for batch in batches[r][:per_pass] for i in batch} for r in range(WORLD)]
    assert all(len(shard) == TRAIN_SIZE // WORLD for shard in shards)
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(TRAIN_SIZE))
    # Validation: every image of every subset on exactly one rank.
    for length in (4, 5):
        shard = {
            r: next(
                e["indices"] for e in seen if e["kind"] == "val" and e["length"] == length and e["rank"] == r
            )
            for r in range(WORLD)
        }
        assert sorted(shard[0] + shard[1]) == list(range(length))
    writes = [e for e in seen if e["kind"] in ("checkpoint", "artifact", "config")]
    assert {e["kind"] for e in writes} == {"checkpoint", "artifact", "config"}
    assert {e["rank"] for e in writes} == {0}

    # Resume under DDP from the run directory alone: its config.yaml holds the DDP settings.
    second = subprocess.run(
        [*command, "--resume", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "RECORD_DIR": str(second_records)},
    )
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert f"resumed at step {saved_step} of {MAX_STEPS}" in second.stdout
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == MAX_STEPS
    resumed = records(second_records)
    assert {e["rank"] for e in resumed if e["kind"] == "train"} == set(range(WORLD))
    assert {e["rank"] for e in resumed if e["kind"] in ("checkpoint", "artifact", "config")} == {0}

    # Validation was scored once over all 9 images, and matches a single-process evaluation of the best
    # weights (the figures are summed over ranks before averaging, not averaged per rank).
    lines = [line for line in (first_log.read_text() + second.stdout).splitlines() if "validation at" in line]
    assert len(lines) == MAX_STEPS // VAL_EVERY and all("(9 images, 2 subsets)" in line for line in lines)
    model, tokenizer, preprocess, meta = load_artifact(run / "best")
    best_line = next(line for line in lines if f"validation at step {meta['extra']['step']}:" in line)
    single = evaluate(model, tokenizer, preprocess, discover_subsets([str(tmp_path / "val")]), "en36")
    weighted = single.to_json()["average"]["weighted"]
    assert f"accuracy {weighted['accuracy']:.2f}% 1-NED {weighted['ned']:.2f}" in best_line
