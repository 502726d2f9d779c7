"""ONNX export with a dynamic batch axis, and the torch-vs-onnxruntime parity check that follows it.

The graph is the model's pure tensor function (images -> logits, optionally -> attention); the tokenizer and
preprocessing stay outside, in numpy, so the exported file runs without torch. The artifact's ``config.json``
is copied beside the ``.onnx`` file: together they are everything ``Recognizer.load(..., backend="onnx")``
needs. Export uses the TorchScript-based exporter (``dynamo=False``), which needs no extra package and handles
every model family here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scenetext.errors import ScenetextError
from scenetext.inference.samples import WordImage
from scenetext.runtime.decode import decode_probs
from scenetext.runtime.onnx_backend import ATTENTION, INPUT, LOGITS, PARAMETERS_KEY, OnnxBackend, softmax

DEFAULT_OPSET = 17  # LayerNormalization is a native op from 17 on


@dataclass
class ParityReport:
    """Torch against onnxruntime on the same images."""

    samples: int
    max_logit_diff: float
    mismatches: list[tuple[str, str]] = field(default_factory=list)  # (torch text, onnx text)
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        verdict = "same text" if self.ok else f"{len(self.mismatches)} different texts"
        return (
            f"parity on {self.samples} rendered words (batches of {', '.join(map(str, self.batch_sizes))}): "
            f"{verdict}, max |logit difference| {self.max_logit_diff:.2e}"
        )


def _wrapper(model: Any, attention: bool) -> Any:
    """The model as a module with plain tensor outputs, in eval mode (what the exporter traces)."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, images: torch.Tensor) -> Any:
            output = self.model(images, return_attention=attention)
            return (output.logits, output.attention) if attention else output.logits

    return Exported().eval()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Route file descriptor 2 to /dev/null: on failure the exporter's C++ side dumps the whole traced graph
    there, burying the one-line reason this module reports."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _add_metadata(path: str, values: dict[str, str]) -> None:
    """Store key/value pairs in the file's metadata, readable through onnxruntime without torch."""
    import onnx

    model = onnx.load(path)
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)


def _place_config(config_path: Path, target_dir: Path) -> None:
    """Copy the artifact config beside the ONNX file; refuse to overwrite a different model's config."""
    target = target_dir / "config.json"
    ours = json.loads(config_path.read_text(encoding="utf-8"))
    if target.exists():
        try:
            theirs = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            theirs = None
        if theirs != ours:
            raise ScenetextError(
                f"{target} exists and describes another model; export into a directory of its own"
            )
        return
    shutil.copyfile(config_path, target)


def export_onnx(
    model: str | Path,
    output: str | Path,
    opset: int = DEFAULT_OPSET,
    attention: bool = False,
) -> Path:
    """Export an artifact (or built-in name) to ``output`` (.onnx), with ``config.json`` beside it.

    ``attention=True`` adds a second output, ``attention`` (N x T x h x w), for visualisation. The file is
    written to a temporary name first and moved into place, so a failed export leaves nothing half-written.
    """
    import torch

    from scenetext.models.artifact import load_artifact, umask_mode
    from scenetext.runtime.artifact import CONFIG_FILE, resolve_model_source

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise ScenetextError(f"{output}: the ONNX file name must end in .onnx")
    source = resolve_model_source(model)
    net, _, preprocess, config = load_artifact(source, "cpu")
    output.parent.mkdir(parents=True, exist_ok=True)
    _place_config(source / CONFIG_FILE, output.parent)
    dummy = torch.zeros(2, 3, preprocess.height, preprocess.width)
    names = [LOGITS, ATTENTION] if attention else [LOGITS]
    axes = {INPUT: {0: "batch"}, **{name: {0: "batch"} for name in names}}
    handle, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    os.close(handle)
    try:
        # Gradients stay enabled while tracing: under no_grad nn.MultiheadAttention takes its fused fast path,
        # whose aten op has no ONNX export.
        with warnings.catch_warnings(), torch.inference_mode(False), _native_stderr_silenced():
            warnings.simplefilter("ignore")  # deprecation of the TorchScript exporter, tracer notes
            torch.onnx.export(
                _wrapper(net, attention),
                (dummy,),
                tmp_name,
                input_names=[INPUT],
                output_names=names,
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        _add_metadata(tmp_name, {PARAMETERS_KEY: str(sum(p.numel() for p in net.parameters()))})
        os.chmod(tmp_name, umask_mode())  # mkstemp's file is private; the result is an ordinary file
        os.replace(tmp_name, output)
    except Exception as exc:  # the exporter raises many types; the user needs the one-line reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScenetextError(
            f"{source}: ONNX export of {config['model']['name']} failed ({reason})"
        ) from None
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return output


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| over the positions both have; equal entries (matching -inf masks included) count 0,
    other non-finite ones inf.

    An autoregressive model in torch stops once every sequence has emitted EOS, while its export always runs
    all ``max_length + 1`` steps: the positions after the stop are not compared.
    """
    positions = min(a.shape[1], b.shape[1])
    a, b = a[:, :positions], b[:, :positions]
    same = a == b
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.nan_to_num(diff, nan=np.inf).max()) if diff.size else 0.0


def parity_check(
    model: str | Path,
    onnx_path: str | Path,
    words: list[WordImage],
    batch_sizes: tuple[int, ...] = (1, 8),
) -> ParityReport:
    """Run the same images through torch and onnxruntime; compare decoded text and logits.

    The images are split into one batch of each size in ``batch_sizes`` and one more with the rest, so the
    dynamic batch axis is exercised.
    """
    import torch

    from scenetext.models.artifact import load_artifact
    from scenetext.runtime.artifact import resolve_model_source
    from scenetext.runtime.preprocess import ImagePreprocessor

    net, tokenizer, preprocess, _ = load_artifact(resolve_model_source(model), "cpu")
    runner = OnnxBackend(Path(onnx_path), "cpu")
    preprocessor = ImagePreprocessor(preprocess)
    batch = np.stack([preprocessor(w.image) for w in words])
    bounds, start = [], 0
    for size in [*batch_sizes, len(batch)]:
        end = min(len(batch), start + size)
        if end > start:
            bounds.append((start, end))
        start = end
    max_diff = 0.0
    mismatches: list[tuple[str, str]] = []
    for lo, hi in bounds:
        chunk = batch[lo:hi]
        with torch.inference_mode():
            torch_logits = net(torch.from_numpy(chunk)).logits.float().numpy()
        onnx_logits = runner.session.run([LOGITS], {INPUT: chunk})[0]
        max_diff = max(max_diff, _max_difference(torch_logits, onnx_logits))
        torch_texts = [t for t, _, _ in decode_probs(tokenizer, softmax(torch_logits))]
        onnx_texts = [t for t, _, _ in decode_probs(tokenizer, softmax(onnx_logits))]
        mismatches += [(a, b) for a, b in zip(torch_texts, onnx_texts, strict=True) if a != b]
    return ParityReport(len(batch), max_diff, mismatches, [hi - lo for lo, hi in bounds])
