"""Build models by name, as configs refer to them.

A model module registers a factory with ``@register_model("name")``; the factory takes
``num_classes`` and keyword overrides (image size, maximum length, constraint switches ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from scenetext.models.base import RecognitionModel

ModelFactory = Callable[..., RecognitionModel]

_REGISTRY: dict[str, ModelFactory] = {}

# Modules whose import registers models; imported lazily so `scenetext --help` stays fast.
_MODEL_MODULES = ("scenetext.models.nastr", "scenetext.models.lpv", "scenetext.models.autoregressive")


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that makes a factory buildable by ``build_model(name, ...)``."""

    def wrap(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def _load_all() -> None:
    for module in _MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def available_models() -> list[str]:
    """Names accepted by ``build_model``."""
    _load_all()
    return sorted(_REGISTRY)


def build_model(name: str, num_classes: int, **kwargs: Any) -> RecognitionModel:
    """Instantiate a registered model; unknown names and keys fail with a one-line error."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise ValueError(f"model {name!r}: bad option ({err})") from err
