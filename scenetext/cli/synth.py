"""CLI commands of the `scenetext.synth` part: render LMDBs, the challenge benchmark, font lists, previews."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

CATEGORIES_HELP = (
    "Categories and weights, e.g. 'curve,general' or 'curve=2,general=1' "
    "(general, curve, multi-oriented, artistic, contextless, salient, multi-words, incidental)."
)


@contextmanager
def _user_errors():
    """ScenetextError -> 'error: ...' on stderr and exit 1; warnings -> one 'warning: ...' line each."""
    from scenetext.errors import ScenetextError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except ScenetextError as exc:
            _print_warnings(caught)
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        _print_warnings(caught)


def _print_warnings(caught: list) -> None:
    seen = set()
    for warning in caught:
        message = str(warning.message)
        if message not in seen and issubclass(warning.category, UserWarning):
            seen.add(message)
            typer.echo(f"warning: {message}", err=True)


def _load_config(
    config_file: Path | None,
    lang: str | None,
    seed: int | None,
    categories: str | None,
    fonts: list[Path] | None,
    charset: str | None,
    height: int | None,
    width: int | None,
    backgrounds: list[Path] | None,
    words: list[Path] | None,
    vocabulary: Path | None = None,
):
    """A SynthConfig from an optional YAML/JSON file, with command-line flags taking precedence."""
    from scenetext.errors import ScenetextError
    from scenetext.synth.config import SynthConfig, parse_categories

    data: dict = {}
    if config_file is not None:
        import yaml

        try:
            data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ScenetextError(f"{config_file}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ScenetextError(f"{config_file}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ScenetextError(f"{config_file}: expected a mapping of synth config keys")
        data = data.get("synth", data)
    flags = {
        "lang": lang,
        "seed": seed,
        "categories": parse_categories(categories) if categories else None,
        "font_dirs": [str(p) for p in fonts] if fonts else None,
        "charset": charset,
        "height": height,
        "width": width,
        "background_dirs": [str(p) for p in backgrounds] if backgrounds else None,
        "word_lists": [str(p) for p in words] if words else None,
        "vocabulary": str(vocabulary) if vocabulary else None,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    return SynthConfig.from_dict(data)


def _progress():
    """A rich progress bar on stderr, so stdout carries only the summary."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _print_summary(summaries) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="synthetic data written")
    for column in ("output", "images", "img/s", "mean width", "MB", "fonts used"):
        table.add_column(column, overflow="fold")
    for s in summaries:
        table.add_row(
            s.output,
            str(s.count),
            f"{s.images_per_second:.0f}",
            f"{s.mean_width:.0f}",
            f"{s.bytes / 1e6:.1f}",
            str(len(s.fonts)),
        )
    console = Console()
    console.print(table)
    if len(summaries) == 1:
        mix = ", ".join(f"{name} {n}" for name, n in sorted(summaries[0].categories.items()))
        console.print(f"categories: {mix}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    synth_app = typer.Typer(
        help="Render synthetic word images (English, Chinese) for training and evaluation.",
        no_args_is_help=False,
    )

    @synth_app.callback(invoke_without_command=True)
    def generate(
        ctx: typer.Context,
        lang: Annotated[str | None, typer.Option("--lang", help="en or zh (default en).")] = None,
        count: Annotated[int | None, typer.Option("--count", help="Number of images to render.")] = None,
        output: Annotated[Path | None, typer.Option("--output", help="LMDB directory to create.")] = None,
        workers: Annotated[
            int, typer.Option("--workers", help="Rendering processes (output is identical).")
        ] = 1,
        categories: Annotated[str | None, typer.Option("--categories", help=CATEGORIES_HELP)] = None,
        seed: Annotated[
            int | None, typer.Option("--seed", help="Same seed, same images (default 0).")
        ] = None,
        fonts: Annotated[
            list[Path] | None, typer.Option("--fonts", help="Font directory (repeatable).")
        ] = None,
        charset: Annotated[
            str | None, typer.Option("--charset", help="en36, en94, zh or a key file.")
        ] = None,
        height: Annotated[int | None, typer.Option("--height", help="Stored short side in pixels.")] = None,
        width: Annotated[
            int | None, typer.Option("--width", help="Fixed long side (default: natural).")
        ] = None,
        backgrounds: Annotated[
            list[Path] | None, typer.Option("--backgrounds", help="Photo/texture dir.")
        ] = None,
        words: Annotated[
            list[Path] | None, typer.Option("--words", help="Extra word list, one per line.")
        ] = None,
        vocabulary: Annotated[
            Path | None,
            typer.Option("--vocabulary", help="Word list that replaces wordfreq (one per line)."),
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="YAML/JSON SynthConfig; flags override.")
        ] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing LMDB.")] = False,
    ) -> None:
        """Render --count images into a new LMDB at --output (or run a subcommand)."""
        if ctx.invoked_subcommand is not None:
            return
        if count is None or output is None:
            typer.echo("error: synth needs --count N and --output DIR (see scenetext synth --help)", err=True)
            raise typer.Exit(1)
        from scenetext.synth.generator import SynthGenerator
        from scenetext.synth.writer import write_lmdb

        with _user_errors():
            if count < 1:
                from scenetext.errors import ScenetextError

                raise ScenetextError(f"--count {count}: must be at least 1")
            cfg = _load_config(
                config, lang, seed, categories, fonts, charset, height, width, backgrounds, words, vocabulary
            )
            generator = SynthGenerator(cfg)  # fails (fonts, charset, word lists) before the progress bar
            with _progress() as progress:
                task = progress.add_task(f"rendering {cfg.lang}", total=count)
                summary = write_lmdb(
                    cfg, count, output, workers, overwrite, lambda n: progress.advance(task, n), generator
                )
            _print_summary([summary])

    @synth_app.command("benchmark")
    def benchmark(
        output: Annotated[Path, typer.Option("--output", help="Directory; one LMDB per category inside.")],
        lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
        per_category: Annotated[int, typer.Option("--per-category", help="Images per category.")] = 500,
        workers: Annotated[
            int, typer.Option("--workers", help="Rendering processes (output is identical).")
        ] = 1,
        fonts: Annotated[
            list[Path] | None, typer.Option("--fonts", help="Font directory (repeatable).")
        ] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing LMDBs.")] = False,
    ) -> None:
        """Write the fixed-seed synthetic challenge set: OUTPUT/<category>/ for each hard-case category."""
        from scenetext.synth.config import CATEGORIES
        from scenetext.synth.writer import write_benchmark

        with _user_errors():
            extra = {"font_dirs": [str(p) for p in fonts]} if fonts else {}
            total = per_category * len(CATEGORIES)
            with _progress() as progress:
                task = progress.add_task(f"benchmark {lang}", total=total)
                summaries = write_benchmark(
                    lang,
                    output,
                    per_category,
                    workers,
                    overwrite,
                    lambda n: progress.advance(task, n),
                    **extra,
                )
            _print_summary(summaries)

    @synth_app.command("backgrounds")
    def backgrounds_command(
        output: Annotated[Path, typer.Option("--output", help="Folder for the patches (JPEG).")],
        svt: Annotated[
            list[Path] | None, typer.Option("--svt", help="SVT XML annotations (e.g. train.xml); repeatable.")
        ] = None,
        ic13: Annotated[
            list[Path] | None,
            typer.Option("--ic13", help="ICDAR 2013 set folder with gt/ and images/; repeatable."),
        ] = None,
        include_list: Annotated[
            Path | None, typer.Option("--include-list", help="Use only these photos (names, one a line).")
        ] = None,
        exclude_list: Annotated[
            Path | None, typer.Option("--exclude-list", help="Never use these photos (names, one a line).")
        ] = None,
        per_photo: Annotated[int, typer.Option("--per-photo", help="Patches cut from each photo.")] = 20,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same patches.")] = 0,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace a folder this command wrote before.")
        ] = False,
    ) -> None:
        """Background patches from annotated photos, their word boxes painted out (for --backgrounds).

        A photo name in the lists is the annotation's (img/14_03.jpg, images/img_1.png) or the file name;
        a listed name that matches no photo is an error."""
        from scenetext.errors import ScenetextError
        from scenetext.synth import photo_backgrounds as pb

        with _user_errors():
            if not svt and not ic13:
                raise ScenetextError("synth backgrounds needs --svt FILE or --ic13 DIR")
            photos = [p for path in svt or [] for p in pb.read_svt(path)]
            photos += [p for path in ic13 or [] for p in pb.read_ic13(path)]
            include = pb.read_name_list(include_list) if include_list is not None else None
            exclude = pb.read_name_list(exclude_list) if exclude_list is not None else []
            chosen = pb.select(photos, include, exclude)
            pb.check_request(chosen, per_photo)
            with _progress() as progress:
                task = progress.add_task("painting out text", total=len(chosen))
                summary = pb.write_backgrounds(
                    chosen, output, per_photo, seed, overwrite, lambda n: progress.advance(task, n)
                )
            typer.echo(
                f"wrote {summary.patches} patches from {summary.photos} of {len(photos)} photos "
                f"({summary.boxes} word boxes painted out) to {output}"
            )

    @synth_app.command("fonts")
    def list_fonts(
        fonts: Annotated[
            list[Path] | None, typer.Option("--fonts", help="Font directory (repeatable).")
        ] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="Only this language (en or zh).")] = None,
    ) -> None:
        """List the fonts the engine would use, per language and style."""
        from scenetext.synth.fonts import FontLibrary, describe

        with _user_errors():
            library = FontLibrary.discover([str(p) for p in fonts] if fonts else None)
            if library.is_builtin:
                typer.echo("using Pillow's built-in font only")
            for language, kinds in describe(library).items():
                if lang and language != lang:
                    continue
                total = sum(len(v) for v in kinds.values())
                typer.echo(f"{language}: {total} faces")
                for kind, names in kinds.items():
                    typer.echo(f"  {kind} ({len(names)}): {', '.join(names)}")
                if not kinds:
                    typer.echo("  (none: install them with scripts/install-fonts.sh)")

    @synth_app.command("preview")
    def preview(
        output: Annotated[Path, typer.Option("--output", help="PNG contact sheet to write.")],
        lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
        categories: Annotated[str | None, typer.Option("--categories", help=CATEGORIES_HELP)] = None,
        count: Annotated[int, typer.Option("--count", help="Images on the sheet.")] = 24,
        seed: Annotated[int, typer.Option("--seed", help="Seed.")] = 0,
        fonts: Annotated[
            list[Path] | None, typer.Option("--fonts", help="Font directory (repeatable).")
        ] = None,
    ) -> None:
        """Render a few samples to a labelled PNG grid, to check the look of a config by eye."""
        from scenetext.synth.generator import SynthGenerator
        from scenetext.synth.preview import contact_sheet

        with _user_errors():
            cfg = _load_config(None, lang, seed, categories, fonts, None, None, None, None, None)
            generator = SynthGenerator(cfg)
            samples = [generator.sample(i) for i in range(count)]
            title = f"{lang} {categories or 'default mix'} (seed {seed})"
            sheet = contact_sheet(
                [s.image for s in samples], [s.label for s in samples], generator.fonts, title=title
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            sheet.save(output)
            typer.echo(f"wrote {output}")

    app.add_typer(synth_app, name="synth")
