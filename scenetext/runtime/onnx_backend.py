"""The onnxruntime backend: a batch of preprocessed images in, class probabilities (and attention) out.

Every backend (this one, and the torch one in :mod:`scenetext.inference.torch_backend`) follows
:class:`Backend` and returns numpy, so decoding, confidences and attention handling are written once. This
module imports only onnxruntime (when a model is loaded) and numpy, never torch. The input and output names
are the contract with ``scenetext export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scenetext.errors import ScenetextError

LOGITS = "logits"
ATTENTION = "attention"
INPUT = "images"
PARAMETERS_KEY = "scenetext_parameters"  # ONNX metadata: the torch model's parameter count


class Backend(Protocol):
    name: str
    device: str

    def run(self, batch: np.ndarray, return_attention: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 N x 3 x H x W -> (probabilities N x T x C, attention N x T x h x w or None)."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float32."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def _providers(device: str) -> list[Any]:
    import onnxruntime as ort

    kind, _, index = device.partition(":")
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ScenetextError(
                f"device {device!r}: this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
            )
        return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]
    raise ScenetextError(f"device {device!r}: the onnx backend supports cpu and cuda[:N]")


def _ort_errors() -> tuple[type[Exception], ...]:
    """onnxruntime's own exception classes (InvalidProtobuf, Fail, NoSuchFile...): what a bad file raises.

    They derive from Exception only, so they are listed rather than caught through a common base.
    """
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(
        value
        for value in vars(state).values()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == state.__name__
    )


class OnnxBackend:
    """An exported model run by onnxruntime; ``threads`` sets intra-op parallelism (None: all cores)."""

    name = "onnx"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=_providers(device))
        except (RuntimeError, ValueError, *_ort_errors()) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ScenetextError(f"{path}: cannot load the ONNX model ({first_line})") from None
        self.path = path
        self.device = device
        self.outputs = [output.name for output in self.session.get_outputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        if LOGITS not in self.outputs:
            raise ScenetextError(f"{path}: no {LOGITS!r} output (not exported by scenetext export)")

    @property
    def has_attention(self) -> bool:
        return ATTENTION in self.outputs

    def run(self, batch: np.ndarray, return_attention: bool) -> tuple[np.ndarray, np.ndarray | None]:
        if return_attention and not self.has_attention:
            raise ScenetextError(
                f"{self.path}: exported without attention maps (re-export with scenetext export --attention)"
            )
        names = [LOGITS, ATTENTION] if return_attention else [LOGITS]
        results = self.session.run(names, {INPUT: np.ascontiguousarray(batch, dtype=np.float32)})
        probs = softmax(results[0].astype(np.float32, copy=False))
        return probs, (results[1] if return_attention else None)
