"""CLI commands of the `scenetext.inference` part: read, export, bench, demo."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

BACKEND_HELP = (
    "auto (torch where installed, else onnx), torch, or onnx (a .onnx file, or a directory holding "
    "model.onnx and config.json)."
)
MODEL_HELP = (
    "Built-in name (default, default-zh) or path of an artifact directory (or .onnx for --backend onnx)."
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _warn(message: str) -> None:
    typer.echo(message, err=True)


def _load(model: str, backend: str, device: str, threads: int | None) -> Any:
    from scenetext.inference.recognizer import Recognizer

    return Recognizer.load(model, device=device, backend=backend, threads=threads)  # type: ignore[arg-type]


def _warn_if_photo(path: Path) -> bool:
    """Warn (and say so) when ``path`` has the size of a whole photo rather than a word or line crop."""
    from PIL import Image

    from scenetext.inference.inputs import looks_like_a_photo

    with Image.open(path) as image:  # already read once: the header opens; only the size is needed
        width, height = image.size
    if not looks_like_a_photo(width, height):
        return False
    _warn(
        f"warning: {path} ({width}x{height}) looks like a whole photo; the model reads one cropped word or "
        "line per image, so crop the text first (see the README, 'Inference')"
    )
    return True


def _tsv_row(*fields: object) -> str:
    """One tab-separated line with csv quoting, so a path holding a tab, newline or quote stays one field."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator="").writerow(fields)
    return buffer.getvalue()


def _unique_png(directory: Path, stem: str, taken: set[str]) -> Path:
    name, n = f"{stem}.png", 1
    while name in taken:
        name, n = f"{stem}-{n}.png", n + 1
    taken.add(name)
    return directory / name


def read(
    paths: Annotated[
        list[str], typer.Argument(help="Image files, directories (searched recursively) or glob patterns.")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "default",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON list instead of tab-separated lines.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, help="Images per forward pass.")
    ] = 32,
    attention_dir: Annotated[
        Path | None,
        typer.Option("--attention-dir", help="Write one attention-strip PNG per image into this directory."),
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help=BACKEND_HELP)] = "auto",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, ...")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Intra-op CPU threads.")] = None,
) -> None:
    """Read the text in word images: prints `path<TAB>text<TAB>confidence` per image.

    Unreadable files are reported on stderr (one line each) and the rest are still read; with --json every
    input is listed, a failed one with an `error`. The exit code is 0 when at least one image was read and 1
    when none could be (or the model could not be loaded). The models read cropped words or lines: an image
    that looks like a whole photo is still read, with one warning.
    """
    from scenetext.errors import ScenetextError
    from scenetext.inference.inputs import expand_inputs
    from scenetext.inference.recognizer import RecognitionResult

    files, unmatched = expand_inputs(paths)
    records: list[dict[str, Any]] = []
    for spec, reason in unmatched:
        _warn(f"{spec}: {reason}")
        records.append({"path": spec, **RecognitionResult("", 0.0, error=f"{spec}: {reason}").to_dict()})
    if not files:
        _fail("no image files to read")
    try:
        recognizer = _load(model, backend, device, threads)
        if attention_dir is not None:
            attention_dir.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        failed = 0
        warned_photo = False
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            results = recognizer.read(
                chunk, batch_size, return_attention=attention_dir is not None, errors="keep"
            )
            for path, result in zip(chunk, results, strict=True):
                record: dict[str, Any] = {"path": str(path), **result.to_dict()}
                record.pop("source", None)
                if result.error is not None:
                    failed += 1
                    _warn(result.error)
                    records.append(record)
                    continue
                if not warned_photo:
                    warned_photo = _warn_if_photo(path)
                if attention_dir is not None:
                    target = _unique_png(attention_dir, path.stem, taken)
                    recognizer.attention_strip(path, result).save(target)
                    record["attention_png"] = str(target)
                if as_json:
                    records.append(record)
                else:
                    typer.echo(_tsv_row(path, result.text, f"{result.confidence:.4f}"))
    except ScenetextError as exc:
        _fail(str(exc))
    except OSError as exc:  # the attention directory or a strip could not be written
        _fail(f"{exc.filename}: cannot write ({exc.strerror})")
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
    if failed == len(files):
        _fail(f"none of the {len(files)} images could be read")


