"""The torch backend: a :class:`RecognitionModel` run on a batch, returning numpy like every backend.

It follows :class:`scenetext.runtime.onnx_backend.Backend`, so the recognizer decodes both backends' output
the same way. torch is imported when a model is loaded or run, not when this module is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scenetext.errors import ScenetextError

if TYPE_CHECKING:
    from scenetext.models.base import RecognitionModel


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
