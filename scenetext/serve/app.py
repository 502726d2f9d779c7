"""The FastAPI application: recognition endpoint, model and health information, the web page and the docs.

``create_app(recognizer, settings)`` builds everything around an already loaded recognizer, so tests inject a
small model (or a counting stand-in) and the CLI a real one. Every limit (body size, image count, media type,
queue room, pixels) is enforced before the image reaches the batch worker; nothing is written to disk.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from scenetext import __version__
from scenetext.inference.recognizer import RecognitionResult, Recognizer
from scenetext.serve.batcher import BatcherClosed, BatchTiming, DynamicBatcher, QueueFull
from scenetext.serve.errors import ApiError, error_body, install_error_handlers
from scenetext.serve.model import Job, ServedModel
from scenetext.serve.schemas import ErrorResponse, Health, Limits, ModelsResponse, RecognizeResponse
from scenetext.serve.settings import ServeSettings
from scenetext.serve.uploads import FILES_FIELD, ImageProblem, Upload, read_uploads

STATIC_DIR = Path(__file__).resolve().parent / "static"

# What a request that could read none of its images answers; mixed failures are 422.
_FAILURE_STATUS = {"unsupported_media_type": 415, "image_too_large": 413}

# The page loads nothing from elsewhere; the browser is told so, which also blocks injected remote content.
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    FILES_FIELD: {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "minItems": 1,
                        "description": "One part per image (repeat the field).",
                    }
                },
                "required": [FILES_FIELD],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "images": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Base64 image bytes, or a data: URL.",
                        },
                        "minItems": 1,
                    }
                },
                "required": ["images"],
            }
        },
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Malformed request, no images, too many images, or attention unavailable.",
        408: "The request headers or body did not arrive within the read timeout.",
        413: "Body over max_upload_bytes (or every image over max_pixels).",
        415: "Not multipart/form-data or application/json (or no image of an accepted type).",
        422: "No image in the request could be decoded.",
        503: "The queue is full (see Retry-After) or the service is stopping.",
    }.items()
}


def _all_failed(uploads: list[Upload], problems: list[ImageProblem], results: list[dict]) -> JSONResponse:
    """Answer for a request none of whose images could be read: a 4xx naming the reason(s)."""
    codes = {problem.code for problem in problems}
    code = codes.pop() if len(codes) == 1 else "no_readable_image"
    status = _FAILURE_STATUS.get(code, 422)
    if len(uploads) == 1:
        message = problems[0].message
    else:
        message = f"none of the {len(uploads)} images could be read (first: {problems[0].message})"
    return JSONResponse({**error_body(code, message), "results": results}, status_code=status)


def create_app(recognizer: Recognizer, settings: ServeSettings | None = None) -> FastAPI:
    """The service around a loaded recognizer; the batch worker starts with the app and drains on shutdown."""
    settings = settings or ServeSettings()
    model = ServedModel(recognizer, settings.max_pixels, settings.decode_workers)
    batcher: DynamicBatcher[Job, RecognitionResult] = DynamicBatcher(
        model.recognize, settings.max_batch, settings.max_wait_ms, settings.queue_size
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.aclose()

    app = FastAPI(
        title="scenetext",
        version=__version__,
        description="Scene text recognition: read the text in word images.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.model = model
    app.state.batcher = batcher
    install_error_handlers(app)

    def busy() -> ApiError:
        if not batcher.healthy:
            return ApiError(503, "shutting_down", "the service is shutting down")
        return ApiError(
            503,
            "queue_full",
            f"the service is busy ({batcher.pending} images waiting, limit {settings.queue_size}); retry",
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    def strips(pairs: list[tuple[np.ndarray, RecognitionResult]]) -> list[str | None]:
        return [model.strip_png_base64(view, result) for view, result in pairs]

    @app.post(
        "/v1/recognize",
        response_model=RecognizeResponse,
        response_model_exclude_none=True,
        responses=_ERRORS,
        openapi_extra={"requestBody": _REQUEST_BODY},
        summary="Read the text in one or more images",
    )
    async def recognize(
        request: Request,
        attention: bool = Query(False, description="Also return each image's attention strip (base64 PNG)."),
    ) -> Any:
        """Multipart ``files`` parts or JSON ``{"images": [base64...]}``. An image that cannot be read gets an
        ``error`` in its result while the others are read (200); when none can be read the answer is a 4xx."""
        started = time.perf_counter()
        if attention and not model.supports_attention:
            raise ApiError(
                400,
                "attention_unavailable",
                "this model was exported without attention maps (drop ?attention)",
            )
        if not batcher.can_accept(1):
            raise busy()
        uploads = await read_uploads(
            request, settings.max_upload_bytes, settings.max_images, settings.read_timeout_s
        )
        if not batcher.can_accept(len(uploads)):
            raise busy()
        prepared = await model.prepare_all(uploads)
        results: list[dict[str, Any]] = [{"index": i, "name": u.name} for i, u in enumerate(uploads)]
        jobs: list[tuple[int, Job]] = []
        problems: list[ImageProblem] = []
        for index, (outcome, _) in enumerate(prepared):
            if isinstance(outcome, ImageProblem):
                problems.append(outcome)
                results[index]["error"] = {"code": outcome.code, "message": outcome.message}
            else:
                jobs.append((index, Job(outcome, attention)))
        if not jobs:
            return _all_failed(uploads, problems, results)
        try:
            outputs = await batcher.submit([job for _, job in jobs])
        except (QueueFull, BatcherClosed):
            raise busy() from None
        if attention:
            pngs = await run_in_threadpool(
                strips, [(job.view, out) for (_, job), (out, _) in zip(jobs, outputs, strict=True)]
            )
        else:
            pngs = [None] * len(jobs)
        for (index, _), (result, timing), png in zip(jobs, outputs, pngs, strict=True):
            results[index].update(_result_fields(result, timing, prepared[index][1], png))
        total_ms = (time.perf_counter() - started) * 1000
        return {"model": model.name, "results": results, "total_ms": total_ms}

    @app.get("/v1/models", response_model=ModelsResponse, summary="The loaded model and the service limits")
    def models() -> Any:
        limits = {key: getattr(settings, key) for key in Limits.model_fields}
        return {"models": [model.describe()], "limits": limits}

    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, summary="Liveness")
    def health() -> Any:
        body = {
            "status": "ok" if batcher.healthy else "unavailable",
            "model": model.name,
            "queue": {"pending": batcher.pending, "capacity": settings.queue_size},
            "batching": batcher.stats(),
        }
        return JSONResponse(body, status_code=200 if batcher.healthy else 503)

    _add_pages(app)
    return app


def _result_fields(
    result: RecognitionResult, timing: BatchTiming, decode_ms: float, png: str | None
) -> dict[str, Any]:
    if result.error is not None:
        return {"error": {"code": "invalid_image", "message": result.error}}
    fields: dict[str, Any] = {
        "text": result.text,
        "confidence": result.confidence,
        "char_confidences": result.char_confidences,
        "timing": {
            "decode_ms": decode_ms,
            "queue_ms": timing.queue_ms,
            "inference_ms": timing.inference_ms,
            "batch_size": timing.batch_size,
        },
    }
    if png is not None:
        fields["attention_png"] = png
    return fields


def _add_pages(app: FastAPI) -> None:
    """The web page at / and the API docs at /docs, every asset served from the installed package."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": _PAGE_POLICY})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="scenetext API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