def export(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Built-in name or artifact directory to export.")
    ],
    onnx: Annotated[
        Path,
        typer.Option("--onnx", help="Output .onnx file; the artifact's config.json is copied beside it."),
    ],
    opset: Annotated[int, typer.Option("--opset", min=13, help="ONNX opset version.")] = 17,
    attention: Annotated[
        bool,
        typer.Option(
            "--attention/--no-attention",
            help="Add a second output with attention maps (for --attention-dir).",
        ),
    ] = False,
    parity_samples: Annotated[
        int,
        typer.Option(
            "--parity-samples", min=0, help="Rendered words for the torch-vs-onnxruntime check (0 skips it)."
        ),
    ] = 16,
    fonts: Annotated[
        list[str] | None, typer.Option("--fonts", help="Font directory for the rendered words.")
    ] = None,
) -> None:
    """Export a model to ONNX (dynamic batch size), then check onnxruntime against torch on rendered words.

    Exits 1 when the check finds a word decoded differently (the file is kept for inspection).
    """
    from scenetext.errors import ScenetextError
    from scenetext.inference.onnx_export import export_onnx, parity_check
    from scenetext.inference.samples import lang_of, render_words
    from scenetext.runtime.artifact import read_artifact_config, resolve_model_source

    try:
        path = export_onnx(model, onnx, opset=opset, attention=attention)
        typer.echo(f"wrote {path} and {path.parent / 'config.json'}")
        if parity_samples:
            config = read_artifact_config(resolve_model_source(model))
            words = render_words(parity_samples, lang_of(config), seed=1, font_dirs=fonts or ())
            report = parity_check(model, path, words)
            typer.echo(report.summary())
            if not report.ok:
                pairs = "; ".join(f"{a!r} vs {b!r}" for a, b in report.mismatches[:5])
                _fail(f"parity check failed: torch vs onnxruntime read {pairs}")
    except ScenetextError as exc:
        _fail(str(exc))


def _parse_batches(text: str) -> list[int]:
    from scenetext.errors import ScenetextError

    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScenetextError(f"--batch {text!r}: expected comma-separated integers such as 1,64") from None
    if not sizes or min(sizes) < 1:
        raise ScenetextError(f"--batch {text!r}: batch sizes must be at least 1")
    return sizes


def _default_devices(backend: str, model: str) -> list[str]:
    """CPU, plus the GPU when this backend can use one."""
    if backend == "auto":
        from scenetext.inference.recognizer import choose_backend
        from scenetext.runtime.names import resolve_model

        backend = choose_backend(resolve_model(model))
    if backend == "onnx":
        import onnxruntime

        return ["cpu"] + (
            ["cuda"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else []
        )
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def bench(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "default",
    backend: Annotated[str, typer.Option("--backend", help=BACKEND_HELP)] = "auto",
    batch: Annotated[
        str, typer.Option("--batch", help="Comma-separated batch sizes; 1 gives the latency.")
    ] = "1,64",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Intra-op CPU threads.")] = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device", help="Device(s) to measure (repeatable); default: cpu, and cuda when present."
        ),
    ] = None,
    runs: Annotated[
        int, typer.Option("--runs", min=1, help="Timed batch-1 runs (median and p90 over them).")
    ] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 5,
    batch_runs: Annotated[
        int, typer.Option("--batch-runs", min=1, help="Timed runs per larger batch size.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Measure parameters, FLOPs, batch-1 latency, throughput and peak memory (CPU, and GPU when present)."""
    from rich.console import Console

    from scenetext.errors import ScenetextError
    from scenetext.inference.bench import render_table, run_bench

    try:
        sizes = _parse_batches(batch)
        results = []
        for dev in device or _default_devices(backend, model):
            recognizer = _load(model, backend, dev, threads)
            results.append(run_bench(recognizer, sizes, runs=runs, warmup=warmup, batch_runs=batch_runs))
    except ScenetextError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        Console().print(render_table(results))


def demo(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "default",
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--images", help="Your own images, directories or globs (repeatable); default: rendered words."
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for report.html.")] = Path(
        "scenetext-demo"
    ),
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many words to render.")] = 8,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Which rendered words (same seed, same words).")
    ] = 0,
    fonts: Annotated[
        list[str] | None, typer.Option("--fonts", help="Font directory for rendering (repeatable).")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help=BACKEND_HELP)] = "auto",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, ...")] = "cpu",
) -> None:
    """Render word images (or take yours), read them, print truth against prediction, write an HTML report.

    Uses only files inside the package: nothing is downloaded.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from scenetext.errors import ScenetextError
    from scenetext.inference.demo import run_demo

    try:
        recognizer = _load(model, backend, device, None)
        run = run_demo(recognizer, output, images=images, count=count, seed=seed, font_dirs=fonts)
    except ScenetextError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename}: cannot write ({exc.strerror})")
    for problem in run.problems:
        _warn(problem)
    table = Table(title=f"scenetext demo: {recognizer.model_name}")
    for column in ("image", "truth", "prediction", "confidence", ""):
        table.add_column(column)
    for item in run.items:
        mark = "" if item.correct is None else ("[green]ok[/green]" if item.correct else "[red]wrong[/red]")
        cells = (item.name, item.truth or "", item.result.text)
        table.add_row(*(escape(c) for c in cells), f"{item.result.confidence:.3f}", mark)
    console = Console()
    console.print(table)
    if run.accuracy is not None:
        console.print(f"word accuracy ({recognizer.config.get('protocol')}): {run.accuracy:.1%}")
    console.print(f"report: {run.report}")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command("read")(read)
    app.command("export")(export)
    app.command("bench")(bench)
    app.command("demo")(demo)
