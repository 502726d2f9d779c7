"""Building an LMDB from a list of image files and labels.

Four list formats, one sample per line (blank lines are ignored; a UTF-8 byte-order mark is accepted):

- ``tsv``: ``path<TAB>label`` (split at the first tab; the label may hold spaces);
- ``tags``: ``path label`` (IIIT5K style; split at the first space, so the label may hold spaces);
- ``icdar``: ``word_1.png, "label"`` (ICDAR 2013/2015 word ground truth). Inside the quotes ``\\"`` is a
  quote and ``\\\\`` a backslash, as in the ICDAR 2015 files; a doubled ``""`` is also read as one quote.
  Commas, spaces and symbols in the label are kept; an unquoted label is taken as written;
- ``jsonl``: one JSON object per line with ``filename`` and ``text``.

Image paths are relative to ``root`` (default: the list file's folder). Every image is decoded before it is
written; missing, empty or undecodable images and malformed lines are skipped and listed, with their line
numbers, in a report file ``<output>.skipped.tsv`` next to the output LMDB (so the LMDB folder holds only the
LMDB). The original bytes are stored, not a re-encoding.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scenetext.data.lmdb_store import LmdbWriter
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import load_image

FORMATS = ("tsv", "tags", "icdar", "jsonl")


@dataclass(frozen=True)
class ListEntry:
    """One parsed line of a list file."""

    line: int
    path: str
    label: str


@dataclass(frozen=True)
class SkippedEntry:
    """A line that was not written: malformed, or its image is missing or unreadable."""

    line: int
    path: str
    reason: str


@dataclass
class ImportResult:
    """What ``create_lmdb`` did: ``written`` of ``listed`` samples, and why the others were skipped."""

    output: Path
    listed: int
    written: int
    skipped: list[SkippedEntry] = field(default_factory=list)
    report: Path | None = None

    @property
    def summary(self) -> str:
        return f"written {self.written} of {self.listed}"


def _split_required(text: str, sep: str, what: str) -> tuple[str, str]:
    path, found, label = text.partition(sep)
    if not found:
        raise ScenetextError(f"no {what} between path and label")
    if not path.strip():
        raise ScenetextError("empty image path")
    return path.strip(), label


def _parse_tsv(text: str) -> tuple[str, str]:
    return _split_required(text, "\t", "tab")


def _parse_tags(text: str) -> tuple[str, str]:
    return _split_required(text, " ", "space")


def unquote_icdar(value: str) -> str:
    """The label inside ICDAR quotes: ``\\"`` and ``""`` are quotes, ``\\\\`` a backslash."""
    chars: list[str] = []
    i = 1
    while i < len(value):
        ch = value[i]
        nxt = value[i + 1] if i + 1 < len(value) else ""
        if ch == "\\" and nxt in ('"', "\\"):
            chars.append(nxt)
            i += 2
        elif ch == '"' and nxt == '"':
            chars.append('"')
            i += 2
        elif ch == '"':
            if value[i + 1 :].strip():
                raise ScenetextError(f"text after the closing quote: {value[i + 1 :].strip()!r}")
            return "".join(chars)
        else:
            chars.append(ch)
            i += 1
    if len(value) >= 2 and value.endswith('"'):
        # The closing quote was consumed as an escape: a label ending in a backslash, written unescaped.
        return value[1:-1].replace('\\"', '"')
    raise ScenetextError("unterminated quote in label")


def _parse_icdar(text: str) -> tuple[str, str]:
    path, value = _split_required(text, ",", "comma")
    value = value.strip()
    if value.startswith('"'):
        return path, unquote_icdar(value)
    return path, value


def _parse_jsonl(text: str) -> tuple[str, str]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenetextError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise ScenetextError("expected a JSON object with 'filename' and 'text'")
    path, label = record.get("filename"), record.get("text")
    if not isinstance(path, str) or not path.strip():
        raise ScenetextError("missing or non-string 'filename'")
    if not isinstance(label, str):
        raise ScenetextError("missing or non-string 'text'")
    return path.strip(), label


_PARSERS: dict[str, Callable[[str], tuple[str, str]]] = {
    "tsv": _parse_tsv,
    "tags": _parse_tags,
    "icdar": _parse_icdar,
    "jsonl": _parse_jsonl,
}


def parse_line(fmt: str, text: str) -> tuple[str, str]:
    """``(image path, label)`` of one line (without its line ending); ScenetextError says why not."""
    if fmt not in _PARSERS:
        raise ScenetextError(f"unknown list format {fmt!r} (choose from {', '.join(FORMATS)})")
    path, label = _PARSERS[fmt](text)
    if label == "":
        raise ScenetextError("empty label")
    return path, label


