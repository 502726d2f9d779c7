"""The ``scenetext`` console command.

Each part of the toolkit registers its commands from its own module, so the parts stay
independent and heavy imports (torch) happen only inside the commands that need them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scenetext.cli import data, engine, inference, serve, synth

app = typer.Typer(
    name="scenetext",
    help="Scene text recognition: read, train, evaluate, synthesise and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from scenetext import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Scene text recognition: read, train, evaluate, synthesise and serve."""


@app.command()
def version() -> None:
    """Print the installed scenetext version."""
    _print_version(True)


for module in (data, synth, engine, inference, serve):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
