"""CLI commands of the `scenetext.engine` part (train, test)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
