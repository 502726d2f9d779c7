"""Built-in model names resolved to artifacts shipped inside the package (nothing is ever downloaded).

``scenetext/weights/<name>/`` holds ``model.safetensors`` and ``config.json`` (and optionally ``model.onnx``).
:func:`scenetext.models.artifact.resolve_model_source` calls :func:`resolve` for names that are not paths.
"""

from __future__ import annotations

from pathlib import Path

from scenetext.errors import ScenetextError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUILTIN_MODELS = {
    "default": "English NASTR (case-insensitive alphanumerics at least)",
    "default-zh": "Chinese NASTR (zh charset, trained on synthetic Chinese)",
}


def builtin_names() -> list[str]:
    return list(BUILTIN_MODELS)


def is_builtin(name: str) -> bool:
    return name in BUILTIN_MODELS


def resolve(name: str) -> Path:
    """The artifact directory of a built-in model, or a one-line error when it is unknown or not installed."""
    if name not in BUILTIN_MODELS:
        raise ScenetextError(
            f"{name}: no such file or directory, and not a built-in model name ({', '.join(BUILTIN_MODELS)})"
        )
    directory = WEIGHTS_DIR / name
    if not (directory / "config.json").is_file():
        raise ScenetextError(
            f"the {name} model is not installed (no {directory}/config.json); "
            "pass --model PATH to an artifact"
        )
    return directory
