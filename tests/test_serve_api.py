"""The HTTP API in-process: answers, per-image errors, every limit before model work, batching, shutdown."""

from __future__ import annotations

import asyncio
import base64
import io
import tempfile

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import (
    CountingRecognizer,
    GatedRecognizer,
    blank_png,
    files,
    load_small_recognizer,
    noise_png,
    word_png,
)
from starlette.requests import Request

from scenetext.serve.app import create_app
from scenetext.serve.errors import ApiError
from scenetext.serve.settings import ServeSettings
from scenetext.serve.uploads import read_uploads


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory: pytest.TempPathFactory):
    return load_small_recognizer(tmp_path_factory.mktemp("serve-model"))


@pytest.fixture
def counting(recognizer) -> CountingRecognizer:
    return CountingRecognizer(recognizer)


def _client(model, **settings) -> TestClient:
    return TestClient(create_app(model, ServeSettings(**settings)))


def test_one_image_gives_the_same_reading_as_the_recognizer(recognizer, counting) -> None:
    with _client(counting) as client:
        response = client.post("/v1/recognize", files=files(("word.png", word_png(1))))
    assert response.status_code == 200
    body = response.json()
    expected = recognizer.read(word_png(1))
    (result,) = body["results"]
    assert body["model"] == "nastr-tiny"
    assert result["name"] == "word.png" and result["index"] == 0
    assert result["text"] == expected.text
    assert result["confidence"] == pytest.approx(expected.confidence, rel=1e-4, abs=1e-12)
    assert result["char_confidences"] == pytest.approx(expected.char_confidences, rel=1e-4)
    assert len(result["char_confidences"]) == len(result["text"])
    assert set(result["timing"]) == {"decode_ms", "queue_ms", "inference_ms", "batch_size"}
    assert result["timing"]["batch_size"] == 1
    assert "attention_png" not in result and "error" not in result
    assert counting.calls == [1]


def test_attention_strip_is_a_png_with_a_panel_per_character(counting) -> None:
    with _client(counting) as client:
        response = client.post("/v1/recognize?attention=1", files=files(("w.png", word_png(2))))
    result = response.json()["results"][0]
    strip = Image.open(io.BytesIO(base64.b64decode(result["attention_png"])))
    assert strip.format == "PNG"
    assert strip.width > strip.height > 0


def test_json_base64_and_data_url_inputs(counting) -> None:
    plain = base64.b64encode(word_png(3)).decode()
    data_url = "data:image/png;base64," + base64.b64encode(word_png(4)).decode()
    with _client(counting) as client:
        response = client.post("/v1/recognize", json={"images": [plain, data_url]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["name"] for r in results] == ["images[0]", "images[1]"]
    assert all("text" in r for r in results)


def test_a_bad_image_fails_only_itself(counting) -> None:
    parts = files(
        ("good.png", word_png(5)),
        ("corrupt.png", b"\x89PNG\r\n\x1a\nnot really"),
        ("notes.txt", b"hello", "text/plain"),
        ("good2.png", word_png(6)),
    )
    with _client(counting) as client:
        response = client.post("/v1/recognize", files=parts)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["name"] for r in results] == ["good.png", "corrupt.png", "notes.txt", "good2.png"]
    assert "text" in results[0] and "text" in results[3]
    assert results[1]["error"]["code"] == "invalid_image"
    assert "corrupt.png" in results[1]["error"]["message"]
    assert results[2]["error"]["code"] == "unsupported_media_type"
    assert counting.calls == [2]  # only the two good images reached the model


def test_many_images_come_back_in_order_through_several_batches(recognizer, counting) -> None:
    images = [word_png(seed) for seed in range(20)]
    with _client(counting, max_batch=8, max_images=20, max_wait_ms=0) as client:
        response = client.post("/v1/recognize", files=files(*((f"{i}.png", d) for i, d in enumerate(images))))
    results = response.json()["results"]
    assert [r["name"] for r in results] == [f"{i}.png" for i in range(20)]
    expected = recognizer.read(images)
    assert [r["text"] for r in results] == [e.text for e in expected]
    confidences = [r["confidence"] for r in results]
    assert confidences == pytest.approx([e.confidence for e in expected], rel=1e-4, abs=1e-12)
    assert counting.calls == [8, 8, 4]


