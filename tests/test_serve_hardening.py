"""Hostile and broken clients against a real server on a socket: every refusal is a 4xx in the JSON error form
on a connection that stays usable, slow clients are cut off with 408, and a real bug is still a logged 500."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from serve_helpers import files, live_server, load_small_recognizer, word_png

from scenetext.errors import ScenetextError
from scenetext.serve.app import create_app
from scenetext.serve.settings import ServeSettings

TIMEOUT_S = 0.6


@pytest.fixture(autouse=True)
def scenetext_logs_reach_caplog(monkeypatch: pytest.MonkeyPatch) -> None:
    """A training test earlier in the session may have given the "scenetext" logger its own handler and
    turned propagation off (the CLI's console set-up); these tests read the service's log through caplog."""
    monkeypatch.setattr(logging.getLogger("scenetext"), "propagate", True)


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory: pytest.TempPathFactory):
    return load_small_recognizer(tmp_path_factory.mktemp("serve-hardening"))


@pytest.fixture(scope="module")
def address(recognizer) -> Iterator[tuple[str, int]]:
    with live_server(create_app(recognizer, ServeSettings(read_timeout_s=TIMEOUT_S))) as url:
        parts = urlsplit(url)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


def _multipart(boundary: str, data: bytes) -> bytes:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
    return (head + "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()


def _post(connection: http.client.HTTPConnection, body: bytes, content_type: str) -> tuple[int, dict]:
    connection.request("POST", "/v1/recognize", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _good_request(connection: http.client.HTTPConnection) -> None:
    status, body = _post(
        connection, _multipart("b0undary", word_png(0)), "multipart/form-data; boundary=b0undary"
    )
    assert status == 200 and "text" in body["results"][0]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"images": ' + b"[" * 1100 + b"]" * 1100 + b"}", "application/json", 400, "invalid_json"),
        (b"[" * 100_000, "application/json", 400, "invalid_json"),
        (
            _multipart("b" * 300, word_png(0)),
            "multipart/form-data; boundary=" + "b" * 300,
            400,
            "invalid_multipart",
        ),
    ],
    ids=["json nested 1100 deep", "json nested 100000 deep", "boundary of 300 characters"],
)
def test_refusals_keep_the_connection_usable(address, body, content_type, status, code) -> None:
    connection = http.client.HTTPConnection(*address, timeout=10)
    _good_request(connection)
    sock = connection.sock
    answer = _post(connection, body, content_type)
    assert answer[0] == status and answer[1]["error"]["code"] == code, answer
    assert "\n" not in answer[1]["error"]["message"]
    _good_request(connection)
    assert connection.sock is sock  # the same keep-alive connection answered all three
    connection.close()


def test_an_aborted_upload_is_one_info_line(address, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(
            b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
            b'Content-Length: 100000\r\n\r\n--xyz\r\nContent-Disposition: form-data; name="files"\r\n\r\n'
            + b"a"
            * 5000
        )
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while not any("closed the connection" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the aborted upload was never logged"
        time.sleep(0.02)
    time.sleep(0.1)
    ours = [r for r in caplog.records if r.name.startswith("scenetext")]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO
    assert "bytes received" in ours[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _timed_out(answer: bytes) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"connection: close" in head.lower()
    return json.loads(body)


@pytest.mark.parametrize("stage", ["silent", "headers", "body"])
def test_slow_clients_get_408_after_the_read_timeout(address, stage: str) -> None:
    request = (
        b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"images": ["'
    )
    sent = {"silent": b"", "headers": request[:30], "body": request}[stage]
    with socket.create_connection(address, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        # Keep trickling bytes (well within the timeout each): the deadline is for the whole, not per byte.
        while stage != "silent" and time.monotonic() - started < TIMEOUT_S + 0.3:
            try:
                sock.sendall(b"a" if stage == "body" else b"X")
            except OSError:
                break
            time.sleep(0.1)
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert TIMEOUT_S - 0.1 <= elapsed < TIMEOUT_S + 5  # the server's clock starts as it accepts
    error = _timed_out(answer)["error"]
    assert error["code"] == "request_timeout"
    assert ("body" if stage == "body" else "headers") in error["message"]


def test_a_kept_alive_connection_gets_a_fresh_deadline_per_request(address) -> None:
    connection = http.client.HTTPConnection(*address, timeout=10)
    _good_request(connection)
    time.sleep(TIMEOUT_S * 0.7)
    _good_request(connection)
    time.sleep(TIMEOUT_S * 0.7)  # past the first deadline counted from the connection's opening
    _good_request(connection)
    connection.close()


def test_a_real_bug_is_still_a_500_with_its_traceback_logged(recognizer, caplog) -> None:
    app = create_app(recognizer, ServeSettings())

    def broken(upload):
        raise ZeroDivisionError("injected bug")

    app.state.model.prepare = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/recognize", files=files(("a.png", word_png(0))))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError)]
    assert logged and logged[0].levelno == logging.ERROR


def test_openapi_says_at_least_one_image(recognizer) -> None:
    with TestClient(create_app(recognizer, ServeSettings())) as client:
        schema = client.get("/openapi.json").json()
    content = schema["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["files"]["minItems"] == 1
    assert content["application/json"]["schema"]["properties"]["images"]["minItems"] == 1
    assert "408" in schema["paths"]["/v1/recognize"]["post"]["responses"]


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "5", True])
def test_read_timeout_must_be_positive_seconds(value) -> None:
    with pytest.raises(ScenetextError, match="read_timeout_s"):
        ServeSettings(read_timeout_s=value)
