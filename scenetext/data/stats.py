"""Label statistics of LMDB datasets: size, length histogram, character frequencies, charset coverage.

Coverage is reported twice, as written and after lowercasing, because both papers lowercase training labels
(spec-nastr §3, spec-lpv §3.2): an uppercase label is only "outside" en36 if lowercasing does not fix it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scenetext.data.lmdb_store import LmdbReader, find_lmdbs
from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset

MAX_HISTOGRAM_ROWS = 40


@dataclass
class Coverage:
    """Labels and characters outside a charset."""

    labels_outside: int = 0
    chars_outside: Counter[str] = field(default_factory=Counter)

    def add(self, label: str, charset: Charset) -> None:
        outside = [ch for ch in label if ch not in charset]
        if outside:
            self.labels_outside += 1
            self.chars_outside.update(outside)


@dataclass
class LabelStats:
    """Statistics over a set of labels (see :func:`label_stats`)."""

    count: int = 0
    lengths: Counter[int] = field(default_factory=Counter)
    chars: Counter[str] = field(default_factory=Counter)
    charset: Charset | None = None
    coverage: Coverage | None = None
    coverage_lowercased: Coverage | None = None
    sources: list[tuple[Path, int]] = field(default_factory=list)
    unreadable_labels: int = 0

    def add(self, label: str) -> None:
        self.count += 1
        self.lengths[len(label)] += 1
        self.chars.update(label)
        if self.charset is not None:
            assert self.coverage is not None and self.coverage_lowercased is not None
            self.coverage.add(label, self.charset)
            self.coverage_lowercased.add(label.lower(), self.charset)

    @property
    def total_chars(self) -> int:
        return sum(self.chars.values())

    def length_histogram(self) -> list[tuple[int, int]]:
        """(length, count) for every length from the shortest to the longest label, zeros included."""
        if not self.lengths:
            return []
        return [(n, self.lengths.get(n, 0)) for n in range(min(self.lengths), max(self.lengths) + 1)]

    def length_rows(self, max_rows: int = MAX_HISTOGRAM_ROWS) -> list[tuple[str, int]]:
        """The histogram as at most ``max_rows`` printable rows: the longest lengths share the last row.

        One 100,000-character label must not print 100,000 rows; the tail row reads ``"40-100000"``.
        """
        rows = self.length_histogram()
        if len(rows) <= max_rows:
            return [(str(length), n) for length, n in rows]
        head, tail = rows[: max_rows - 1], rows[max_rows - 1 :]
        return [(str(length), n) for length, n in head] + [
            (f"{tail[0][0]}-{tail[-1][0]}", sum(n for _, n in tail))
        ]


def label_stats(labels: Iterable[str], charset: Charset | None = None) -> LabelStats:
    """Statistics of ``labels``; coverage is computed only when a charset is given."""
    stats = _empty(charset)
    for label in labels:
        stats.add(label)
    return stats


def _empty(charset: Charset | None) -> LabelStats:
    if charset is None:
        return LabelStats()
    return LabelStats(charset=charset, coverage=Coverage(), coverage_lowercased=Coverage())


def lmdb_stats(root: str | Path, charset: Charset | None = None) -> LabelStats:
    """Statistics over every LMDB under ``root``; records with a missing label are counted, not fatal."""
    paths = find_lmdbs(root)
    if not paths:
        raise ScenetextError(f"{root}: no LMDB found (no data.mdb in it or below it)")
    stats = _empty(charset)
    for path in paths:
        labels = LmdbReader(path).labels(skip_unreadable=True)
        readable = [label for label in labels if label is not None]
        stats.unreadable_labels += len(labels) - len(readable)
        stats.sources.append((path, len(labels)))
        for label in readable:
            stats.add(label)
    return stats
