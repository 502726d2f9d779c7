"""The `scenetext` command itself: --version and the version command."""

from __future__ import annotations

from typer.testing import CliRunner

from scenetext import __version__
from scenetext.cli.main import app


def test_version_option_and_command_print_the_version() -> None:
    runner = CliRunner()
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{__version__}\n"
    assert "--version" in runner.invoke(app, ["--help"]).stdout
