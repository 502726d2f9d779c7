"""Response shapes of the HTTP API; FastAPI publishes them in the OpenAPI document at /openapi.json."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. payload_too_large, invalid_image.")
    message: str = Field(description="One line for people: what was refused and why.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Timing(BaseModel):
    decode_ms: float = Field(description="Decoding and resizing this image to the model input.")
    queue_ms: float = Field(description="Waiting for its batch to start.")
    inference_ms: float = Field(description="The model call of the whole batch this image was part of.")
    batch_size: int = Field(description="How many images (from any requests) shared that model call.")


class ImageResult(BaseModel):
    index: int = Field(description="Position of the image in the request.")
    name: str = Field(description="The uploaded file name, or images[i] for JSON.")
    text: str | None = None
    confidence: float | None = Field(None, description="Product of the character and end probabilities.")
    char_confidences: list[float] | None = Field(None, description="One probability per character of text.")
    attention_png: str | None = Field(
        None, description="Base64 PNG: the input, then one heat map per character (with ?attention=1)."
    )
    timing: Timing | None = None
    error: ErrorDetail | None = Field(None, description="Set (and text absent) when this image was not read.")


class RecognizeResponse(BaseModel):
    model: str
    results: list[ImageResult]
    total_ms: float = Field(description="Server time for the whole request.")


class Charset(BaseModel):
    name: str
    size: int


class InputSize(BaseModel):
    height: int
    width: int


class ModelInfo(BaseModel):
    name: str
    charset: Charset
    input_size: InputSize
    parameters: int
    max_length: int | None = None
    backend: str
    device: str
    attention: bool = Field(description="Whether ?attention=1 can return attention strips.")


class Limits(BaseModel):
    max_upload_bytes: int
    max_pixels: int
    max_images: int
    max_batch: int
    max_wait_ms: float
    queue_size: int
    read_timeout_s: float
    decode_workers: int


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    limits: Limits


class QueueState(BaseModel):
    pending: int = Field(description="Images waiting for the model now.")
    capacity: int


class BatchStats(BaseModel):
    batches: int
    images: int
    largest: int
    mean_size: float


class Health(BaseModel):
    status: str
    model: str
    queue: QueueState
    batching: BatchStats
