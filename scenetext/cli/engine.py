"""CLI commands of the `scenetext.engine` part (train, test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from scenetext.errors import ScenetextError


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def train(
    config: Annotated[
        Path | None, typer.Argument(help="Recipe YAML (see configs/); optional with --resume.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides, e.g. trainer.max_steps=1000 optim.lr=5e-4.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue a run: its directory or a .ckpt (full training state). Its config.yaml is the "
            "recipe; a recipe file's later edits and the overrides given here change it."
        ),
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Force the rich progress bar on or off.")
    ] = None,
) -> None:
    """Train from a recipe; writes config.yaml, checkpoints/{best,last}.ckpt, best/ and tensorboard/."""
    overrides = list(overrides or [])
    if config is not None and "=" in str(config) and not config.exists():
        overrides.insert(0, str(config))  # `train --resume RUN key=value`: no recipe, only overrides
        config = None
    try:
        from scenetext.engine.config import load_config
        from scenetext.engine.train import resume_config
        from scenetext.engine.train import train as run_training

        recipe_dir = config.resolve().parent if config is not None else None
        recipe = load_config(config) if config is not None else None
        if resume is not None:
            resolved = resume_config(resume, config, overrides)
        elif config is None:
            raise ScenetextError("a recipe is needed to start a run (or --resume RUN to continue one)")
        else:
            resolved = load_config(config, overrides)
        run_training(resolved, resume=resume, recipe_dir=recipe_dir, progress=progress, recipe=recipe)
    except ScenetextError as exc:
        _fail(str(exc))


def test(
    model: Annotated[str, typer.Option(help="Artifact directory / file, or a built-in model name.")],
    data: Annotated[list[str], typer.Option(help="Root with LMDBs; each LMDB below it is one subset.")],
    protocol: Annotated[
        str | None, typer.Option(help="en36, case-sensitive, en94 or zh (default: the model's own).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    predictions: Annotated[
        Path | None, typer.Option(help="Write per-sample predictions as CSV here.")
    ] = None,
    confusions: Annotated[
        int, typer.Option(help="Show the K most frequent mistakes (words, characters).")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    max_length: Annotated[
        int | None, typer.Option(help="Drop ground truths longer than this (LPV protocol: 25).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    num_workers: Annotated[int, typer.Option(min=0)] = 2,
) -> None:
    """Evaluate a model on every LMDB under --data: word accuracy and 1-NED per subset, then both averages."""
    try:
        _test(
            model,
            data,
            protocol,
            json_path,
            predictions,
            confusions,
            batch_size,
            max_length,
            device,
            num_workers,
        )
    except ScenetextError as exc:
        _fail(str(exc))


def _test(
    model_source: str,
    roots: list[str],
    protocol: str | None,
    json_path: Path | None,
    predictions: Path | None,
    confusions: int,
    batch_size: int,
    max_length: int | None,
    device: str,
    num_workers: int,
) -> None:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from scenetext.data.lmdb_store import LmdbReader
    from scenetext.engine.evaluate import discover_subsets, evaluate
    from scenetext.engine.protocols import PROTOCOLS
    from scenetext.models.artifact import load_artifact
    from scenetext.runtime.artifact import resolve_model_source

    if protocol is not None and protocol not in PROTOCOLS:
        raise ScenetextError(f"--protocol {protocol}: expected one of {', '.join(PROTOCOLS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    subsets = discover_subsets(roots)
    source = resolve_model_source(model_source)
    model, tokenizer, preprocess, meta = load_artifact(source, device=device)
    protocol = protocol or meta.get("protocol", "en36")
    total = sum(len(LmdbReader(path)) for _, path in subsets)
    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("evaluating", total=total)
        evaluation = evaluate(
            model,
            tokenizer,
            preprocess,
            subsets,
            protocol,
            batch_size=batch_size,
            num_workers=num_workers,
            max_label_length=max_length,
            device=device,
            keep_predictions=predictions is not None,
            on_batch=lambda name, n: bar.update(task, advance=n, description=name),
        )
    out = Console()
    out.print(evaluation.table().to_rich(title=f"{source} — protocol {protocol}"))
    for subset in evaluation.subsets:
        if subset.filtered or subset.skipped:
            out.print(
                f"{subset.name}: {subset.filtered} ground truths longer than {max_length} left out, "
                f"{subset.skipped} unreadable images skipped"
            )
    if confusions > 0:
        words = Table(title=f"most frequent mistakes (normalised, protocol {protocol})")
        for column in ("ground truth", "prediction", "count"):
            words.add_column(column)
        for gt, pred, count in evaluation.top_word_confusions(confusions):
            words.add_row(gt or "∅", pred or "∅", str(count))
        chars = Table(title="most frequent character errors (∅: missing or extra)")
        for column in ("expected", "read", "count"):
            chars.add_column(column)
        for gt, pred, count in evaluation.top_char_confusions(confusions):
            chars.add_row(gt or "∅", pred or "∅", str(count))
        out.print(words)
        out.print(chars)
    if json_path is not None:
        json_path.write_text(json.dumps(evaluation.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    if predictions is not None:
        evaluation.write_predictions(predictions)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command()(train)
    app.command()(test)
