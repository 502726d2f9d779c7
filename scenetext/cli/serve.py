"""CLI commands of the `scenetext.serve` part: serve."""

from __future__ import annotations

from typing import Annotated

import typer

MODEL_HELP = "Built-in name (default, default-zh), artifact directory, or .onnx file with --backend onnx."


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go, so a busy port fails in one line, not after "serving on"."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except socket.gaierror as exc:
        _fail(f"--host {host}: cannot resolve ({exc.strerror})")
    except OSError as exc:
        _fail(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); choose another --port")


def serve(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0 exposes it to the network).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Most images in one model call (1: no batching).")
    ] = 32,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, help="How long a batch waits for more images to join.")
    ] = 10.0,
    queue_size: Annotated[
        int, typer.Option("--queue-size", min=1, help="Images allowed to wait; beyond it requests get 503.")
    ] = 256,
    max_upload_bytes: Annotated[
        int, typer.Option("--max-upload-bytes", min=1, help="Largest request body (413 above it).")
    ] = 20 * 1024 * 1024,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", min=1, help="Largest image, width x height, read from its header.")
    ] = 16_000_000,
    max_images: Annotated[int, typer.Option("--max-images", min=1, help="Most images in one request.")] = 32,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            min=0.001,
            help="Seconds a request's headers, then its body, may take to arrive (408 after).",
        ),
    ] = 60.0,
    decode_workers: Annotated[
        int,
        typer.Option(
            "--decode-workers",
            min=1,
            help="Images decoded at once (bounds decoding memory to ~7 B x pixels each).",
        ),
    ] = 4,
    backend: Annotated[
        str, typer.Option("--backend", help="auto (torch where installed, else onnx), torch, or onnx.")
    ] = "auto",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, ...")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Intra-op CPU threads.")] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log one line per request.")
    ] = True,
) -> None:
    """Serve recognition over HTTP: POST /v1/recognize, GET /v1/models, GET /health, a web page at /.

    Concurrent requests are batched together (--max-batch, --max-wait-ms); API docs at /docs.
    """
    import numpy as np
    import uvicorn

    from scenetext.errors import ScenetextError
    from scenetext.inference.recognizer import Recognizer
    from scenetext.serve.app import create_app
    from scenetext.serve.protocol import timed_h11_protocol
    from scenetext.serve.settings import ServeSettings

    try:
        settings = ServeSettings(
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            queue_size=queue_size,
            max_upload_bytes=max_upload_bytes,
            max_pixels=max_pixels,
            max_images=max_images,
            read_timeout_s=read_timeout,
            decode_workers=decode_workers,
        )
        recognizer = Recognizer.load(model, device=device, backend=backend, threads=threads)  # type: ignore[arg-type]
        height, width = recognizer.input_size
        recognizer.read(np.full((height, width, 3), 255, dtype=np.uint8))  # first call pays one-off setup
    except ScenetextError as exc:
        _fail(str(exc))
    _check_port(host, port)
    app = create_app(recognizer, settings)
    typer.echo(f"serving {recognizer.model_name} on http://{host}:{port}/ (API docs at /docs)", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=timed_h11_protocol(settings.read_timeout_s),
        log_config=_log_config(),
        log_level="info",
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )


def _log_config() -> dict:
    """uvicorn's logging setup, with the service's own messages (timeouts, aborted uploads) beside its own."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["scenetext"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command("serve")(serve)
