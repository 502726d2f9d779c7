"""Service limits and batching knobs, validated once so the app never runs with a contradictory setup."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scenetext.errors import ScenetextError


@dataclass(frozen=True)
class ServeSettings:
    """How the service batches and what it accepts.

    ``max_batch`` images go through the model together at most; a batch waits up to ``max_wait_ms`` after its
    first image for others to join. ``queue_size`` bounds the images waiting for the model: beyond it requests
    get 503 instead of an ever-longer wait. ``max_upload_bytes`` bounds a request body, ``max_pixels`` one
    image (checked from its header before decoding), ``max_images`` the images in one request. A request's
    headers, and then its body, must each arrive within ``read_timeout_s`` seconds (408 otherwise), so slow
    clients cannot hold connections open. At most ``decode_workers`` images are decoded at once, which bounds
    the memory decoding takes (about 7 bytes x ``max_pixels`` each at worst).
    """

    max_batch: int = 32
    max_wait_ms: float = 10.0
    queue_size: int = 256
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 16_000_000
    max_images: int = 32
    retry_after_s: int = 1
    read_timeout_s: float = 60.0
    decode_workers: int = 4

    def __post_init__(self) -> None:
        for key in (
            "max_batch",
            "queue_size",
            "max_upload_bytes",
            "max_pixels",
            "max_images",
            "retry_after_s",
            "decode_workers",
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ScenetextError(f"serve setting {key}: expected a positive integer, got {value!r}")
        if not isinstance(self.max_wait_ms, int | float) or self.max_wait_ms < 0:
            raise ScenetextError(
                f"serve setting max_wait_ms: expected a number >= 0, got {self.max_wait_ms!r}"
            )
        timeout = self.read_timeout_s
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout < float("inf")
        ):
            raise ScenetextError(
                f"serve setting read_timeout_s: expected a number of seconds > 0, got {self.read_timeout_s!r}"
            )
        if self.queue_size < self.max_images:
            raise ScenetextError(
                f"serve setting queue_size {self.queue_size}: must be at least max_images "
                f"({self.max_images}), or a full-size request could never be queued"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