def read_list(fmt: str, input_path: str | Path) -> tuple[list[ListEntry], list[SkippedEntry]]:
    """Parse a list file into entries and malformed lines (1-based line numbers); blank lines are ignored."""
    if fmt not in _PARSERS:
        raise ScenetextError(f"unknown list format {fmt!r} (choose from {', '.join(FORMATS)})")
    input_path = Path(input_path)
    try:
        data = input_path.read_bytes()
    except IsADirectoryError:
        raise ScenetextError(f"{input_path}: is a directory, expected a list file") from None
    except OSError as exc:
        raise ScenetextError(f"{input_path}: cannot read: {exc.strerror}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    entries: list[ListEntry] = []
    malformed: list[SkippedEntry] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            path, label = parse_line(fmt, text)
        except UnicodeDecodeError:
            malformed.append(SkippedEntry(number, "", "line is not valid UTF-8"))
            continue
        except ScenetextError as exc:
            malformed.append(SkippedEntry(number, "", f"malformed {fmt} line: {exc}"))
            continue
        entries.append(ListEntry(number, path, label))
    return entries, malformed


def suggest_format(fmt: str, input_path: Path, root: Path) -> str | None:
    """Another list format that reads the first line of ``input_path`` as an existing image, if one does.

    A list given with the wrong ``--format`` fails on every line; naming the format that would have parsed
    it points to the fix (ICDAR's ``word_1.png, "label"`` read as ``tags`` looks for ``word_1.png,``).
    """
    try:
        text = input_path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    first = next((line.rstrip("\r") for line in text.split("\n") if line.strip()), None)
    if first is None:
        return None
    for other in FORMATS:
        if other == fmt:
            continue
        try:
            path, _ = parse_line(other, first)
        except ScenetextError:
            continue
        if (root / path).is_file():
            return other
    return None


def _read_checked_image(path: Path) -> bytes:
    """The file's bytes, after proving that they decode to a non-empty image."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenetextError("image file not found") from None
    except IsADirectoryError:
        raise ScenetextError("is a directory, not an image") from None
    except OSError as exc:
        raise ScenetextError(f"cannot read image: {exc.strerror}") from None
    if not data:
        raise ScenetextError("empty file (0 bytes)")
    load_image(data, name="image")
    return data


def report_path_for(output: str | Path) -> Path:
    """Where ``create_lmdb`` lists the skipped lines of ``output``: ``<output>.skipped.tsv`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".skipped.tsv")


def write_report(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    """A skipped-list file: tab-separated with csv quoting, so a path holding a tab, newline or quote is
    quoted, not split."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_report(path: Path, skipped: list[SkippedEntry]) -> None:
    rows = ([s.line, s.path, s.reason] for s in sorted(skipped, key=lambda s: s.line))
    write_report(path, ["line", "path", "reason"], rows)


def create_lmdb(
    fmt: str,
    input_path: str | Path,
    output: str | Path,
    root: str | Path | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Build the LMDB ``output`` from the list file ``input_path``; see the module docstring for formats.

    ``progress(done, total)`` is called after each listed sample. Nothing is written when no sample is
    readable (the report still says why).
    """
    input_path, output = Path(input_path), Path(output)
    root = Path(root) if root is not None else input_path.parent
    if not root.is_dir():
        raise ScenetextError(f"{root}: image root is not a directory")
    entries, skipped = read_list(fmt, input_path)
    listed = len(entries) + len(skipped)
    if listed == 0:
        raise ScenetextError(f"{input_path}: no samples listed (empty file)")
    report = report_path_for(output)

    with LmdbWriter(output, overwrite=overwrite) as writer:
        for done, entry in enumerate(entries, start=1):
            try:
                writer.add(_read_checked_image(root / entry.path), entry.label)
            except ScenetextError as exc:
                skipped.append(SkippedEntry(entry.line, entry.path, str(exc)))
            if progress is not None:
                progress(done, len(entries))
        if len(writer) == 0:
            _write_report(report, skipped)
            first = min(skipped, key=lambda s: s.line)
            other = suggest_format(fmt, input_path, root)
            hint = f"; its first line reads as --format {other}" if other else ""
            raise ScenetextError(
                f"{input_path}: none of the {listed} samples is readable "
                f"(line {first.line}: {first.reason}; all reasons in {report}){hint}"
            )
        written = len(writer)

    if skipped:
        _write_report(report, skipped)
    elif report.exists():
        report.unlink()
    return ImportResult(
        output, listed, written, sorted(skipped, key=lambda s: s.line), report if skipped else None
    )
