"""Load the released LPV checkpoints (CyrilSterling/LPV ``best_accuracy.pth``) into ``scenetext.models.lpv``.

Official layout (docs spec-lpv.md §1.6, §2): keys carry ``module.str_model.``; the SVTR encoder already uses
the official names (its frozen local masks were parameters there and are buffers here, same key); the
position-encoding tables are stored copies of fixed sinusoids, so they are checked rather than loaded.
The three classifiers have 38 rows ([GO]=0, [s]=1, then "0-9a-z" from 2); ours have PAD=0, EOS=1, SOS=2 and
the charset from 3. [GO] (the official padding index) becomes PAD, [s] becomes EOS, characters move by
their text, and every class without an official row (SOS, characters the release never saw) gets a zero
weight and a very negative bias so it is never predicted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from scenetext.errors import ScenetextError
from scenetext.models.checkpoints import load_torch_file
from scenetext.models.layers.sinusoidal import sinusoidal_table
from scenetext.models.lpv import LPV
from scenetext.runtime.charset import EOS, NUM_SPECIAL, PAD

OFFICIAL_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
OFFICIAL_GO, OFFICIAL_EOS, OFFICIAL_NUM_SPECIAL = 0, 1, 2
# Bias of classes the official heads cannot predict: softmax gives them exactly 0 in float32 and fp16.
NEVER_BIAS = -1.0e4

_PREFIXES = ("module.", "str_model.")
_RENAMES = (
    (re.compile(r"^backbone\."), "encoder."),
    (re.compile(r"^attention\.(\d+)\."), r"position_attention.\1."),
    (re.compile(r"^trans\.(\d+)\."), r"glrm.\1."),
    (re.compile(r"^cls\.(\d+)\."), r"classifiers.\1."),
)
_POSITION_TABLE = re.compile(r"^(attention|trans)\.(\d+)\.pos_encoder\.pe$")
_CLASSIFIER = re.compile(r"^classifiers\.\d+\.(weight|bias)$")


@dataclass
class ConversionReport:
    """What a conversion did; ``ok`` means every official tensor found its place and nothing is missing."""

    loaded: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # official keys with no counterpart (dropped)
    missing: list[str] = field(default_factory=list)  # our keys the checkpoint did not provide
    mismatched: list[str] = field(default_factory=list)  # "key: official shape vs ours" or bad tables
    checked_tables: list[str] = field(default_factory=list)  # stored position tables equal to ours
    classes_without_weights: list[int] = field(default_factory=list)  # our class indices, never predicted

    @property
    def ok(self) -> bool:
        return not (self.unmapped or self.missing or self.mismatched)

    def summary(self) -> str:
        """One line for logs and error messages."""
        parts = [f"{len(self.loaded)} tensors loaded"]
        for name in ("unmapped", "missing", "mismatched"):
            items = getattr(self, name)
            if items:
                shown = ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
                parts.append(f"{len(items)} {name}: {shown}")
        return "; ".join(parts)


def official_class_rows(charset: str, official_chars: str = OFFICIAL_CHARS) -> list[int | None]:
    """For each of our classes (PAD, EOS, SOS, then ``charset``), the official row it takes, or None."""
    official_index = {ch: OFFICIAL_NUM_SPECIAL + i for i, ch in enumerate(official_chars)}
    rows: list[int | None] = [None] * (NUM_SPECIAL + len(charset))
    rows[PAD], rows[EOS] = OFFICIAL_GO, OFFICIAL_EOS
    for i, ch in enumerate(charset):
        rows[NUM_SPECIAL + i] = official_index.get(ch)
    return rows


def _remap_classes(tensor: Tensor, rows: list[int | None], is_bias: bool) -> Tensor:
    out = tensor.new_full((len(rows), *tensor.shape[1:]), NEVER_BIAS if is_bias else 0.0)
    for ours, official in enumerate(rows):
        if official is not None:
            out[ours] = tensor[official]
    return out


def _strip_prefixes(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def _rename(key: str) -> str | None:
    for pattern, replacement in _RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return None


def _check_table(key: str, value: Tensor, model: LPV, report: ConversionReport) -> None:
    """Compare a stored sinusoid (``T x 1 x E``) with ours over the positions both have."""
    kind, index = _POSITION_TABLE.match(key).groups()  # type: ignore[union-attr]
    module = model.position_attention[int(index)] if kind == "attention" else model.glrm[int(index)]
    ours = module.pe.reshape(module.pe.shape[0], -1)
    stored = value.reshape(value.shape[0], -1).float()
    if stored.shape[1] != ours.shape[1]:
        report.mismatched.append(f"{key}: width {stored.shape[1]} vs ours {ours.shape[1]}")
        return
    length = min(len(stored), len(ours))
    reference = sinusoidal_table(length, ours.shape[1])
    if not torch.allclose(stored[:length], reference, atol=1e-4):
        report.mismatched.append(f"{key}: values differ from the sinusoidal table")
        return
    report.checked_tables.append(key)


def convert_official_lpv(
    official: Mapping[str, Tensor], model: LPV, charset: str = OFFICIAL_CHARS
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Rename and reshape an official LPV state dict for ``model`` (built for ``charset``).

    Returns the tensors that fit (our key -> tensor) and a report; nothing is loaded here.
    """
    if model.num_classes != NUM_SPECIAL + len(charset):
        raise ScenetextError(
            f"LPV has {model.num_classes} classes but charset of {len(charset)} characters needs "
            f"{NUM_SPECIAL + len(charset)} (PAD, EOS, SOS + characters)"
        )
    rows = official_class_rows(charset)
    ours = model.state_dict()
    report = ConversionReport(classes_without_weights=[i for i, row in enumerate(rows) if row is None])
    converted: dict[str, Tensor] = {}
    mismatched_targets: set[str] = set()
    for raw_key, value in official.items():
        key = _strip_prefixes(raw_key)
        if _POSITION_TABLE.match(key):
            _check_table(key, value, model, report)
            continue
        target = _rename(key)
        if target is None or target not in ours:
            report.unmapped.append(raw_key)
            continue
        if _CLASSIFIER.match(target):
            value = _remap_classes(value, rows, is_bias=target.endswith("bias"))
        if value.shape != ours[target].shape:
            report.mismatched.append(f"{raw_key}: {tuple(value.shape)} vs ours {tuple(ours[target].shape)}")
            mismatched_targets.add(target)
            continue
        converted[target] = value.to(ours[target].dtype)
        report.loaded.append(target)
    # Old checkpoints may lack BatchNorm's step counters; they do not affect a model with fixed momentum.
    report.missing = [
        k
        for k in ours
        if k not in converted and k not in mismatched_targets and not k.endswith("num_batches_tracked")
    ]
    return converted, report


def load_official_lpv(
    model: LPV,
    checkpoint: str | Path | Mapping[str, Tensor],
    charset: str = OFFICIAL_CHARS,
    strict: bool = True,
) -> ConversionReport:
    """Load an official checkpoint (path or state dict) into ``model``; ``strict`` refuses any gap."""
    if isinstance(checkpoint, Mapping):
        state = checkpoint
    else:
        state = load_torch_file(checkpoint, what="LPV checkpoint")
        if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
            raise ScenetextError(
                f"{checkpoint}: expected a state dict of tensors (official best_accuracy.pth)"
            )
    converted, report = convert_official_lpv(state, model, charset)
    if strict and not report.ok:
        raise ScenetextError(f"official LPV checkpoint does not fit this model: {report.summary()}")
    model.load_state_dict(converted, strict=False)
    return report
