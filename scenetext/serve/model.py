"""The Recognizer as the service drives it: decode and resize per request, one ``read`` call per batch.

Decoding (with the pixel limit checked from the header) and resizing to the model input happen in the
request's own thread, so the batch worker only normalises and runs the network, and a waiting image holds a
small model-size view instead of a full photo. The view is exactly what ``Recognizer.read`` would compute from
the original (its resize is the identity on a model-size image), so served results equal ``read`` results.

Decoded memory is bounded the way ``max_pixels`` bounds pixels: an image is decoded straight to the model
size (:meth:`ImagePreprocessor.load`: at most about 7 bytes per pixel, whatever its bit depth), on a pool of
``decode_workers`` threads shared by all requests. A pool, not a limit on the general thread pool: the C
allocator keeps freed memory in one arena per thread, so decoding on 40 different threads would hold 40
images' worth of memory even when only a few decode at a time.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenetext.errors import ImageTooLargeError, ScenetextError
from scenetext.inference.attention import attention_strip
from scenetext.inference.recognizer import RecognitionResult, Recognizer
from scenetext.serve.uploads import ImageProblem, Upload


@dataclass(frozen=True)
class Job:
    """One image for the batch worker: its model-size view and whether its attention maps are wanted."""

    view: np.ndarray
    attention: bool


def _problem_for(error: ScenetextError) -> ImageProblem:
    """The kind of failure: over the pixel limit, or undecodable."""
    code = "image_too_large" if isinstance(error, ImageTooLargeError) else "invalid_image"
    return ImageProblem(code, str(error))


class ServedModel:
    """Wraps a loaded :class:`Recognizer` with the service's pixel limit and response helpers."""

    def __init__(self, recognizer: Recognizer, max_pixels: int, decode_workers: int = 4) -> None:
        self.recognizer = recognizer
        self.max_pixels = max_pixels
        self._decoder = ThreadPoolExecutor(decode_workers, thread_name_prefix="scenetext-decode")
        self.supports_attention = bool(getattr(recognizer.backend, "has_attention", True))
        self._parameters: int | None = None

    @property
    def name(self) -> str:
        return self.recognizer.model_name

    def describe(self) -> dict[str, Any]:
        """Name, charset, input size and parameter count, for ``GET /v1/models`` and the page's header."""
        if self._parameters is None:
            self._parameters = int(self.recognizer.parameter_count())
        charset = self.recognizer.tokenizer.charset
        height, width = self.recognizer.input_size
        return {
            "name": self.name,
            "charset": {"name": Path(charset.name).name, "size": len(charset)},
            "input_size": {"height": height, "width": width},
            "parameters": self._parameters,
            "max_length": self.recognizer.config.get("max_length"),
            "backend": self.recognizer.backend.name,
            "device": self.recognizer.backend.device,
            "attention": self.supports_attention,
        }

    def prepare(self, upload: Upload) -> np.ndarray | ImageProblem:
        """Decode one upload within the pixel limit and resize it to the model input (uint8 H x W x 3)."""
        if upload.problem is not None:
            return upload.problem
        try:
            return self.recognizer.preprocessor.load(upload.data, self.max_pixels, upload.name)
        except ScenetextError as exc:
            return _problem_for(exc)

    async def prepare_all(self, uploads: list[Upload]) -> list[tuple[np.ndarray | ImageProblem, float]]:
        """:meth:`prepare` the uploads of a request in order on a decode thread, each with its time in ms."""
        return await asyncio.get_running_loop().run_in_executor(self._decoder, self._prepare_timed, uploads)

    def _prepare_timed(self, uploads: list[Upload]) -> list[tuple[np.ndarray | ImageProblem, float]]:
        out = []
        for upload in uploads:
            start = time.perf_counter()
            out.append((self.prepare(upload), (time.perf_counter() - start) * 1000))
        return out

    def recognize(self, jobs: list[Job]) -> list[RecognitionResult]:
        """Read one batch; attention is computed for the whole batch when any image asks for it."""
        attention = any(job.attention for job in jobs)
        results = self.recognizer.read(
            [job.view for job in jobs], batch_size=len(jobs), return_attention=attention, errors="keep"
        )
        assert isinstance(results, list)
        return results

    def strip_png_base64(self, view: np.ndarray, result: RecognitionResult) -> str | None:
        """The attention strip of one result as base64 PNG (None when the result holds no maps)."""
        if result.attention is None:
            return None
        strip = attention_strip(view, result.text, result.attention, result.char_confidences)
        buffer = io.BytesIO()
        strip.save(buffer, format="PNG", optimize=False)
        return base64.b64encode(buffer.getvalue()).decode("ascii")
