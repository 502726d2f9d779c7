"""The training-label filter: which labels a charset can learn, and a count of everything it changed.

Charsets and the tokenizer live in :mod:`scenetext.runtime.charset` (inference needs them without torch).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset

DropReason = Literal["oov", "too_long", "empty"]

_REASON_TEXT = {
    "oov": "with characters outside the charset",
    "too_long": "longer than the maximum length",
    "empty": "empty after filtering",
}


class LabelFilter:
    """Training-label policy: characters outside the charset are stripped or the sample is dropped.

    Order: lowercase (optional), out-of-charset policy, length limit, empty check. Every stripped character
    and every dropped label is counted, and :meth:`report` states them, so a filter is never silent. Counters
    are per process (each DataLoader worker holds its own copy).

    ``length_of_raw=True`` measures ``max_length`` on the raw label as LPV does (spec-lpv §3.2); the default
    measures the filtered label as NASTR does (spec-nastr §3). ``keep_empty=True`` keeps labels that become
    empty (LPV trains them as "predict EOS at once"); by default they are dropped.
    """

    def __init__(
        self,
        charset: Charset,
        policy: Literal["strip", "drop"] = "strip",
        lowercase: bool = False,
        max_length: int | None = None,
        length_of_raw: bool = False,
        keep_empty: bool = False,
    ) -> None:
        if policy not in ("strip", "drop"):
            raise ScenetextError(f"label policy {policy!r}: expected 'strip' or 'drop'")
        if max_length is not None and max_length < 1:
            raise ScenetextError(f"max_length {max_length}: must be at least 1")
        self.charset = charset
        self.policy = policy
        self.lowercase = lowercase
        self.max_length = max_length
        self.length_of_raw = length_of_raw
        self.keep_empty = keep_empty
        self.seen = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()
        self.stripped_chars: Counter[str] = Counter()
        self.labels_stripped = 0

    def __call__(self, label: str) -> str | None:
        """The filtered label, or None when the sample must be dropped."""
        self.seen += 1
        raw_length = len(label)
        text = label.lower() if self.lowercase else label
        outside = [ch for ch in text if ch not in self.charset]
        if outside:
            if self.policy == "drop":
                return self._drop("oov")
            self.stripped_chars.update(outside)
            self.labels_stripped += 1
            text = "".join(ch for ch in text if ch in self.charset)
        length = raw_length if self.length_of_raw else len(text)
        if self.max_length is not None and length > self.max_length:
            return self._drop("too_long")
        if not text and not self.keep_empty:
            return self._drop("empty")
        self.kept += 1
        return text

    def _drop(self, reason: DropReason) -> None:
        self.dropped[reason] += 1
        return None

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "labels_stripped": self.labels_stripped,
            "stripped_chars": dict(self.stripped_chars),
        }

    def report(self, top: int = 10) -> str:
        """One line: labels seen, kept, dropped (by reason) and stripped (most frequent characters first)."""
        parts = [f"labels: {self.seen} seen, {self.kept} kept"]
        for reason, count in sorted(self.dropped.items()):
            detail = _REASON_TEXT[reason]
            if reason == "too_long":
                detail = f"longer than {self.max_length} characters"
            parts.append(f"{count} dropped {detail}")
        if self.labels_stripped:
            common = ", ".join(f"{ch!r} x{n}" for ch, n in self.stripped_chars.most_common(top))
            total = sum(self.stripped_chars.values())
            parts.append(
                f"{total} characters outside charset {self.charset.name} stripped from "
                f"{self.labels_stripped} labels (most frequent: {common})"
            )
        return "; ".join(parts)
