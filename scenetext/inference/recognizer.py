"""The Recognizer: load a model once, read text from images of any kind, in batches.

Images go through the same :class:`~scenetext.runtime.preprocess.ImagePreprocessor` as in training, built
from the artifact's stored preprocessing config, so inference sees exactly what the model was trained on.
Decoding is :func:`~scenetext.runtime.decode.decode_probs`; the backend (torch or onnxruntime) only maps a
float32 batch to probabilities. With the onnx backend nothing here imports torch, so the Recognizer works in
the inference-only install (no ``[train]`` extra); ``backend="auto"`` picks torch only where it is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from scenetext.errors import ScenetextError
from scenetext.extras import missing_extra_message
from scenetext.inference.attention import attention_strip
from scenetext.runtime.artifact import (
    ONNX_FILE,
    WEIGHTS_FILE,
    artifact_charset,
    artifact_preprocess,
    onnx_file,
    read_artifact_config,
)
from scenetext.runtime.charset import Tokenizer
from scenetext.runtime.decode import character_positions, decode_probs
from scenetext.runtime.names import resolve_model
from scenetext.runtime.onnx_backend import PARAMETERS_KEY, Backend, OnnxBackend
from scenetext.runtime.preprocess import ImagePreprocessor, ImageSource, PreprocessConfig

BACKENDS = ("auto", "torch", "onnx")
BackendName = Literal["auto", "torch", "onnx"]


@dataclass
class RecognitionResult:
    """What was read from one image.

    ``confidence`` is the product of the chosen probabilities up to and including EOS;
    ``char_confidences`` holds one probability per character of ``text``; ``attention`` (on request) one
    h x w map per character of ``text``. ``source`` is the path for path inputs. ``error`` is set (and text
    empty) only when reading with ``errors="keep"`` and this image could not be decoded.
    """

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    attention: np.ndarray | None = None
    source: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (without the attention maps)."""
        out: dict[str, Any] = {
            "text": self.text,
            "confidence": self.confidence,
            "char_confidences": self.char_confidences,
        }
        if self.source is not None:
            out["source"] = self.source
        if self.error is not None:
            out["error"] = self.error
        return out


def _as_list(images: Any) -> tuple[list[Any], bool]:
    """The inputs as a list, and whether a single image was given (so one result is returned)."""
    if isinstance(images, str | Path | bytes | bytearray | memoryview | Image.Image):
        return [images], True
    if isinstance(images, np.ndarray):
        return (list(images), False) if images.ndim == 4 else ([images], True)
    if isinstance(images, Iterable):
        return list(images), False
    raise ScenetextError(f"read: cannot read images from a {type(images).__name__}")


def torch_installed() -> bool:
    """Whether torch can be imported here (the ``[train]`` extra), checked without importing it."""
    return importlib.util.find_spec("torch") is not None


def choose_backend(path: Path) -> Literal["torch", "onnx"]:
    """``auto``: torch where it is installed and the artifact has its weights, else onnxruntime.

    A ``.onnx`` file is always onnx. Without torch, or for a directory holding only ``model.onnx``, onnx:
    its load then fails naming the missing file, if any.
    """
    if path.suffix.lower() == ".onnx":
        return "onnx"
    directory = path if path.is_dir() else path.parent
    if torch_installed() and (directory / WEIGHTS_FILE).is_file():
        return "torch"
    if (directory / ONNX_FILE).is_file() or not torch_installed():
        return "onnx"
    return "torch"


