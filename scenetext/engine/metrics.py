"""Recognition metrics: word accuracy, 1-NED, NASTR's corpus edit-distance accuracy, per-subset tables.

All reported figures are percentages. Three figures, because the papers report different ones:

- word accuracy: exact match of the normalised strings;
- 1-NED (ICDAR 2019): mean over samples of 1 - ED / max(len(gt), len(pred)), 1 when both are empty;
- corpus edit-distance accuracy (NASTR test, spec-nastr §6.1): 1 - sum(ED) / sum(max(len(gt), len(pred))),
  a ratio of sums, not a mean of ratios.

An empty set scores 0 with n = 0 (never a division by zero); callers show n next to every figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rapidfuzz.distance import Levenshtein

from scenetext.engine.protocols import normalize_text
from scenetext.errors import ScenetextError

if TYPE_CHECKING:
    from rich.table import Table


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute all cost 1)."""
    return Levenshtein.distance(a, b)


def one_minus_ned(pred: str, gt: str) -> float:
    """1 - ED / max(len(gt), len(pred)) for one sample; 1.0 when both strings are empty."""
    longest = max(len(pred), len(gt))
    return 1.0 if longest == 0 else 1.0 - edit_distance(pred, gt) / longest


def _check_pairs(preds: Sequence[str], gts: Sequence[str]) -> None:
    if len(preds) != len(gts):
        raise ScenetextError(f"metrics: {len(preds)} predictions for {len(gts)} ground truths")


def word_accuracy(preds: Sequence[str], gts: Sequence[str]) -> float:
    """Fraction (0-1) of exact matches; 0.0 for no samples."""
    _check_pairs(preds, gts)
    return sum(p == g for p, g in zip(preds, gts, strict=True)) / len(gts) if gts else 0.0


def mean_one_minus_ned(preds: Sequence[str], gts: Sequence[str]) -> float:
    """Per-sample mean of 1-NED (0-1); 0.0 for no samples."""
    _check_pairs(preds, gts)
    return sum(one_minus_ned(p, g) for p, g in zip(preds, gts, strict=True)) / len(gts) if gts else 0.0


def corpus_edit_accuracy(preds: Sequence[str], gts: Sequence[str]) -> float:
    """NASTR's 1 - sum(ED) / sum(max(len)) (0-1); 1.0 when every string is empty, 0.0 for no samples."""
    _check_pairs(preds, gts)
    if not gts:
        return 0.0
    total = sum(max(len(p), len(g)) for p, g in zip(preds, gts, strict=True))
    if total == 0:
        return 1.0
    return 1.0 - sum(edit_distance(p, g) for p, g in zip(preds, gts, strict=True)) / total


@dataclass
class _Tally:
    n: int = 0
    correct: int = 0
    ned_sum: float = 0.0
    ed_sum: int = 0
    max_len_sum: int = 0

    def add(self, pred: str, gt: str) -> None:
        self.n += 1
        self.correct += pred == gt
        self.ned_sum += one_minus_ned(pred, gt)
        self.ed_sum += edit_distance(pred, gt)
        self.max_len_sum += max(len(pred), len(gt))

    def summary(self) -> dict[str, Any]:
        if self.n == 0:
            return {"n": 0, "correct": 0, "accuracy": 0.0, "ned": 0.0, "corpus_ed_acc": 0.0}
        corpus = 1.0 if self.max_len_sum == 0 else 1.0 - self.ed_sum / self.max_len_sum
        return {
            "n": self.n,
            "correct": self.correct,
            "accuracy": 100.0 * self.correct / self.n,
            "ned": 100.0 * self.ned_sum / self.n,
            "corpus_ed_acc": 100.0 * corpus,
        }


