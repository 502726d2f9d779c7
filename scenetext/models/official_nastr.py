"""Loading the released NASTR weights (ML-HDU/NASTR ``model_best.pth``) into ``scenetext.models.nastr.NASTR``.

The official checkpoint is a dict with ``arch``, ``epoch``, ``model_state_dict``, ``optimizer``,
``monitor_best`` and a pickled ``config`` object; only the tensors are read (see ``checkpoints``). Its key
layout (spec-nastr.md §1.8) maps onto this package by prefix:

==========================================  ==============================================================
official                                    here
==========================================  ==============================================================
``Encoder.*`` (SVTR / timm ViT names)       ``encoder.*`` (same names; SVTR ``mixer.mask`` is a buffer here)
``TransformerDecoder.TransformerDecoder.``  ``decoder.``
``text_encoder.TransformerEncoder.``        ``text_encoder.``
``fine_predictor.fc.``                      ``fine_predictor.``
``coarse_predictor.net.``                   ``coarse_predictor.``
``length_predictor.net.``                   ``length_predictor.``
``TextEmbedding.``                          ``text_embedding.``
``position.pe``                             dropped (the sinusoidal table is recomputed)
==========================================  ==============================================================

Prefixes left by DataParallel/DDP wrappers (``module.``, ``str_model.``) are stripped first. The English
model carries length/coarse heads and a text embedding it never uses; loaded into a model built without them
(the default), those keys are dropped and reported as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.checkpoints import LoadReport, load_matching, read_checkpoint

WRAPPER_PREFIXES = ("module.", "str_model.")
KEY_MAP = (
    ("Encoder.", "encoder."),
    ("TransformerDecoder.TransformerDecoder.", "decoder."),
    ("text_encoder.TransformerEncoder.", "text_encoder."),
    ("fine_predictor.fc.", "fine_predictor."),
    ("coarse_predictor.net.", "coarse_predictor."),
    ("length_predictor.net.", "length_predictor."),
    ("TextEmbedding.", "text_embedding."),
)
RECOMPUTED = ("position.pe",)
# Modules the official English model builds but never runs (spec §1.6).
OPTIONAL_MODULES = ("length_predictor", "coarse_predictor", "text_embedding")


def strip_wrappers(key: str) -> str:
    """``module.str_model.x`` -> ``x``."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
    return key


def map_official_nastr(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], LoadReport]:
    """Rename an official NASTR state dict to this package's names.

    Returns the mapped dict and a report whose ``unexpected`` lists official keys no rule covers and whose
    ``dropped`` lists keys deliberately not loaded (the recomputed position table).
    """
    mapped: dict[str, Tensor] = {}
    report = LoadReport()
    for original, tensor in state.items():
        key = strip_wrappers(original)
        if key in RECOMPUTED:
            report.dropped.append(original)
            continue
        for official, ours in KEY_MAP:
            if key.startswith(official):
                mapped[ours + key[len(official) :]] = tensor
                break
        else:
            report.unexpected.append(original)
    return mapped, report


def load_official_nastr(
    model: nn.Module, source: str | Path | dict[str, Any], strict: bool = True
) -> LoadReport:
    """Load released NASTR weights into ``model`` (a ``NASTR`` built with the matching encoder, size and
    charset). ``strict`` raises a one-line ``ScenetextError`` unless every key matched; otherwise the
    report says what was missing, unexpected, mismatched or dropped."""
    mapped, report = map_official_nastr(read_checkpoint(source))
    for key in list(mapped):
        module = key.split(".", 1)[0]
        if module in OPTIONAL_MODULES and getattr(model, module, None) is None:
            report.dropped.append(key)
            del mapped[key]
    loaded = load_matching(model, mapped)
    report.missing = loaded.missing
    report.mismatched = loaded.mismatched
    report.unexpected.extend(loaded.unexpected)
    if strict and not report.ok:
        name = source if isinstance(source, str | Path) else "state dict"
        raise ScenetextError(f"{name}: official NASTR weights do not fit this model: {report.summary()}")
    return report
