"""The ``scenetext`` console command.

Each part of the toolkit registers its commands from its own module, so the parts stay
independent and heavy imports (torch) happen only inside the commands that need them. That is what lets the
inference-only install run ``--help``, ``read`` and ``bench``; a command that needs an extra which is not
installed stops with one line naming it (:class:`_App`), whichever command it is.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from scenetext.cli import data, engine, inference, serve, synth
from scenetext.extras import missing_extra_message


class _App(typer.Typer):
    """The command group; a module of a missing extra becomes one line on stderr and exit code 1."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ModuleNotFoundError as exc:
            message = missing_extra_message(_command_path(self, sys.argv[1:]), exc)
            if message is None:  # a module no extra provides: a broken install or a bug, shown in full
                raise
            typer.echo(f"error: {message}", err=True)
            sys.exit(1)


def _command_path(app: typer.Typer, args: list[str]) -> str:
    """``scenetext train`` or ``scenetext data import``: the (sub)command names at the start of ``args``."""
    names = ["scenetext"]
    commands = getattr(typer.main.get_command(app), "commands", {})
    for arg in args:
        if arg not in commands:
            break
        names.append(arg)
        commands = getattr(commands[arg], "commands", {})
    return " ".join(names)


app = _App(
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
