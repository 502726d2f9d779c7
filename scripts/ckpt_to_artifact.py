"""Export any training checkpoint of a run (e.g. checkpoints/last.ckpt) as an inference artifact directory.

usage: python scripts/ckpt_to_artifact.py RUN_DIR CHECKPOINT OUTPUT_DIR

A run exports only its best validation checkpoint (RUN_DIR/best/); this writes the same artifact
(model.safetensors + config.json) for another one, with the run's recipe (RUN_DIR/config.yaml). The
default models ship their runs' final weights this way, so no checkpoint is picked on the held-out data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenetext.engine.checkpointing import read_training_checkpoint
from scenetext.engine.config import load_config
from scenetext.engine.train import build_from_config
from scenetext.errors import ScenetextError
from scenetext.models.artifact import save_artifact


def export_checkpoint(run_dir: Path, checkpoint: Path, output: Path) -> int:
    """Write ``output`` from ``checkpoint``'s model weights; returns the checkpoint's global step."""
    state = read_training_checkpoint(checkpoint)
    config = load_config(run_dir / "config.yaml")
    built = build_from_config(config, initialise=False)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}
    step = state.get("global_step")
    if not isinstance(step, int):
        raise ScenetextError(f"{checkpoint}: no global_step (not a Lightning training checkpoint)")
    save_artifact(
        output,
        built.model,
        model_name=config.model.name,
        model_options=built.options,
        charset=built.charset,
        preprocess=built.preprocess,
        protocol=config.eval.protocol,
        extra={"run": config.run.name, "step": step, "checkpoint": checkpoint.name},
        state_dict=weights,
    )
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    try:
        step = export_checkpoint(args.run_dir, args.checkpoint, args.output)
    except ScenetextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.checkpoint} (step {step}) -> {args.output}")


if __name__ == "__main__":
    main()