def _limit_requests(client: TestClient) -> dict[str, httpx.Response]:
    """One request breaking each limit (settings: 2,000 bytes, 3 images, 10,000 pixels)."""
    return {
        "declared size": client.post(
            "/v1/recognize",
            content=b"x" * 10,
            headers={"content-type": "application/json", "content-length": "5000"},
        ),
        "body size": client.post("/v1/recognize", files=files(("big.png", noise_png(40, 40)))),
        "image count": client.post("/v1/recognize", files=files(*((f"{i}.png", b"x") for i in range(4)))),
        "json image count": client.post("/v1/recognize", json={"images": ["eA=="] * 4}),
        "media type": client.post("/v1/recognize", content=b"abc", headers={"content-type": "text/plain"}),
        "no content type": client.post("/v1/recognize", content=b"abc"),
        "pixels": client.post("/v1/recognize", files=files(("bomb.png", blank_png(200, 200)))),
        "corrupt": client.post("/v1/recognize", files=files(("bad.png", b"garbage"))),
        "part type": client.post("/v1/recognize", files=files(("a.txt", b"text", "text/plain"))),
        "bad base64": client.post("/v1/recognize", json={"images": ["***"]}),
        "bad json": client.post("/v1/recognize", content=b"{", headers={"content-type": "application/json"}),
        "json shape": client.post("/v1/recognize", json={"pictures": []}),
        "no images": client.post("/v1/recognize", json={"images": []}),
        "wrong field": client.post("/v1/recognize", files={"image": ("a.png", word_png(0), "image/png")}),
        "truncated multipart": client.post(
            "/v1/recognize",
            content=b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\nabc',
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        ),
        "no boundary": client.post(
            "/v1/recognize", content=b"", headers={"content-type": "multipart/form-data"}
        ),
        "bad query": client.post("/v1/recognize?attention=maybe", json={"images": ["eA=="]}),
    }


EXPECTED = {
    "declared size": (413, "payload_too_large"),
    "body size": (413, "payload_too_large"),
    "image count": (400, "too_many_images"),
    "json image count": (400, "too_many_images"),
    "media type": (415, "unsupported_media_type"),
    "no content type": (415, "unsupported_media_type"),
    "pixels": (413, "image_too_large"),
    "corrupt": (422, "invalid_image"),
    "part type": (415, "unsupported_media_type"),
    "bad base64": (422, "invalid_base64"),
    "bad json": (400, "invalid_json"),
    "json shape": (400, "invalid_json"),
    "no images": (400, "no_images"),
    "wrong field": (400, "unexpected_field"),
    "truncated multipart": (400, "invalid_multipart"),
    "no boundary": (400, "invalid_multipart"),
    "bad query": (400, "invalid_request"),
}


def test_every_limit_answers_its_4xx_before_any_model_work(counting) -> None:
    with _client(counting, max_upload_bytes=2000, max_images=3, max_pixels=10_000) as client:
        responses = _limit_requests(client)
    for case, response in responses.items():
        status, code = EXPECTED[case]
        body = response.json()
        assert (response.status_code, body["error"]["code"]) == (status, code), (case, body)
        assert body["error"]["message"] and "\n" not in body["error"]["message"], case
    assert "possible decompression bomb" in responses["pixels"].json()["error"]["message"]
    assert counting.calls == []


def test_body_over_the_limit_is_refused_without_reading_the_rest() -> None:
    sent: list[int] = []

    async def scenario() -> None:
        head = b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'

        async def receive() -> dict:
            sent.append(1)
            chunk = (head if len(sent) == 1 else b"") + b"a" * 1000
            return {"type": "http.request", "body": chunk, "more_body": len(sent) < 100}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/recognize",
            "headers": [(b"content-type", b"multipart/form-data; boundary=xyz")],  # no Content-Length
        }
        with pytest.raises(ApiError) as caught:
            await read_uploads(Request(scope, receive), max_bytes=5000, max_images=3)
        assert caught.value.status == 413

    asyncio.run(scenario())
    assert len(sent) == 5  # the fifth chunk passes 5,000 bytes; the other 95 are never read


