"""`scenetext serve`: options reach the app and uvicorn; bad models and settings are one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inference_helpers import make_artifact
from typer.testing import CliRunner

from scenetext.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("serve-cli") / "model")


def test_options_configure_the_app_and_the_server(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda served, **kwargs: started.update(app=served, **kwargs))
    result = runner.invoke(
        app,
        [
            "serve",
            "--model",
            str(artifact),
            "--port",
            "8123",
            "--max-batch",
            "4",
            "--max-wait-ms",
            "2.5",
            "--queue-size",
            "40",
            "--max-images",
            "5",
            "--max-pixels",
            "1000000",
            "--max-upload-bytes",
            "50000",
            "--read-timeout",
            "7.5",
            "--no-access-log",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (started["host"], started["port"], started["access_log"]) == ("127.0.0.1", 8123, False)
    settings = started["app"].state.settings
    assert (settings.max_batch, settings.max_wait_ms, settings.queue_size) == (4, 2.5, 40)
    assert (settings.max_images, settings.max_pixels, settings.max_upload_bytes) == (5, 1_000_000, 50_000)
    assert started["app"].state.model.name == "nastr-tiny"
    assert settings.read_timeout_s == 7.5 and started["http"].read_timeout_s == 7.5
    assert "scenetext" in started["log_config"]["loggers"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "no/such/model"], "no/such/model: no such file or directory"),
        (["--queue-size", "4", "--max-images", "8"], "queue_size 4: must be at least max_images (8)"),
        (["--backend", "tensorflow"], "backend 'tensorflow'"),
    ],
)
def test_bad_options_are_one_line_errors(artifact: Path, arguments: list[str], message: str) -> None:
    if "--model" not in arguments:
        arguments = ["--model", str(artifact), *arguments]
    result = runner.invoke(app, ["serve", *arguments])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_busy_port_fails_in_one_line_before_serving(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import uvicorn

    started: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda served, **kwargs: started.append(kwargs["port"]))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", "--model", str(artifact), "--port", str(port)])
    assert result.exit_code == 1 and not started
    assert result.stderr.strip() == (
        f"error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another --port"
    )
    assert "serving" not in result.output
