"""Print a run's validation curve (every ``val/*`` scalar in its TensorBoard log) as a Markdown table.

usage: python scripts/val_curve.py RUN_DIR [--tags val/iiit5k/accuracy val/ic15/accuracy ...]

The model card (docs/models.md) shows the curve this way, so the numbers come straight from the run's log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def val_curve(run_dir: Path, tags: list[str] | None) -> tuple[list[str], dict[int, dict[str, float]]]:
    """(tags, {step: {tag: value}}) for the validation scalars of every event file under ``run_dir``."""
    files = sorted(run_dir.glob("**/events.out.tfevents.*"))
    if not files:
        raise SystemExit(f"error: {run_dir}: no TensorBoard event files below it")
    rows: dict[int, dict[str, float]] = {}
    found: set[str] = set()
    for file in files:
        events = EventAccumulator(str(file), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            if not tag.startswith("val/") or (tags and tag not in tags):
                continue
            found.add(tag)
            for event in events.Scalars(tag):
                rows.setdefault(event.step + 1, {})[tag] = event.value
    return (tags or sorted(found)), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--tags", nargs="+", help="val/... scalars to show (default: all)")
    args = parser.parse_args()
    tags, rows = val_curve(args.run_dir, args.tags)
    if not rows:
        raise SystemExit(f"error: {args.run_dir}: no validation scalars logged yet")
    print("| step | " + " | ".join(tags) + " |")
    print("|---" * (len(tags) + 1) + "|")
    for step in sorted(rows):
        cells = [f"{rows[step][tag]:.2f}" if tag in rows[step] else "" for tag in tags]
        print(f"| {step} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