class Recognizer:
    """A loaded model with its tokenizer and preprocessing; build it with :meth:`load`."""

    def __init__(
        self,
        backend: Backend,
        tokenizer: Tokenizer,
        preprocess: PreprocessConfig,
        config: dict[str, Any],
        source: Path,
    ) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.preprocessor = ImagePreprocessor(preprocess)
        self.config = config
        self.source = source

    @classmethod
    def load(
        cls,
        model: str | Path = "default",
        device: str = "cpu",
        backend: BackendName = "auto",
        threads: int | None = None,
    ) -> Recognizer:
        """Load a built-in model name (``default``, ``default-zh``) or a path.

        torch: an artifact directory (``model.safetensors`` + ``config.json``) or either file in it.
        onnx: a ``.onnx`` file with the artifact's ``config.json`` beside it, or a directory holding both.
        auto (the default): torch when it is installed and the artifact has ``model.safetensors``, else onnx
        (see :func:`choose_backend`); the built-in models ship both files.
        ``threads`` sets intra-op threads: ``torch.set_num_threads`` (process-wide) or the onnxruntime
        session's ``intra_op_num_threads``.
        """
        if backend not in BACKENDS:
            raise ScenetextError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        if threads is not None and threads < 1:
            raise ScenetextError(f"threads {threads}: must be at least 1")
        path = resolve_model(model)
        if backend == "auto":
            backend = choose_backend(path)
        if backend == "onnx":
            onnx_path = onnx_file(path)
            config = read_artifact_config(onnx_path.parent)
            tokenizer = Tokenizer(artifact_charset(config))
            runner: Backend = OnnxBackend(onnx_path, device, threads)
            return cls(runner, tokenizer, artifact_preprocess(config), config, onnx_path)
        if path.suffix.lower() == ".onnx":
            raise ScenetextError(f"{path}: an ONNX file needs backend='onnx' (--backend onnx)")
        if path.is_dir() and (path / ONNX_FILE).is_file() and not (path / WEIGHTS_FILE).is_file():
            raise ScenetextError(
                f"{path}: holds {ONNX_FILE} but no {WEIGHTS_FILE}; use backend='onnx' (--backend onnx)"
            )
        try:
            import torch

            from scenetext.inference.torch_backend import TorchBackend, torch_device
            from scenetext.models.artifact import load_artifact
        except ModuleNotFoundError as exc:
            message = missing_extra_message("backend 'torch'", exc)
            if message is None:
                raise
            raise ScenetextError(f"{message}; or use backend='onnx' (--backend onnx)") from None

        if threads is not None:
            torch.set_num_threads(threads)
        torch_device(device)
        net, tokenizer, preprocess, config = load_artifact(path, device)
        return cls(TorchBackend(net, device), tokenizer, preprocess, config, path)

    @property
    def model_name(self) -> str:
        return str(self.config["model"]["name"])

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return self.preprocessor.config.height, self.preprocessor.config.width

    def __repr__(self) -> str:
        return (
            f"Recognizer(model={self.model_name!r}, charset={self.tokenizer.charset.name!r}, "
            f"backend={self.backend.name!r}, device={self.backend.device!r}, source='{self.source}')"
        )

    def preprocess(self, image: ImageSource) -> np.ndarray:
        """Decode and preprocess one image to the model's float32 3 x H x W input."""
        return self.preprocessor.normalize_array(self.preprocessor.load(image))

    def read(
        self,
        images: ImageSource | Sequence[ImageSource],
        batch_size: int = 32,
        return_attention: bool = False,
        errors: Literal["raise", "keep"] = "raise",
    ) -> RecognitionResult | list[RecognitionResult]:
        """Read one image (returns one result) or many (returns a list, in input order).

        Images are paths, encoded bytes, PIL images or numpy arrays (H x W, H x W x 3 RGB, H x W x 4; a
        4-D array is a batch). A bad image raises a one-line ScenetextError naming it, or, with
        ``errors="keep"``, yields a result whose ``error`` says why while the other images are still read.
        """
        if batch_size < 1:
            raise ScenetextError(f"batch_size {batch_size}: must be at least 1")
        if errors not in ("raise", "keep"):
            raise ScenetextError(f"errors {errors!r}: expected 'raise' or 'keep'")
        items, single = _as_list(images)
        results: list[RecognitionResult] = []
        for start in range(0, len(items), batch_size):
            results.extend(self._read_batch(items[start : start + batch_size], return_attention, errors))
        return results[0] if single else results

    def _read_batch(self, items: list[Any], return_attention: bool, errors: str) -> list[RecognitionResult]:
        arrays: list[np.ndarray] = []
        failures: dict[int, str] = {}
        for index, item in enumerate(items):
            try:
                arrays.append(self.preprocess(item))
            except ScenetextError as exc:
                if errors == "raise":
                    raise
                failures[index] = str(exc)
        decoded: list[RecognitionResult] = []
        if arrays:
            probs, attention = self.backend.run(np.stack(arrays), return_attention)
            positions = character_positions(probs) if attention is not None else None
            for row, (text, confidence, char_probs) in enumerate(decode_probs(self.tokenizer, probs)):
                maps = None
                if attention is not None and positions is not None:
                    maps = np.ascontiguousarray(attention[row, positions[row]], dtype=np.float32)
                decoded.append(RecognitionResult(text, confidence, char_probs, maps))
        out: list[RecognitionResult] = []
        good = iter(decoded)
        for index, item in enumerate(items):
            result = RecognitionResult("", 0.0, error=failures[index]) if index in failures else next(good)
            if isinstance(item, str | Path):
                result.source = str(item)
            out.append(result)
        return out

    def attention_strip(
        self, image: ImageSource, result: RecognitionResult, scale: float = 2.0, columns: int = 6
    ) -> Image.Image:
        """The attention strip of ``result`` (read with ``return_attention=True``) over ``image``.

        Panels are the model input at ``scale``, ``columns`` to a row.
        """
        if result.attention is None:
            raise ScenetextError(
                "attention strip: the result holds no attention maps (read with return_attention)"
            )
        view = self.preprocessor.load(image)
        return attention_strip(
            view, result.text, result.attention, result.char_confidences, scale=scale, columns=columns
        )

    def parameter_count(self) -> int:
        """Number of model parameters (torch: the module; onnx: recorded at export, else the initializers)."""
        if self.backend.name == "torch":
            return sum(p.numel() for p in self.backend.model.parameters())  # type: ignore[attr-defined]
        recorded = getattr(self.backend, "metadata", {}).get(PARAMETERS_KEY)
        if recorded is not None:
            return int(recorded)
        import onnx

        graph = onnx.load(str(self.source), load_external_data=False).graph
        return int(sum(np.prod(init.dims, dtype=np.int64) for init in graph.initializer))
