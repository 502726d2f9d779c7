"""Which optional extra provides a module, so a missing one is reported as what to install.

``pip install scenetext`` is the inference-only install (read, bench and the Recognizer on onnxruntime);
training, serving and synthesis need the extras named here. This module imports nothing optional.
"""

from __future__ import annotations

PACKAGE = "scenetext"

# Top-level module -> the extra (in pyproject.toml) that installs it.
MODULE_EXTRAS = {
    "torch": "train",
    "lightning": "train",
    "tensorboard": "train",
    "albumentations": "train",
    "lmdb": "train",
    "safetensors": "train",
    "onnx": "train",
    "rapidfuzz": "train",
    "opencc": "train",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "swagger_ui_bundle": "serve",
    "wordfreq": "synth",
    "fontTools": "synth",
}


def extra_for(exc: ModuleNotFoundError) -> str | None:
    """The extra that installs the module ``exc`` could not find, or None for a module no extra provides."""
    top = (exc.name or "").partition(".")[0]
    return MODULE_EXTRAS.get(top)


def missing_extra_message(what: str, exc: ModuleNotFoundError) -> str | None:
    """``WHAT: needs the [EXTRA] extra (pip install "scenetext[EXTRA]"): No module named 'X'``, or None.

    None means the missing module belongs to no extra: a broken install or a bug, to be raised as it is.
    """
    extra = extra_for(exc)
    if extra is None:
        return None
    return f'{what}: needs the [{extra}] extra (pip install "{PACKAGE}[{extra}]"): {exc}'
