"""CLI commands of the `scenetext.data` part: `scenetext data create | split | stats | show`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(
    name="data",
    help="Build, inspect and preview LMDB datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

LIST_FORMATS = ("tsv", "tags", "icdar", "jsonl")
PHOTO_FORMATS = ("svt", "icdar13-boxes", "icdar15-quads", "mlt-quads", "polygon-json")
MAX_PROBLEMS_SHOWN = 10
MAX_TEXT_SHOWN = 200


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad input and file-system failures -> one ``error: ...`` line on stderr and exit code 1."""
    import lmdb

    from scenetext.errors import ScenetextError

    try:
        yield
    except ScenetextError as exc:
        message = str(exc)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else ""
        message = f"{where}: {exc.strerror}" if where and exc.strerror else str(exc)
    except lmdb.Error as exc:
        message = f"LMDB: {exc}"
    else:
        return
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)  # summary lines stay whole for logs and grep


@data_app.command()
def create(
    list_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help=f"Crop lists: {', '.join(LIST_FORMATS)}. Whole photos: {', '.join(PHOTO_FORMATS)}.",
            show_default=False,
        ),
    ],
    input_file: Annotated[
        Path,
        typer.Option(
            "--input", "-i", help="The list or annotation file (a folder of gt files for the ICDAR formats)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The LMDB directory to create.")],
    root: Annotated[
        Path | None,
        typer.Option(
            "--images",
            "--root",
            help="Folder the images are in or relative to (default: the list's or annotations' folder).",
        ),
    ] = None,
    pad: Annotated[
        float,
        typer.Option("--pad", help="Whole photos: context around each word, as a fraction of its height."),
    ] = 0.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output LMDB.")] = False,
) -> None:
    """Build an LMDB from word crops with labels, or from whole photos with word boxes.

    Crop lists, one image and label per line:
    tsv (path<TAB>label), tags (path label), icdar (name, "label"), jsonl (filename, text).

    Whole photos, each word cut out upright and tight by a perspective warp (README: data section):
    svt: Street View Text XML file (taggedRectangle);
    icdar13-boxes: folder of ICDAR 2013 gt files, x1, y1, x2, y2, "word";
    icdar15-quads: folder of ICDAR 2015 gt files, x1,y1,...,x4,y4,word (### is do-not-care);
    mlt-quads: folder of ICDAR MLT gt files, x1,y1,...,x4,y4,script,word;
    polygon-json: COCO-Text / TextOCR JSON, polygons or boxes.

    Unreadable images, malformed lines and skipped words are listed with their file and line
    in OUTPUT.skipped.tsv, beside the LMDB. The LMDB appears only once it is complete.
    """
    with _user_errors():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from scenetext.data.importers import create_lmdb
        from scenetext.data.photos import create_photo_lmdb
        from scenetext.errors import ScenetextError

        if list_format not in LIST_FORMATS + PHOTO_FORMATS:
            choices = ", ".join(LIST_FORMATS + PHOTO_FORMATS)
            raise ScenetextError(f"--format {list_format!r}: choose one of {choices}")
        if pad and list_format in LIST_FORMATS:
            raise ScenetextError(
                f"--pad: applies to whole-photo formats, not to the crop list {list_format!r}"
            )
        console = _console()
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        err = _stderr_console()
        # Off a terminal the bar would only leave a blank line on stderr.
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("import", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if list_format in PHOTO_FORMATS:
                result = create_photo_lmdb(
                    list_format, input_file, output, root, pad=pad, overwrite=overwrite, progress=advance
                )
                problems = [(f"{s.file} {s.where} {s.image}", s.reason) for s in result.skipped]
            else:
                result = create_lmdb(
                    list_format, input_file, output, root=root, overwrite=overwrite, progress=advance
                )
                problems = [(f"line {s.line} {s.path}".rstrip(), s.reason) for s in result.skipped]
        console.print(f"{result.output}: {result.summary}")
        if problems:
            console.print(f"skipped {len(problems)}, listed in {result.report}:")
            for where, reason in problems[:MAX_PROBLEMS_SHOWN]:
                console.print(f"  {_shorten(where)}: {_shorten(reason)}", markup=False)
            if len(problems) > MAX_PROBLEMS_SHOWN:
                console.print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")


@data_app.command()
def split(
    input_root: Annotated[Path, typer.Argument(help="An LMDB, or a folder searched recursively for LMDBs.")],
    train_output: Annotated[Path, typer.Argument(help="Where the rest goes (the training part).")],
    val_output: Annotated[Path, typer.Argument(help="Where the held-out part goes.")],
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of the records to hold out.")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed, the same split.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output LMDBs.")] = False,
) -> None:
    """Hold out a seeded random share of an LMDB into two new LMDBs (records copied byte for byte).

    The held-out records are the first round(N x fraction) of numpy's default_rng(seed) permutation,
    the split the default models were trained with. Crops cut out of whole photos are split by photo,
    so no photo has words on both sides. A folder of several LMDBs is split one LMDB at a time:
    INPUT_ROOT/REL goes to TRAIN_OUTPUT/REL and VAL_OUTPUT/REL.
    """
    with _user_errors():
        from scenetext.data.split import split_root

        console = _console()
        for result in split_root(input_root, train_output, val_output, val_fraction, seed, overwrite):
            photos = f" from {result.photos} photos" if result.photos is not None else ""
            console.print(
                f"{result.source}: {result.train + result.val} records{photos} -> "
                f"{result.train} in {result.train_output}, {result.val} in {result.val_output}",
                markup=False,
            )