@dataclass
class RecognitionMetrics:
    """Accumulates predictions batch by batch; :meth:`compute` gives the figures in percent.

    With ``protocol`` set, both sides are normalised (:func:`normalize_text`) before scoring. With
    ``keep_confusions``, every wrong (gt, pred) pair is counted for :meth:`top_confusions`.
    """

    protocol: str | None = None
    keep_confusions: bool = False
    _total: _Tally = field(default_factory=_Tally, init=False, repr=False)
    _by_length: dict[int, _Tally] = field(default_factory=dict, init=False, repr=False)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter, init=False, repr=False)

    def update(self, preds: Sequence[str], gts: Sequence[str]) -> None:
        _check_pairs(preds, gts)
        for pred, gt in zip(preds, gts, strict=True):
            if self.protocol is not None:
                pred, gt = normalize_text(pred, self.protocol), normalize_text(gt, self.protocol)
            self._total.add(pred, gt)
            self._by_length.setdefault(len(gt), _Tally()).add(pred, gt)
            if self.keep_confusions and pred != gt:
                self.confusions[(gt, pred)] += 1

    def compute(self) -> dict[str, Any]:
        """{n, correct, accuracy, ned, corpus_ed_acc, by_length: {gt length: same figures}}; percentages."""
        result = self._total.summary()
        result["by_length"] = {
            length: self._by_length[length].summary() for length in sorted(self._by_length)
        }
        return result

    def top_confusions(self, k: int = 10) -> list[tuple[str, str, int]]:
        """The k most frequent (ground truth, prediction, count) mistakes."""
        return [(gt, pred, count) for (gt, pred), count in self.confusions.most_common(k)]


def _figures(metrics: Mapping[str, Any] | RecognitionMetrics) -> Mapping[str, Any]:
    return metrics.compute() if isinstance(metrics, RecognitionMetrics) else metrics


class SubsetTable:
    """Per-subset results with a sample-weighted and an unweighted average (the two are never mixed).

    The weighted average equals pooling every sample (LPV's "total"); the unweighted one is the plain mean
    over subsets (OpenOCR's and NASTR's "Avg"). Subsets with no samples are left out of both averages.
    """

    def __init__(self, subsets: Mapping[str, Mapping[str, Any] | RecognitionMetrics]) -> None:
        self.subsets = {name: dict(_figures(m)) for name, m in subsets.items()}

    def averages(self) -> dict[str, dict[str, float]]:
        scored = [m for m in self.subsets.values() if m["n"] > 0]
        total = sum(m["n"] for m in scored)
        weighted, unweighted = {}, {}
        for key in ("accuracy", "ned"):
            weighted[key] = sum(m[key] * m["n"] for m in scored) / total if total else 0.0
            unweighted[key] = sum(m[key] for m in scored) / len(scored) if scored else 0.0
        return {"weighted": weighted, "unweighted": unweighted}

    def to_json(self) -> dict[str, Any]:
        """JSON layout: ``{"subsets": {name: {n, accuracy, ned[, corpus_ed_acc]}}, "average": {...}}``.

        ``average`` holds ``weighted`` and ``unweighted``, each with ``accuracy`` and ``ned`` (percent).
        """
        keys = ("n", "accuracy", "ned", "corpus_ed_acc")
        return {
            "subsets": {name: {k: m[k] for k in keys if k in m} for name, m in self.subsets.items()},
            "average": self.averages(),
        }

    def to_rich(self, title: str | None = None) -> Table:
        from rich.table import Table

        table = Table(title=title)
        table.add_column("subset")
        for column in ("n", "accuracy %", "1-NED %", "corpus ED acc %"):
            table.add_column(column, justify="right")
        for name, m in self.subsets.items():
            corpus = f"{m['corpus_ed_acc']:.2f}" if "corpus_ed_acc" in m else "-"
            table.add_row(name, str(m["n"]), f"{m['accuracy']:.2f}", f"{m['ned']:.2f}", corpus)
        averages = self.averages()
        total = sum(m["n"] for m in self.subsets.values())
        for kind in ("weighted", "unweighted"):
            avg = averages[kind]
            table.add_row(f"average ({kind})", str(total), f"{avg['accuracy']:.2f}", f"{avg['ned']:.2f}", "-")
        return table


def length_table(metrics: Mapping[str, Any] | RecognitionMetrics, title: str | None = None) -> Table:
    """Rich table of the per-label-length breakdown from :meth:`RecognitionMetrics.compute`."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("gt length", "n", "accuracy %", "1-NED %"):
        table.add_column(column, justify="right")
    for length, m in _figures(metrics)["by_length"].items():
        table.add_row(str(length), str(m["n"]), f"{m['accuracy']:.2f}", f"{m['ned']:.2f}")
    return table