def test_uploads_never_touch_the_disk(counting, monkeypatch: pytest.MonkeyPatch) -> None:
    import starlette.formparsers

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse)
    big = noise_png(400, 1000)  # about 1.2 MB: above the 1 MB at which UploadFile spools to disk
    assert len(big) > 1024 * 1024
    with _client(counting) as client:
        response = client.post("/v1/recognize", files=files(("big.png", big)))
    assert response.status_code == 200 and "text" in response.json()["results"][0]


def test_concurrent_requests_are_batched_together(recognizer) -> None:
    gated = GatedRecognizer(recognizer)
    app = create_app(gated, ServeSettings(max_batch=32, max_wait_ms=5))
    batcher = app.state.batcher

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            def post(seed: int):
                return client.post("/v1/recognize", files=files((f"{seed}.png", word_png(seed))))

            first = asyncio.create_task(post(0))
            assert await asyncio.to_thread(gated.entered.acquire, True, 10)  # batch 1 is inside the model
            later = [asyncio.create_task(post(seed)) for seed in range(1, 6)]
            while batcher.pending < 5:
                await asyncio.sleep(0.005)
            gated.gate.set()
            responses = await asyncio.gather(first, *later)
        await batcher.aclose()
        return responses

    responses = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses)
    sizes = [r.json()["results"][0]["timing"]["batch_size"] for r in responses]
    assert sizes == [1, 5, 5, 5, 5, 5]
    assert gated.calls == [1, 5]
    assert batcher.stats()["largest"] == 5


def test_full_queue_answers_503_with_retry_after_before_model_work(recognizer) -> None:
    gated = GatedRecognizer(recognizer)
    app = create_app(gated, ServeSettings(max_batch=4, max_wait_ms=0, queue_size=2, max_images=2))
    batcher = app.state.batcher

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            def post(seed: int, count: int = 1):
                parts = files(*((f"{seed}-{i}.png", word_png(seed)) for i in range(count)))
                return client.post("/v1/recognize", files=parts)

            first = asyncio.create_task(post(0))
            assert await asyncio.to_thread(gated.entered.acquire, True, 10)
            queued = asyncio.create_task(post(1, count=2))
            while batcher.pending < 2:
                await asyncio.sleep(0.005)
            refused = await post(2)
            calls_when_refused = list(gated.calls)
            gated.gate.set()
            accepted = await asyncio.gather(first, queued)
        await batcher.aclose()
        return accepted, refused, calls_when_refused

    accepted, refused, calls_when_refused = asyncio.run(scenario())
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "queue_full"
    assert calls_when_refused == [1]  # only the batch already running
    assert [r.status_code for r in accepted] == [200, 200]
    assert len(accepted[1].json()["results"]) == 2


def test_models_health_openapi_and_docs(counting) -> None:
    with _client(counting, max_images=5) as client:
        models = client.get("/v1/models").json()
        health = client.get("/health")
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
        docs_js = client.get("/docs-assets/swagger-ui-bundle.js")
        unknown = client.get("/v2/nothing")
    (info,) = models["models"]
    assert info["name"] == "nastr-tiny"
    assert info["charset"] == {"name": "en36", "size": 36}
    assert info["input_size"] == {"height": 32, "width": 64}
    assert info["parameters"] == sum(p.numel() for p in counting.backend.model.parameters())
    assert info["attention"] is True
    assert models["limits"]["max_images"] == 5
    assert health.status_code == 200 and health.json()["status"] == "ok"
    body = schema["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert {"/v1/models", "/health"} <= set(schema["paths"])
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and docs_js.status_code == 200
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_shutdown_stops_the_worker_and_later_requests_get_503(counting) -> None:
    app = create_app(counting, ServeSettings())
    with TestClient(app) as client:
        assert client.post("/v1/recognize", files=files(("a.png", word_png(0)))).status_code == 200
        worker = app.state.batcher._thread
        assert worker is not None and worker.is_alive()
    assert not worker.is_alive()

    async def late_request() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/recognize", files=files(("b.png", word_png(1))))

    response = asyncio.run(late_request())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "shutting_down"
    assert counting.calls == [1]
