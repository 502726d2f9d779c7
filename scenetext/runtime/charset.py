"""Character sets and the label tokenizer, shared by training and (torch-free) inference.

Index layout shared by every model (NASTR spec §3): PAD=0, EOS=1, SOS=2, characters from index 3 in charset
order. The module imports neither torch nor cv2 at import time: ``decode`` runs on numpy arrays in the ONNX
inference path, and only ``encode``/``encode_with_sos`` import torch, lazily. Greedy decoding of
probabilities is :mod:`scenetext.runtime.decode`; the training-label filter is :mod:`scenetext.data.charset`.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenetext.errors import ScenetextError

if TYPE_CHECKING:
    import torch

PAD, EOS, SOS = 0, 1, 2
NUM_SPECIAL = 3
SPECIAL_NAMES = ("<PAD>", "<EOS>", "<SOS>")

_ASCII_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))  # 94 characters, no space


def _gb2312_chars(rows: Iterable[int]) -> list[str]:
    """Decode every valid 2-byte GB2312 code in ``rows`` (columns 0xA1-0xFE), in code order."""
    chars = []
    for row in rows:
        for col in range(0xA1, 0xFF):
            try:
                chars.append(bytes((row, col)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def _zh_chars() -> str:
    """Build the ``zh`` charset: 7,044 characters (measured: ``len(Charset.from_spec("zh"))``).

    Order (fixed, so indices are stable across machines): printable ASCII without space (94), GB2312 row
    0xA1 punctuation and symbols without the ideographic space, GB2312 row 0xA3 full-width forms, the rest of
    the full-width block U+FF01-U+FF5E, then the 6,763 hanzi of GB2312 levels 1-2 (rows 0xB0-0xF7).
    Duplicates keep their first position. Space is deliberately absent: the Chinese protocol removes spaces.
    """
    parts: list[str] = list(_ASCII_PRINTABLE)
    parts += [c for c in _gb2312_chars([0xA1, 0xA3]) if not c.isspace()]
    parts += [chr(c) for c in range(0xFF01, 0xFF5F)]
    parts += _gb2312_chars(range(0xB0, 0xF8))
    return "".join(dict.fromkeys(parts))


_BUILTINS = {
    "en36": lambda: string.digits + string.ascii_lowercase,
    "en94": lambda: _ASCII_PRINTABLE,
    "zh": _zh_chars,
}


class Charset:
    """An ordered set of characters without duplicates; index i of ``chars`` is class id i + 3."""

    def __init__(self, chars: str, name: str) -> None:
        if not chars:
            raise ScenetextError(f"charset {name}: no characters")
        bad = [c for c in chars if c in "\r\n"]
        if bad:
            raise ScenetextError(f"charset {name}: line breaks cannot be characters")
        seen: set[str] = set()
        for ch in chars:
            if ch in seen:
                raise ScenetextError(f"charset {name}: duplicate character {ch!r} (indices would shift)")
            seen.add(ch)
        self.chars = chars
        self.name = name
        self._members = frozenset(chars)  # O(1) membership for large CJK charsets

    @classmethod
    def builtin_names(cls) -> list[str]:
        return sorted(_BUILTINS)

    @classmethod
    def from_spec(cls, spec: str | Path) -> Charset:
        """A built-in name (``en36``, ``en94``, ``zh``) or the path of a key file."""
        key = str(spec)
        if key in _BUILTINS:
            return cls(_BUILTINS[key](), key)
        if Path(key).is_file():
            return cls.from_file(key)
        raise ScenetextError(
            f"charset {key}: not a built-in ({', '.join(cls.builtin_names())}) and no such key file"
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Charset:
        """Read a key file: one line of characters, or one character per line.

        One-per-line is recognised when there are at least two non-empty lines and each holds one character
        (surrounding whitespace ignored; a line that is exactly one space means the space character).
        Otherwise lines are stripped of surrounding whitespace and concatenated, as NASTR reads its one-line
        key files.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ScenetextError(f"charset {path}: no such key file") from None
        except UnicodeDecodeError as exc:
            raise ScenetextError(f"charset {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise ScenetextError(f"charset {path}: cannot read ({exc.strerror})") from None
        lines = [line.rstrip("\r") for line in text.split("\n")]
        lines = [line for line in lines if line != ""]
        one_per_line = len(lines) >= 2 and all(len(line) == 1 or len(line.strip()) == 1 for line in lines)
        if one_per_line:
            chars = "".join(line if len(line) == 1 else line.strip() for line in lines)
        else:
            chars = "".join(line.strip() for line in lines)
        return cls(chars, str(path))

    def save(self, path: str | Path) -> None:
        """Write one character per line, which round-trips any charset (including a space)."""
        Path(path).write_text("\n".join(self.chars) + "\n", encoding="utf-8")

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._members

    def __iter__(self):
        return iter(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Charset(name={self.name!r}, size={len(self)})"


def as_numpy(array: Any) -> np.ndarray:
    """Tensor or array-like to numpy without importing torch (tensors are recognised by duck typing)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


class Tokenizer:
    """Label <-> class-id conversion with PAD=0, EOS=1, SOS=2 and characters from 3."""

    def __init__(self, charset: Charset) -> None:
        self.charset = charset
        self.num_classes = len(charset) + NUM_SPECIAL
        self._index = {ch: i + NUM_SPECIAL for i, ch in enumerate(charset.chars)}
        self._lookup = np.array(["", "", ""] + list(charset.chars), dtype=object)

    def _ids(self, label: str) -> list[int]:
        try:
            return [self._index[ch] for ch in label]
        except KeyError as exc:
            raise ScenetextError(
                f"label {label!r}: character {exc.args[0]!r} is not in charset {self.charset.name} "
                "(filter training labels with LabelFilter)"
            ) from None

    def encode_array(self, labels: Sequence[str], with_sos: bool = False) -> np.ndarray:
        """Numpy int64 version of :meth:`encode` / :meth:`encode_with_sos` (no torch needed)."""
        rows = [self._ids(label) for label in labels]
        offset = 1 if with_sos else 0
        width = max((len(r) for r in rows), default=0) + 1 + offset
        out = np.full((len(rows), width), PAD, dtype=np.int64)
        for i, ids in enumerate(rows):
            if with_sos:
                out[i, 0] = SOS
            out[i, offset : offset + len(ids)] = ids
            out[i, offset + len(ids)] = EOS
        return out

    def encode(self, labels: Sequence[str]) -> torch.Tensor:
        """N x (L+1) LongTensor: characters, one EOS, then PAD up to the batch maximum length L."""
        import torch

        return torch.from_numpy(self.encode_array(labels))

    def encode_with_sos(self, labels: Sequence[str]) -> torch.Tensor:
        """N x (L+2) LongTensor: SOS, characters, EOS, PAD... (autoregressive decoder input and target)."""
        import torch

        return torch.from_numpy(self.encode_array(labels, with_sos=True))

    def _check_ids(self, ids: np.ndarray, what: str) -> None:
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ScenetextError(
                f"{what}: class id out of range [0, {self.num_classes}) for charset {self.charset.name}"
            )

    def decode(self, ids: Any) -> list[str]:
        """N x T class ids (tensor or ndarray) to strings.

        Each row is read up to its first EOS; PAD and SOS are skipped, so a special token never becomes text.
        A row without EOS uses all T positions.
        """
        arr = as_numpy(ids)
        if arr.ndim != 2:
            raise ScenetextError(f"decode: expected N x T class ids, got shape {arr.shape}")
        arr = arr.astype(np.int64, copy=False)
        self._check_ids(arr, "decode")
        return [self.row_text(row)[0] for row in arr]

    def row_text(self, row: np.ndarray) -> tuple[str, int, np.ndarray]:
        """Text, number of scanned positions (up to and including EOS) and the mask of emitted characters."""
        eos = np.flatnonzero(row == EOS)
        end = int(eos[0]) + 1 if eos.size else len(row)
        kept = row[: eos[0] if eos.size else len(row)]
        mask = kept >= NUM_SPECIAL
        return "".join(self._lookup[kept[mask]]), end, mask
