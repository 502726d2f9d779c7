"""Model names: a built-in name or a path, resolved to an artifact location in one place.

Training (``model.init_from``), inference (``Recognizer.load``, ``--model``) and export all take the same
names, so they all resolve through :func:`resolve_model`. Built-in names are artifacts shipped inside the
package, ``scenetext/weights/<name>/`` (``model.safetensors`` + ``config.json``, optionally ``model.onnx``);
nothing is ever downloaded. Only paths and names: no torch import, so torch-free inference can use it.
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


def builtin_dir(name: str) -> Path:
    """The artifact directory of a built-in model, or a one-line error when it is not installed."""
    directory = WEIGHTS_DIR / name
    if not (directory / "config.json").is_file():
        raise ScenetextError(
            f"the {name} model is not installed (no {directory}/config.json); "
            "pass --model PATH to an artifact"
        )
    return directory


def resolve_model(name_or_path: str | Path) -> Path:
    """An existing path as given, else the directory of a built-in model name; else a one-line error.

    An existing path wins over a built-in name, so a local folder called ``default`` is read as a folder.
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    if is_builtin(str(name_or_path)):
        return builtin_dir(str(name_or_path))
    raise ScenetextError(
        f"{name_or_path}: no such file or directory, and not a built-in model name "
        f"({', '.join(BUILTIN_MODELS)})"
    )
