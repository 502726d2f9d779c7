"""Reading uploaded images from a request body, in memory only, within the size and count limits.

FastAPI's ``UploadFile`` spools parts above 1 MB to a temporary file; uploaded images here never touch the
disk. The body is read as a stream and refused (413) once it passes ``max_upload_bytes``, after a first check
of ``Content-Length`` that refuses a declared oversize body before reading any of it. Multipart bodies are
parsed as they arrive by python-multipart's streaming parser, so a request with too many images is refused as
soon as the extra part begins. A problem with one image (wrong type, bad base64) is recorded on that image, so
the others are still read. The body must arrive within the read timeout (408), and a client that goes away
mid-upload is logged in one line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from scenetext.serve.errors import ApiError
from scenetext.serve.protocol import request_timeout_message

log = logging.getLogger("scenetext.serve")

FILES_FIELD = "files"
MULTIPART = "multipart/form-data"
JSON = "application/json"


@dataclass
class ImageProblem:
    """Why one image of a request cannot be read; the rest of the request goes on."""

    code: str
    message: str


@dataclass
class Upload:
    """One image as received: its name (file name, or its place in the JSON list) and encoded bytes."""

    name: str
    data: bytes = b""
    content_type: str | None = None
    problem: ImageProblem | None = None


def _accepted_type(content_type: str | None) -> bool:
    return not content_type or content_type.startswith("image/") or content_type == "application/octet-stream"


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes")


def too_many(limit: int) -> ApiError:
    return ApiError(400, "too_many_images", f"more than {limit} images in one request (the limit)")


class _MultipartCollector:
    """Callbacks for python-multipart's streaming parser that keep every ``files`` part in memory."""

    def __init__(self, boundary: bytes, max_images: int) -> None:
        self.max_images = max_images
        self.uploads: list[Upload] = []
        self.finished = False
        self._chunks: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._field = self._value = ""
        try:
            self.parser = MultipartParser(boundary, self._callbacks())
        except FormParserError as exc:  # python-multipart refuses boundaries over 256 characters
            raise ApiError(400, "invalid_multipart", f"unusable multipart boundary ({exc})") from None

    def _callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._chunks, self._field, self._value = {}, [], "", ""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end].decode("latin-1")

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end].decode("latin-1")

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = ""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition"))
        field_name = options.get(b"name", b"").decode("utf-8", "replace")
        if field_name != FILES_FIELD:
            raise ApiError(
                400,
                "unexpected_field",
                f"unexpected form field {field_name!r}: send images as {FILES_FIELD!r}",
            )
        if len(self.uploads) >= self.max_images:
            raise too_many(self.max_images)
        index = len(self.uploads)
        filename = options.get(b"filename", b"").decode("utf-8", "replace") or f"{FILES_FIELD}[{index}]"
        media, _ = parse_options_header(self._headers.get("content-type"))
        self.uploads.append(Upload(filename, content_type=media.decode("latin-1") or None))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._chunks.append(data[start:end])

    def _part_end(self) -> None:
        upload = self.uploads[-1]
        upload.data = b"".join(self._chunks)
        self._chunks = []
        if not _accepted_type(upload.content_type):
            upload.problem = ImageProblem(
                "unsupported_media_type", f"{upload.name}: content type {upload.content_type} is not an image"
            )

    def _end(self) -> None:
        self.finished = True

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise ApiError(400, "invalid_multipart", f"malformed multipart body ({exc})") from None

    def close(self) -> list[Upload]:
        self.parser.finalize()
        if not self.finished:
            raise ApiError(400, "invalid_multipart", "multipart body ended before its closing boundary")
        return self.uploads


def _decode_base64(index: int, value: object) -> Upload:
    """One JSON image: a base64 string, optionally a data URL (``data:image/png;base64,...``)."""
    name = f"images[{index}]"
    if not isinstance(value, str):
        raise ApiError(400, "invalid_json", f"{name}: expected a base64 string, got {type(value).__name__}")
    content_type = None
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        content_type = header[5:].split(";")[0] or None
    upload = Upload(name, content_type=content_type)
    if not _accepted_type(content_type):
        upload.problem = ImageProblem(
            "unsupported_media_type", f"{name}: data URL type {content_type} is not an image"
        )
        return upload
    try:
        upload.data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        upload.problem = ImageProblem("invalid_base64", f"{name}: not valid base64")
    return upload


def _json_uploads(body: bytes, max_images: int) -> list[Upload]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is JSON nested too deeply to parse") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise ApiError(400, "invalid_json", 'expected a JSON object {"images": [base64 strings]}')
    images = payload["images"]
    if len(images) > max_images:
        raise too_many(max_images)
    return [_decode_base64(index, value) for index, value in enumerate(images)]


async def read_uploads(
    request: Request, max_bytes: int, max_images: int, timeout_s: float | None = None
) -> list[Upload]:
    """The images of a multipart (``files`` parts) or JSON (``{"images": [...]}``) request, in order.

    The body must be complete within ``timeout_s`` seconds of the call (408 and the connection closed).
    """
    media, options = parse_options_header(request.headers.get("content-type"))
    media_type = media.decode("latin-1")
    if media_type not in (MULTIPART, JSON):
        shown = media_type or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {shown}: send {MULTIPART} ({FILES_FIELD!r}) or {JSON}",
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid_request", f"Content-Length {declared!r} is not a number")
        if int(declared) > max_bytes:
            raise too_large(max_bytes)
    collector: _MultipartCollector | None = None
    if media_type == MULTIPART:
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "invalid_multipart", "multipart content type without a boundary")
        collector = _MultipartCollector(boundary, max_images)
    body: list[bytes] = []
    received = 0

    async def receive_all() -> None:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise too_large(max_bytes)
            if collector is not None:
                collector.feed(chunk)
            else:
                body.append(chunk)

    try:
        await asyncio.wait_for(receive_all(), timeout_s)
    except asyncio.TimeoutError:
        assert timeout_s is not None
        message = request_timeout_message(timeout_s, "body")
        raise ApiError(408, "request_timeout", message, headers={"Connection": "close"}) from None
    except ClientDisconnect:
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        log.info("%s: closed the connection during its upload (%d bytes received)", client, received)
        raise ApiError(400, "upload_aborted", "the client closed the connection during the upload") from None
    uploads = collector.close() if collector is not None else _json_uploads(b"".join(body), max_images)
    if not uploads:
        raise ApiError(400, "no_images", f"the request holds no images (send them as {FILES_FIELD!r} parts)")
    return uploads
