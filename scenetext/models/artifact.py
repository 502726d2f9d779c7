"""Inference artifacts: ``model.safetensors`` + ``config.json``, loadable without unpickling anything.

A training checkpoint (.ckpt) is a pickle and is for resuming only. What is shipped and loaded for inference
is this artifact: the weights as safetensors (a flat tensor format that cannot carry code) and a JSON file
holding everything needed to rebuild the model and its input/output handling: the registered model name, its
build options and number of classes, the charset characters, the preprocessing config, the decoding length
and the evaluation protocol. A file from an untrusted source can therefore at worst give wrong weights.

:func:`read_artifact_config` is pure JSON (no torch import) for the ONNX runtime path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenetext.errors import ScenetextError

if TYPE_CHECKING:
    import torch

    from scenetext.data.charset import Charset, Tokenizer
    from scenetext.data.preprocess import PreprocessConfig
    from scenetext.models.base import RecognitionModel

ARTIFACT_FORMAT = "scenetext-artifact"
ARTIFACT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_REQUIRED = ("model", "charset", "preprocess", "max_length", "protocol")


def artifact_dir(path: str | Path) -> Path:
    """The artifact directory for a path given as the directory, its config.json or its model.safetensors."""
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS_FILE, CONFIG_FILE):
        return path.parent
    if path.is_dir():
        return path
    if path.exists():
        raise ScenetextError(
            f"{path}: not a model artifact (expected a directory with {CONFIG_FILE} and {WEIGHTS_FILE})"
        )
    raise ScenetextError(f"{path}: no such file or directory")


def read_artifact_config(path: str | Path) -> dict[str, Any]:
    """The validated ``config.json`` of an artifact (pure JSON, no torch)."""
    config_path = artifact_dir(path) / CONFIG_FILE
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        best = config_path.parent / "best"
        hint = f"; a training run? its model is {best}" if (best / CONFIG_FILE).is_file() else ""
        raise ScenetextError(f"{config_path.parent}: not a model artifact (no {CONFIG_FILE}){hint}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenetextError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != ARTIFACT_FORMAT:
        raise ScenetextError(
            f"{config_path}: not a scenetext artifact config (no format {ARTIFACT_FORMAT!r})"
        )
    version = data.get("version")
    if not isinstance(version, int) or version > ARTIFACT_VERSION:
        raise ScenetextError(
            f"{config_path}: artifact version {version!r} is newer than this scenetext reads "
            f"({ARTIFACT_VERSION}); upgrade scenetext"
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ScenetextError(f"{config_path}: missing {', '.join(missing)}")
    model = data["model"]
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise ScenetextError(f"{config_path}: 'model' must hold a 'name', 'options' and 'num_classes'")
    if not isinstance(data["charset"], dict) or not isinstance(data["charset"].get("chars"), str):
        raise ScenetextError(f"{config_path}: 'charset' must hold the 'chars' string")
    _check_sizes(data, config_path)
    return data


# Sane bounds for a hand-edited or hostile config.json: building the model allocates from these numbers
# (an img_size of [32, 40000000] asks for gigabytes), so they are checked before anything is built.
MAX_INPUT_SIDE = 4096
MAX_DECODE_LENGTH = 1024
MAX_CHARSET = 65536
MAX_OPTION_INT = 65536


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_sizes(data: dict[str, Any], config_path: Path) -> None:
    """Input size, decoding length, charset and class count: consistent and in sane ranges, else one line."""

    def fail(what: str, value: Any, expected: str) -> None:
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ScenetextError(f"{config_path}: {what} {shown}: {expected}")

    chars = data["charset"]["chars"]
    if not 1 <= len(chars) <= MAX_CHARSET:
        fail("charset.chars of length", len(chars), f"expected 1..{MAX_CHARSET} characters")
    max_length = data["max_length"]
    if not _is_int(max_length) or not 1 <= max_length <= MAX_DECODE_LENGTH:
        fail("max_length", max_length, f"expected an integer 1..{MAX_DECODE_LENGTH}")
    model = data["model"]
    num_classes = model.get("num_classes", len(chars) + 3)
    if num_classes != len(chars) + 3 or not _is_int(num_classes):
        fail(
            "model.num_classes",
            num_classes,
            f"does not match the charset ({len(chars)} characters + 3 specials = {len(chars) + 3})",
        )
    options = model.get("options", {})
    if not isinstance(options, dict):
        fail("model.options", options, "expected an object of build options")
    if "max_length" in options and options["max_length"] != max_length:
        fail("model.options.max_length", options["max_length"], f"differs from max_length {max_length}")
    side = f"expected [height, width], integers 1..{MAX_INPUT_SIDE}"
    img_size = options.get("img_size")
    if img_size is not None and (
        not isinstance(img_size, list)
        or len(img_size) != 2
        or not all(_is_int(v) and 1 <= v <= MAX_INPUT_SIDE for v in img_size)
    ):
        fail("model.options.img_size", img_size, side)
    for key, value in options.items():
        numbers = value if isinstance(value, list) else [value]
        if any(_is_int(v) and not 0 <= v <= MAX_OPTION_INT for v in numbers):
            fail(f"model.options.{key}", value, f"expected integers 0..{MAX_OPTION_INT}")
    preprocess = data["preprocess"]
    if not isinstance(preprocess, dict):
        fail("preprocess", preprocess, "expected an object")
    size = [preprocess.get("height"), preprocess.get("width")]
    if not all(_is_int(v) and 1 <= v <= MAX_INPUT_SIDE for v in size):
        fail("preprocess [height, width]", size, side)
    if img_size is not None and size != img_size:
        fail("preprocess [height, width]", size, f"differs from model.options.img_size {img_size}")


def artifact_charset(config: dict[str, Any]) -> Charset:
    """The charset stored in an artifact config."""
    from scenetext.data.charset import Charset

    return Charset(config["charset"]["chars"], config["charset"].get("name", "artifact"))


def artifact_preprocess(config: dict[str, Any]) -> PreprocessConfig:
    """The preprocessing config stored in an artifact config."""
    from scenetext.data.preprocess import PreprocessConfig

    return PreprocessConfig.from_dict(config["preprocess"])


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
    from scenetext.data.charset import Tokenizer
    from scenetext.models.registry import build_model

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


def resolve_model_source(name_or_path: str | Path) -> Path:
    """The artifact directory of a path or a built-in model name (see :mod:`scenetext.models.names`)."""
    from scenetext.models.names import resolve_model

    return artifact_dir(resolve_model(name_or_path))
