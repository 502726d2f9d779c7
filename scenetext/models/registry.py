"""Build models by name, as configs refer to them.

A model module registers a factory with ``@register_model("name")``; the factory takes
``num_classes`` and keyword overrides (image size, maximum length, constraint switches ...).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from scenetext.errors import ScenetextError
from scenetext.models.base import RecognitionModel

ConfigT = TypeVar("ConfigT")

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


def config_from_options(
    name: str, config_cls: type[ConfigT], defaults: dict[str, Any], options: dict[str, Any]
) -> ConfigT:
    """A model's config dataclass from preset defaults and user options; bad options fail in one line."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ScenetextError(
            f"model {name!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    try:
        return config_cls(**{**defaults, **options})
    except (TypeError, ValueError) as exc:
        raise ScenetextError(f"model {name!r}: {exc}") from None
