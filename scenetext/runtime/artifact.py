"""The artifact format: a directory of ``config.json`` + ``model.safetensors`` (+ ``model.onnx``).

A training checkpoint (.ckpt) is a pickle and is for resuming only. What is shipped and loaded for inference
is this artifact: the weights as safetensors (a flat tensor format that cannot carry code), optionally the
same model exported to ONNX, and a JSON file holding everything needed to rebuild the model and its
input/output handling: the registered model name, its build options and number of classes, the charset
characters, the preprocessing config, the decoding length and the evaluation protocol. A file from an
untrusted source can therefore at worst give wrong weights.

This module is the torch-free half (names, reading and validating ``config.json``, the charset and
preprocessing it describes); writing and loading the weights is :mod:`scenetext.models.artifact`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset
from scenetext.runtime.names import resolve_model
from scenetext.runtime.preprocess import PreprocessConfig

ARTIFACT_FORMAT = "scenetext-artifact"
ARTIFACT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ONNX_FILE = "model.onnx"  # optional: the same model exported for onnxruntime
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
    return Charset(config["charset"]["chars"], config["charset"].get("name", "artifact"))


def artifact_preprocess(config: dict[str, Any]) -> PreprocessConfig:
    """The preprocessing config stored in an artifact config."""
    return PreprocessConfig.from_dict(config["preprocess"])


def resolve_model_source(name_or_path: str | Path) -> Path:
    """The artifact directory of a path or a built-in model name (see :mod:`scenetext.runtime.names`)."""
    return artifact_dir(resolve_model(name_or_path))


def onnx_file(path: str | Path) -> Path:
    """The ONNX file of a path given as the ``.onnx`` file or as an artifact directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / ONNX_FILE
        if not path.is_file():
            raise ScenetextError(
                f"{path.parent}: no {ONNX_FILE} (create it with scenetext export --model {path.parent} "
                f"--onnx {path})"
            )
    elif path.suffix.lower() != ".onnx":
        raise ScenetextError(
            f"{path}: the onnx backend needs a .onnx file or a directory holding {ONNX_FILE}"
        )
    return path
