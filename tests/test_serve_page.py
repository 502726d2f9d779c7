"""The web page end to end: a real headless Chromium (Debian's, driven by Playwright) against a live server.

Chromium comes from the system package; when it is missing and we are root (as in CI) the test installs it
with apt-get. Playwright's own browser download is never used.
"""

from __future__ import annotations

import base64
import os
import re
import select
import shutil
import socket
import subprocess

import pytest
from serve_helpers import files, live_server, load_small_recognizer, word_png

from scenetext.serve.app import create_app
from scenetext.serve.settings import ServeSettings

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A DataTransfer holding one PNG, dispatched as a drop on the drop zone or as a paste on the document.
_DISPATCH = """([kind, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const event = kind === "drop"
    ? new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true })
    : new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
  (kind === "drop" ? document.querySelector("#drop-zone") : document).dispatchEvent(event);
}"""


def find_chromium() -> str:
    """Debian's chromium, installed with apt-get when missing and we are root."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium) and this user cannot install it"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        command = "apt-get update && apt-get install -y --no-install-recommends chromium"
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=900)
        found = shutil.which("chromium")
        if found:
            return found
        message = f"installing chromium failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory: pytest.TempPathFactory):
    return load_small_recognizer(tmp_path_factory.mktemp("page-model"))


@pytest.fixture(scope="module")
def server(recognizer):
    with live_server(create_app(recognizer, ServeSettings(max_upload_bytes=200_000))) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = find_chromium()
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
        )
        yield context
        context.close()


def test_upload_shows_text_confidence_and_attention_strip(
    server, browser_context, recognizer, tmp_path
) -> None:
    image = tmp_path / "word.png"
    image.write_bytes(word_png(7, (40, 140)))
    expected = recognizer.read(image.read_bytes())
    requested: list[str] = []
    page = browser_context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    page.locator(".model .chip", has_text="nastr-tiny").wait_for()

    page.set_input_files("#file-input", str(image))
    card = page.locator(".result").first
    card.locator(".strip").wait_for(state="visible")
    assert card.locator(".name").inner_text() == "word.png"
    assert card.locator(".text").inner_text() == expected.text
    assert card.locator(".char").count() == len(expected.text)
    assert "% confidence" in card.locator(".confidence").inner_text()
    assert "batch of 1" in card.locator(".timing").inner_text()
    strip_width = card.locator(".strip").evaluate("img => img.naturalWidth")
    assert strip_width > 0
    assert errors == []
    assert all(url.startswith((server, "data:", "blob:")) for url in requested), requested  # nothing external
    page.close()


def test_drop_paste_and_a_bad_file(server, browser_context, recognizer, tmp_path) -> None:
    page = browser_context.new_page()
    page.goto(server + "/")
    page.locator(".model .chip", has_text="nastr-tiny").wait_for()
    for index, kind in enumerate(("drop", "paste")):
        data = word_png(10 + index)
        page.evaluate(_DISPATCH, [kind, base64.b64encode(data).decode(), f"{kind}.png"])
        card = page.locator(".result", has_text=f"{kind}.png")
        card.locator(".strip").wait_for(state="visible")
        assert card.locator(".text").inner_text() == recognizer.read(data).text

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"definitely not a png")
    page.set_input_files("#file-input", str(bad))
    failed = page.locator(".result.failed", has_text="broken.png")
    failed.wait_for()
    assert "not a recognised image format" in failed.locator(".text").inner_text()
    page.close()


def _read_answer(sock: socket.socket) -> str:
    """One HTTP response: the status line and headers, then Content-Length bytes of body."""
    received = b""
    while True:
        head, separator, body = received.partition(b"\r\n\r\n")
        if separator:
            length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            if length and len(body) >= int(length.group(1)):
                return received.decode("latin-1")
        data = sock.recv(65536)
        assert data, f"connection closed mid-response: {received!r}"
        received += data


def test_body_over_the_limit_is_refused_while_streaming(server) -> None:
    """A chunked upload with no Content-Length gets its 413 before the client has sent it all."""
    host, port = server.removeprefix("http://").split(":")
    head = (
        "POST /v1/recognize HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    part = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
    chunk = b"a" * 50_000
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        while sent < 40 and not select.select([sock], [], [], 0.1)[0]:  # up to 2 MB, until it answers
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += 1
        answer = _read_answer(sock)
    assert answer.startswith("HTTP/1.1 413")
    assert "payload_too_large" in answer
    assert sent < 40  # answered mid-upload, after about 200 KB (4 or 5 chunks)


def test_the_live_server_batches_concurrent_clients(server, recognizer) -> None:
    import concurrent.futures

    import httpx

    def post(seed: int) -> httpx.Response:
        return httpx.post(server + "/v1/recognize", files=files((f"{seed}.png", word_png(seed))), timeout=30)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    for seed, response in enumerate(responses):  # each client got the reading of its own image
        expected = recognizer.read(word_png(seed))
        result = response.json()["results"][0]
        assert result["text"] == expected.text
        assert result["confidence"] == pytest.approx(expected.confidence, rel=1e-4, abs=1e-12)


def test_api_docs_render_offline(server, browser_context) -> None:
    """Swagger UI comes from the package and understands FastAPI's OpenAPI 3.1 document."""
    requested: list[str] = []
    page = browser_context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server + "/docs")
    page.locator(".opblock-summary-path", has_text="/v1/recognize").wait_for()
    assert page.locator(".opblock-summary-path", has_text="/v1/models").count() == 1
    assert all(url.startswith((server, "data:", "blob:")) for url in requested), requested
    page.close()
