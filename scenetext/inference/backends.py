"""Execution backends: a batch of preprocessed images in, class probabilities (and attention) out, as numpy.

Both backends return the same thing so decoding, confidences and attention handling are written once, in
:mod:`scenetext.inference.recognizer`. The ONNX backend imports only onnxruntime and numpy, never torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from scenetext.errors import ScenetextError

if TYPE_CHECKING:
    from scenetext.models.base import RecognitionModel

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


def torch_device(device: str) -> Any:
    """A torch.device for a user string, refusing unavailable accelerators with a one-line error."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ScenetextError(f"device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ScenetextError(f"device {device!r}: CUDA is not available in this torch installation")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ScenetextError(f"device {device!r}: MPS is not available on this machine")
    return dev


class TorchBackend:
    """A :class:`RecognitionModel` in eval mode under ``torch.inference_mode``."""

    name = "torch"

    def __init__(self, model: RecognitionModel, device: str) -> None:
        self.model = model
        self.device = device
        self._device = torch_device(device)

    def run(self, batch: np.ndarray, return_attention: bool) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        with torch.inference_mode():
            images = torch.from_numpy(batch).to(self._device)
            output = self.model(images, return_attention=return_attention)
            probs = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
            attention = None
            if return_attention:
                if output.attention is None:
                    raise ScenetextError(f"model {type(self.model).__name__} returned no attention maps")
                attention = output.attention.float().cpu().numpy()
        return probs, attention


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
        except (RuntimeError, ValueError) as exc:  # onnxruntime raises subclasses of these for bad files
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
