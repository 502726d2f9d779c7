"""Shared pieces for the service tests: a small real recognizer, wrappers that count or hold model calls."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from inference_helpers import make_artifact, png_bytes, word_image
from PIL import Image


def load_small_recognizer(directory: Path) -> Any:
    """An untrained nastr-tiny (32 x 64 input) loaded through the public Recognizer API."""
    from scenetext.inference import Recognizer

    return Recognizer.load(make_artifact(directory, "nastr-tiny"))


class CountingRecognizer:
    """Delegates to a real recognizer and records the size of every ``read`` call (the model work)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(len(images))
        return self.inner.read(images, *args, **kwargs)


class GatedRecognizer(CountingRecognizer):
    """Like CountingRecognizer, but every ``read`` waits until the test opens the gate.

    While the first batch is held in the model, later requests pile up in the queue, so a test can decide
    exactly what is waiting when the gate opens (no reliance on timing).
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def read(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(len(images))
        self.entered.release()
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.read(images, *args, **kwargs)


def word_png(seed: int = 0, size: tuple[int, int] = (28, 90)) -> bytes:
    return png_bytes(word_image(seed, size))


def noise_png(height: int, width: int, seed: int = 0) -> bytes:
    """A PNG that barely compresses: about 3 bytes per pixel on the wire."""
    rng = np.random.default_rng(seed)
    return png_bytes(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def blank_png(height: int, width: int) -> bytes:
    """A huge-in-pixels, tiny-in-bytes image: what a decompression bomb looks like."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def files(*images: tuple[str, bytes] | tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``files`` parts for httpx: (name, data[, content type]) each, image/png by default."""
    parts = []
    for image in images:
        name, data = image[0], image[1]
        content_type = image[2] if len(image) > 2 else "image/png"
        parts.append(("files", (name, data, content_type)))
    return parts


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1 on a free port in a background thread; yields its base URL.

    The server is set up as ``scenetext serve`` sets it up: the h11 protocol with the app's read timeout.
    """
    import uvicorn

    from scenetext.serve.protocol import timed_h11_protocol

    protocol = timed_h11_protocol(app.state.settings.read_timeout_s)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http=protocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
