"""Writing and loading the torch side of an artifact: ``model.safetensors`` beside its ``config.json``.

The format itself (file names, reading and validating ``config.json``) is torch-free and lives in
:mod:`scenetext.runtime.artifact`; this module saves a model into it and rebuilds a model from it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenetext.errors import ScenetextError
from scenetext.runtime.artifact import (
    ARTIFACT_FORMAT,
    ARTIFACT_VERSION,
    CONFIG_FILE,
    WEIGHTS_FILE,
    artifact_charset,
    artifact_dir,
    artifact_preprocess,
    read_artifact_config,
)

if TYPE_CHECKING:
    import torch

    from scenetext.models.base import RecognitionModel
    from scenetext.runtime.charset import Charset, Tokenizer
    from scenetext.runtime.preprocess import PreprocessConfig


def _json_options(options: dict[str, Any]) -> dict[str, Any]:
    """Build options as JSON values (tuples become lists); refuse what JSON cannot hold."""
    try:
        return json.loads(json.dumps(options))
    except TypeError as exc:
        raise ScenetextError(f"model options are not JSON-serialisable ({exc})") from None


def build_options(options: dict[str, Any]) -> dict[str, Any]:
    """JSON/YAML options back to ``build_model`` keywords: ``img_size`` as a (H, W) tuple."""
    out = dict(options)
    if isinstance(out.get("img_size"), list):
        out["img_size"] = tuple(out["img_size"])
    return out


def umask_mode(base: int = 0o666) -> int:
    """``base`` (0o666 for files, 0o777 for directories) less the process umask: the mode ``open`` gives.

    Temporary files and directories (and safetensors' writer) are created private (600/700); what is moved
    into place gets the mode any other file the user writes would get.
    """
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _write_dir_atomically(target: Path, write: Any) -> None:
    """Fill a temporary sibling directory with ``write(tmp)``, then swap it into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        write(tmp)
        for path in tmp.iterdir():
            os.chmod(path, umask_mode())
        os.chmod(tmp, umask_mode(0o777))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_artifact(
    directory: str | Path,
    model: RecognitionModel,
    *,
    model_name: str,
    model_options: dict[str, Any],
    charset: Charset,
    preprocess: PreprocessConfig,
    protocol: str,
    extra: dict[str, Any] | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``directory/{model.safetensors,config.json}`` atomically; an existing artifact is replaced whole.

    ``model_options`` are the keywords the model was built with (besides ``num_classes``), so
    ``build_model(model_name, num_classes, **model_options)`` rebuilds the same architecture. ``state_dict``
    overrides the model's current weights (e.g. the averaged weights of an EMA). ``extra`` is free metadata
    (training step, validation accuracy...).
    """
    import torch
    from safetensors.torch import save_file

    from scenetext import __version__

    weights = state_dict if state_dict is not None else model.state_dict()
    # safetensors refuses tensors that share memory; a clone gives every entry its own storage.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in weights.items()}
    if not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise ScenetextError("save_artifact: the state dict holds non-tensor entries")
    config = {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "scenetext_version": __version__,
        "model": {
            "name": model_name,
            "options": _json_options(model_options),
            "num_classes": int(model.num_classes),
        },
        "charset": {"name": charset.name, "chars": charset.chars},
        "preprocess": preprocess.to_dict(),
        "max_length": int(model.max_length),
        "protocol": protocol,
        "extra": extra or {},
    }
    target = Path(directory)

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")

    _write_dir_atomically(target, write)
    return target


def load_weights_strict(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``model``; every key must match in name and shape, else a one-line error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ScenetextError(f"{source}: weights do not match the model: {', '.join(parts)}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise ScenetextError(
                f"{source}: weight {key} has shape {tuple(tensors[key].shape)}, the model expects "
                f"{tuple(value.shape)}"
            )
    model.load_state_dict(tensors, strict=True)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file on the CPU, with one-line errors for missing or corrupt files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise ScenetextError(f"{path}: no such weights file") from None
    except (SafetensorError, OSError) as exc:
        raise ScenetextError(f"{path}: not a valid safetensors file ({exc})") from None


def load_artifact(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[RecognitionModel, Tokenizer, PreprocessConfig, dict[str, Any]]:
    """Rebuild an artifact's model with its weights (eval mode, on ``device``), tokenizer and preprocessing.

    Returns ``(model, tokenizer, preprocess_config, meta)`` where ``meta`` is the whole config.json.
    """
    from scenetext.models.registry import build_model
    from scenetext.runtime.charset import Tokenizer

    directory = artifact_dir(path)
    config = read_artifact_config(directory)
    tokenizer = Tokenizer(artifact_charset(config))
    spec = config["model"]
    try:
        model = build_model(spec["name"], tokenizer.num_classes, **build_options(spec.get("options", {})))
    except ValueError as exc:
        raise ScenetextError(f"{directory / CONFIG_FILE}: {exc}") from None
    load_weights_strict(model, read_safetensors(directory / WEIGHTS_FILE), str(directory / WEIGHTS_FILE))
    model.eval().to(device)
    return model, tokenizer, artifact_preprocess(config), config