def _shorten(text: str, limit: int = MAX_TEXT_SHOWN) -> str:
    """``text`` on one line and at most ``limit`` characters (the report file keeps it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@data_app.command()
def stats(
    directory: Annotated[Path, typer.Argument(help="An LMDB, or a folder searched recursively for LMDBs.")],
    charset: Annotated[
        str | None,
        typer.Option("--charset", "-c", help="Charset for coverage: en36, en94, zh or a key file."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="How many of the most frequent characters to list.")] = 20,
) -> None:
    """Print the sample count, label-length histogram, most frequent characters and charset coverage."""
    with _user_errors():
        from rich.table import Table

        from scenetext.data.stats import lmdb_stats
        from scenetext.runtime.charset import Charset

        chosen = Charset.from_spec(charset) if charset is not None else None
        result = lmdb_stats(directory, chosen)
        console = _console()

        sources = Table(title="LMDBs", title_justify="left")
        sources.add_column("path")
        sources.add_column("samples", justify="right")
        for path, count in result.sources:
            sources.add_row(str(path), str(count))
        console.print(sources)
        total_chars = result.total_chars
        console.print(
            f"samples: {result.count}   characters: {total_chars}   distinct characters: {len(result.chars)}"
        )
        if result.unreadable_labels:
            console.print(f"[red]records with a missing or invalid label: {result.unreadable_labels}[/red]")

        lengths = Table(title="label length", title_justify="left")
        for name in ("length", "labels", "%", ""):
            lengths.add_column(name, justify="right" if name else "left")
        rows = result.length_rows()
        peak = max((n for _, n in rows), default=0)
        for length, n in rows:
            bar = "#" * round(40 * n / peak) if peak else ""
            lengths.add_row(length, str(n), f"{100 * n / max(1, result.count):.1f}", bar)
        console.print(lengths)

        frequent = Table(title="most frequent", title_justify="left")
        for name in ("char", "count", "%"):
            frequent.add_column(name, justify="left" if name == "char" else "right")
        for ch, n in result.chars.most_common(top):
            frequent.add_row(repr(ch), str(n), f"{100 * n / max(1, total_chars):.2f}")
        console.print(frequent)

        if chosen is not None:
            assert result.coverage is not None and result.coverage_lowercased is not None
            coverage = Table(
                title=f"outside charset {chosen.name} ({len(chosen)} characters)", title_justify="left"
            )
            for name in ("labels", "labels outside", "characters outside", "most frequent outside"):
                coverage.add_column(
                    name, justify="left" if name == "labels" or "frequent" in name else "right"
                )
            for name, cov in (("as written", result.coverage), ("lowercased", result.coverage_lowercased)):
                common = " ".join(f"{ch!r}x{n}" for ch, n in cov.chars_outside.most_common(10))
                outside = sum(cov.chars_outside.values())
                coverage.add_row(
                    name,
                    f"{cov.labels_outside} ({100 * cov.labels_outside / max(1, result.count):.1f}%)",
                    f"{outside} ({100 * outside / max(1, total_chars):.1f}%)",
                    common,
                )
            console.print(coverage)


@data_app.command()
def show(
    directory: Annotated[Path, typer.Argument(help="An LMDB, or a folder searched recursively for LMDBs.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG file to write.")],
    count: Annotated[int, typer.Option("--count", "-n", help="How many random samples to draw.")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for picking the samples.")] = 0,
    columns: Annotated[int, typer.Option("--columns", help="Grid columns.")] = 4,
) -> None:
    """Write a PNG grid of random samples with their labels (unreadable records are shown in red)."""
    with _user_errors():
        from scenetext.data.grid import read_samples, render_grid
        from scenetext.errors import ScenetextError

        if output.is_dir():
            raise ScenetextError(f"{output}: is a directory; give the PNG file to write")
        samples = read_samples(directory, count, seed=seed)
        sheet = render_grid(samples, columns=columns)
        partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            sheet.save(partial, format="PNG")
            os.replace(partial, output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ScenetextError(f"{output}: cannot write ({exc.strerror or exc})") from None
        bad = sum(1 for s in samples if s.image is None)
        note = f" ({bad} unreadable)" if bad else ""
        _console().print(f"{output}: {len(samples)} samples{note}, {sheet.width}x{sheet.height} pixels")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(data_app, name="data")
