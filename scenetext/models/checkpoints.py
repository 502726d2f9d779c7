"""Reading foreign checkpoints (official releases, MAE pretraining) safely, and reporting what loaded.

Checkpoints are read with ``torch.load(weights_only=True)`` or safetensors, never by unpickling code. Official
training checkpoints also pickle non-tensor objects (a config object, paths, argparse namespaces); those are
replaced by an inert placeholder during loading, so only the tensors come out.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from scenetext.errors import ScenetextError

# Keys under which training scripts nest the state dict (pytorch-template, Lightning, MAE).
_NESTED_KEYS = ("model_state_dict", "state_dict", "model")
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL (\S+) was not an allowed global")


class _Inert:
    """Stands in for any non-tensor object pickled in a checkpoint; it runs no code and keeps no state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


@dataclass
class LoadReport:
    """What happened to each key when foreign weights were loaded into a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every model key was filled and every checkpoint key was used or deliberately dropped."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line with counts and the first few keys of each kind."""
        parts = []
        for name in ("missing", "unexpected", "mismatched", "dropped"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
                parts.append(f"{len(keys)} {name} ({shown})")
        return "; ".join(parts) if parts else "all keys matched"


def refusal_reason(exc: BaseException) -> str:
    """One line saying why ``torch.load(weights_only=True)`` (or safetensors) could not read a file.

    torch's weights-only message is many lines and starts with advice to retry with ``weights_only=False``;
    the line that names the refused object is the one that matters.
    """
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError):
        for line in text.splitlines():
            if "GLOBAL" in line:
                return f"it pickles code or objects that weights-only loading refuses: {line.strip()}"
    return text.splitlines()[0] if text else type(exc).__name__


def load_torch_file(path: str | Path, what: str = "checkpoint", inert_globals: bool = False) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    ``weights_only=True`` is passed explicitly because torch lets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` turn an
    unspecified default into a full unpickler, not an explicit request. With ``inert_globals`` non-tensor
    objects of allowed-looking classes (an official checkpoint's config object) load as an inert placeholder;
    globals from blocked modules (``os``, ``builtins``...) are refused either way. Failure is one line naming
    the file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenetextError(f"{path}: no such {what} file")
    placeholders: list[tuple[type, str]] = []
    while True:
        try:
            with torch.serialization.safe_globals(placeholders):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = _UNSUPPORTED_GLOBAL.search(str(exc))
            if inert_globals and found and len(placeholders) < 64:
                placeholders.append((_Inert, found.group(1)))
                continue
            if "GLOBAL" in str(exc):
                raise ScenetextError(f"{path}: cannot load {what} safely ({refusal_reason(exc)})") from None
            raise ScenetextError(f"{path}: not a readable {what} ({refusal_reason(exc)})") from None
        except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError... for bad files
            raise ScenetextError(f"{path}: not a readable {what} ({refusal_reason(exc)})") from None


def read_checkpoint(source: str | Path | dict[str, Any]) -> dict[str, Tensor]:
    """The flat tensor state dict of a checkpoint file (.pth/.pt/.ckpt or .safetensors) or of a loaded dict.

    A state dict nested under ``model_state_dict``, ``state_dict`` or ``model`` is unwrapped; non-tensor
    entries are ignored. Unreadable files raise a one-line ``ScenetextError``.
    """
    name = "checkpoint"
    if isinstance(source, str | Path):
        path = Path(source)
        name = str(path)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            if not path.is_file():
                raise ScenetextError(f"{path}: no such checkpoint file")
            try:
                obj: Any = load_file(str(path))
            except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
                raise ScenetextError(f"{path}: not a readable checkpoint ({refusal_reason(exc)})") from None
        else:
            obj = load_torch_file(path, inert_globals=True)
    else:
        obj = source
    if not isinstance(obj, dict):
        raise ScenetextError(f"{name}: expected a state dict, got {type(obj).__name__}")
    for key in _NESTED_KEYS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
    if not state:
        raise ScenetextError(f"{name}: holds no tensors")
    return state


def load_matching(model: nn.Module, state: dict[str, Tensor]) -> LoadReport:
    """Load the keys whose names and shapes match (non-strict) and report the rest."""
    own = model.state_dict()
    mismatched = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    usable = {k: v for k, v in state.items() if k not in own or own[k].shape == v.shape}
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if k not in {m.split(" ")[0] for m in mismatched}]
    return LoadReport(missing=missing, unexpected=list(result.unexpected_keys), mismatched=mismatched)
