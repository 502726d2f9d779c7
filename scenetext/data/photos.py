"""Word crops cut out of whole annotated photos (text-detection ground truth) into an LMDB.

Formats (``--input`` in brackets):

- ``svt``: Street View Text XML (the file): ``<image><imageName>img/1.jpg</imageName>`` with
  ``<taggedRectangle x= y= width= height=><tag>WORD</tag>``;
- ``icdar13-boxes``: ICDAR 2013 ground truth (a folder of ``gt_NAME.txt``, or one file): ``x1, y1, x2, y2,
  "word"`` per line, commas or spaces between the fields; ``x2, y2`` is the word's last pixel;
- ``icdar15-quads``: ICDAR 2015 ground truth (folder or file): ``x1,y1,x2,y2,x3,y3,x4,y4,word``;
- ``mlt-quads``: ICDAR MLT ground truth (folder or file): ``x1,y1,...,x4,y4,script,word``;
- ``polygon-json``: the COCO-Text / TextOCR layout (the file): ``{"imgs": {ID: {"file_name": ...}},
  "anns": {ID: {"image_id": ID, "utf8_string": WORD, "points" | "mask" | "polygon": [x, y, ...],
  "bbox": [x, y, w, h], "legibility": "legible"}}}``; ``imgs`` and ``anns`` may also be lists of objects
  with an ``id``; ``text`` may stand for ``utf8_string``; a polygon is used when there is one, else the box.

Images: a gt file ``gt_NAME.txt`` (or ``NAME.txt``) goes with the image ``NAME.<jpg|png|gif|...>``; SVT and
JSON name their images. Both are looked up in ``images`` (default: the annotation file's folder, or the gt
folder).

Geometry: every word becomes a quadrilateral whose first vertex is the text's top-left corner and which goes
clockwise around the text, as ICDAR lists it; a counter-clockwise list is read from the same first vertex the
other way round, so no crop comes out mirrored. A polygon of more than four points becomes its minimum-area
rectangle, started at the corner nearest the polygon's first vertex. The quadrilateral is widened by ``pad``
times its height on every side, its vertices are clipped to the image, and a perspective warp maps it onto an
upright rectangle as long as its longer top or bottom side and as tall as its longer left or right side.
Axis-aligned boxes thus come out as exact pixel copies.

Skipped words, each listed in ``<output>.skipped.tsv`` with its annotation file and line (JSON: its ``anns``
entry) and counted in the summary: do-not-care (``###``; in JSON also TextOCR's ``.``), illegible, empty
transcriptions, malformed annotations, degenerate boxes (under 2 pixels on a side, or zero area), boxes
entirely outside the image, and words whose image is missing or undecodable. Every crop records its photo's
path under ``source-%09d`` so ``scenetext data split`` can keep each photo on one side.
"""

from __future__ import annotations

import json
import re
import xml.parsers.expat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from scenetext.data.importers import report_path_for, unquote_icdar, write_report
from scenetext.data.lmdb_store import LmdbWriter
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import load_image

PHOTO_FORMATS = ("svt", "icdar13-boxes", "icdar15-quads", "mlt-quads", "polygon-json")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")

# Skip kinds, counted in the summary.
DO_NOT_CARE = "do-not-care"
ILLEGIBLE = "illegible"
EMPTY = "empty transcription"
MALFORMED = "malformed annotation"
DEGENERATE = "degenerate box"
OUTSIDE = "outside the image"
NO_IMAGE = "image not found"
BAD_IMAGE = "image unreadable"

Quad = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Word:
    """One annotated word: where it was written, its photo, its text and its quadrilateral (or polygon)."""

    file: str
    where: str
    image: str
    text: str
    points: Quad


@dataclass(frozen=True)
class PhotoSkip:
    """An annotation that gave no crop, and why."""

    file: str
    where: str
    image: str
    kind: str
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


@dataclass
class PhotoImportResult:
    """What ``create_photo_lmdb`` did: ``written`` crops of ``listed`` annotations, and every skip."""

    output: Path
    listed: int
    written: int
    images: int
    taller: int
    skipped: list[PhotoSkip] = field(default_factory=list)
    report: Path | None = None

    @property
    def summary(self) -> str:
        parts = [f"written {self.written} of {self.listed} words from {self.images} images"]
        counts = Counter(s.kind for s in self.skipped)
        if counts:
            parts.append("skipped " + ", ".join(f"{n} {kind}" for kind, n in counts.most_common()))
        if self.taller:
            parts.append(f"{self.taller} taller than wide (kept)")
        return "; ".join(parts)


class SkipWord(Exception):
    """One annotation gives no crop (``kind`` is counted in the summary); the importer lists it, goes on."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


# ---- geometry ----------------------------------------------------------------------------------------------


def _signed_area(quad: np.ndarray) -> float:
    """Shoelace area; positive when the vertices go clockwise on screen (y pointing down)."""
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """The same four vertices, clockwise on screen, still starting at the first one."""
    return quad[[0, 3, 2, 1]] if _signed_area(quad) < 0 else quad


def _sides(quad: np.ndarray) -> tuple[float, float]:
    """(width, height) in pixels of a clockwise quad: its longer top/bottom and left/right side, plus one."""
    width = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))
    return float(width) + 1, float(height) + 1


def _degenerate(quad: np.ndarray) -> str:
    """Why the quad gives no crop ('' when it does): under 2 pixels on a side, or zero area."""
    width, height = _sides(quad)
    if round(width) < 2 or round(height) < 2:
        return f"{width:.0f} x {height:.0f} pixels"
    if abs(_signed_area(quad)) < 1:
        return "zero area"
    return ""


def polygon_to_quad(points: np.ndarray) -> np.ndarray:
    """Four vertices for a polygon: itself when it has four, else its minimum-area rectangle, started at the
    corner nearest the polygon's first vertex (its text's top-left corner) and going clockwise."""
    if len(points) == 4:
        return points.astype(np.float64)
    rect = _clockwise(cv2.boxPoints(cv2.minAreaRect(points.astype(np.float32))).astype(np.float64))
    start = int(np.argmin(np.linalg.norm(rect - points[0], axis=1)))
    return np.roll(rect, -start, axis=0)


def crop_word(image: np.ndarray, points: np.ndarray, pad: float = 0.0) -> np.ndarray:
    """The upright crop of the word at ``points`` (pixel coordinates, first vertex its top-left corner)
    from the H x W x C ``image``; raises SkipWord when the box is degenerate or outside the image."""
    quad = _clockwise(polygon_to_quad(np.asarray(points, dtype=np.float64)))
    why = _degenerate(quad)
    if why:
        raise SkipWord(DEGENERATE, why)
    if pad > 0:
        width, height = _sides(quad)
        upright = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
        margin = pad * height
        widened = upright + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * margin
        to_photo = cv2.getPerspectiveTransform(upright, quad.astype(np.float32))
        quad = cv2.perspectiveTransform(widened[None], to_photo)[0].astype(np.float64)
    rows, cols = image.shape[:2]
    quad = np.clip(quad, 0, [cols - 1, rows - 1])
    if _degenerate(quad):
        raise SkipWord(OUTSIDE, f"box clipped to the {cols} x {rows} image is empty")
    width, height = (round(side) for side in _sides(quad))
    upright = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    warp = cv2.getPerspectiveTransform(quad.astype(np.float32), upright)
    return cv2.warpPerspective(
        image, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _box(x1: float, y1: float, x2: float, y2: float) -> Quad:
    """The quad of the axis-aligned box whose first and last pixels are (x1, y1) and (x2, y2)."""
    if x2 < x1 or y2 < y1:
        corners = f"{x1:g}, {y1:g}, {x2:g}, {y2:g}"
        raise SkipWord(DEGENERATE, f"right or bottom edge before left or top ({corners})")
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


# ---- annotation formats ------------------------------------------------------------------------------------


def _text_problem(text: str, do_not_care: tuple[str, ...] = ("###",)) -> tuple[str, str] | None:
    if not text.strip():
        return EMPTY, ""
    if text in do_not_care:
        return DO_NOT_CARE, repr(text)
    return None


Item = Word | PhotoSkip


def _number(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SkipWord(MALFORMED, f"{what} {value.strip()!r} is not a number") from None
    if not np.isfinite(number):
        raise SkipWord(MALFORMED, f"{what} {value.strip()!r} is not finite")
    return number


_ICDAR13_LINE = re.compile(
    r"\s*([^\s,]+)\s*[,\s]\s*([^\s,]+)\s*[,\s]\s*([^\s,]+)\s*[,\s]\s*([^\s,]+)\s*[,\s]\s*(.*)"
)


def _parse_icdar13(text: str) -> tuple[Quad, str]:
    match = _ICDAR13_LINE.fullmatch(text)
    if match is None:
        raise SkipWord(MALFORMED, 'expected x1, y1, x2, y2, "word"')
    x1, y1, x2, y2 = (_number(match.group(i + 1), name) for i, name in enumerate(("x1", "y1", "x2", "y2")))
    word = match.group(5).strip()
    if word.startswith('"'):
        try:
            word = unquote_icdar(word)
        except ScenetextError as exc:
            raise SkipWord(MALFORMED, str(exc)) from None
    return _box(x1, y1, x2, y2), word


def _quad_parser(extra_fields: int) -> Callable[[str], tuple[Quad, str]]:
    """A parser of ``x1,y1,...,x4,y4,[script,]word`` lines; ``extra_fields`` fields come before the word."""

    def parse(text: str) -> tuple[Quad, str]:
        fields = text.split(",", 8 + extra_fields)
        if len(fields) < 9 + extra_fields:
            script = ", a script" if extra_fields else ""
            raise SkipWord(MALFORMED, f"expected 8 coordinates{script} and a word")
        values = [_number(v, f"coordinate {i + 1}") for i, v in enumerate(fields[:8])]
        return tuple(zip(values[0::2], values[1::2], strict=True)), fields[-1].strip()

    return parse


_LINE_PARSERS: dict[str, Callable[[str], tuple[Quad, str]]] = {
    "icdar13-boxes": _parse_icdar13,
    "icdar15-quads": _quad_parser(0),
    "mlt-quads": _quad_parser(1),
}


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _gt_files(input_path: Path) -> list[Path]:
    if input_path.is_file():
        return [input_path]
    if not input_path.is_dir():
        raise ScenetextError(f"{input_path}: no such file or directory")
    files = sorted((p for p in input_path.iterdir() if p.suffix.lower() == ".txt"), key=_natural_key)
    if not files:
        raise ScenetextError(f"{input_path}: no ground-truth files (*.txt) in it")
    return files


def _read_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of every non-blank line; text is None for a line that is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenetextError(f"{path}: cannot read: {exc.strerror}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if raw.strip():
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


def _image_index(folder: Path) -> dict[str, list[str]]:
    """Image file names in ``folder`` by stem."""
    index: dict[str, list[str]] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                index.setdefault(path.stem, []).append(path.name)
    return index


def _read_gt_folder(fmt: str, input_path: Path, images: Path) -> Iterator[Item]:
    parse = _LINE_PARSERS[fmt]
    index = _image_index(images)
    base = input_path if input_path.is_dir() else input_path.parent
    for gt in _gt_files(input_path):
        stem = gt.stem[3:] if gt.stem.startswith("gt_") else gt.stem
        names = index.get(stem, [])
        image = names[0] if len(names) == 1 else f"{stem}.*"
        file = str(gt.relative_to(base)) if input_path.is_dir() else gt.name
        for number, text in _read_lines(gt):
            where = f"line {number}"
            try:
                if text is None:
                    raise SkipWord(MALFORMED, "line is not valid UTF-8")
                points, word = parse(text)
                problem = _text_problem(word)
                if problem:
                    raise SkipWord(*problem)
                if not names:
                    raise SkipWord(NO_IMAGE, f"no image {stem}.* in {images}")
                if len(names) > 1:
                    raise SkipWord(NO_IMAGE, f"several images named {stem}.* in {images}: {', '.join(names)}")
            except SkipWord as skip:
                yield PhotoSkip(file, where, image, skip.kind, skip.detail)
                continue
            yield Word(file, where, image, word, points)


def _read_svt(input_path: Path) -> Iterator[Item]:
    """SVT XML through expat, which knows each element's line."""
    try:
        data = input_path.read_bytes()
    except OSError as exc:
        raise ScenetextError(f"{input_path}: cannot read: {exc.strerror}") from None
    parser = xml.parsers.expat.ParserCreate()
    items: list[Item] = []
    image_name: list[str] = []
    boxes: list[tuple[int, dict[str, str], list[str]]] = []  # (line, attributes, tag text)
    text: list[str] | None = None

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal text
        if name == "image":
            image_name.clear()
            boxes.clear()
        elif name == "imageName":
            text = image_name
        elif name == "taggedRectangle":
            boxes.append((parser.CurrentLineNumber, attrs, []))
        elif name == "tag" and boxes:
            text = boxes[-1][2]

    def end(name: str) -> None:
        nonlocal text
        if name in ("imageName", "tag"):
            text = None
        elif name == "image":
            image = "".join(image_name).strip()
            for line, attrs, tag in boxes:
                items.append(_svt_word(input_path.name, line, image, attrs, "".join(tag).strip()))

    def characters(data: str) -> None:
        if text is not None:
            text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ScenetextError(f"{input_path}: not well-formed XML ({exc})") from None
    return iter(items)


def _svt_word(file: str, line: int, image: str, attrs: dict[str, str], tag: str) -> Item:
    where = f"line {line}"
    try:
        if not image:
            raise SkipWord(MALFORMED, "<image> without <imageName>")
        missing = [key for key in ("x", "y", "width", "height") if key not in attrs]
        if missing:
            raise SkipWord(MALFORMED, f"taggedRectangle without {', '.join(missing)}")
        x, y, w, h = (_number(attrs[key], key) for key in ("x", "y", "width", "height"))
        problem = _text_problem(tag)
        if problem:
            raise SkipWord(*problem)
        return Word(file, where, image, tag, _box(x, y, x + w - 1, y + h - 1))
    except SkipWord as skip:
        return PhotoSkip(file, where, image, skip.kind, skip.detail)


def _entries(value: object, what: str, path: Path) -> list[tuple[str, str, object]]:
    """(id, locator, entry) of a JSON ``imgs``/``anns`` dict keyed by id, or list of objects with ``id``."""
    if isinstance(value, dict):
        return [(str(key), f"{what}[{json.dumps(str(key))}]", entry) for key, entry in value.items()]
    if isinstance(value, list):
        return [
            (str(entry.get("id")) if isinstance(entry, dict) else "", f"{what}[{i}]", entry)
            for i, entry in enumerate(value)
        ]
    raise ScenetextError(f"{path}: '{what}' must be an object keyed by id or a list of objects")


def _json_points(ann: dict[str, object]) -> Quad:
    for key in ("points", "mask", "polygon"):
        raw = ann.get(key)
        if raw in (None, []):
            continue
        if isinstance(raw, list) and raw and all(isinstance(p, list) and len(p) == 2 for p in raw):
            raw = [v for p in raw for v in p]
        if not isinstance(raw, list) or len(raw) % 2 or len(raw) < 6:
            raise SkipWord(MALFORMED, f"'{key}' must list at least 3 points as [x, y, x, y, ...]")
        values = [_number(str(v), key) if not isinstance(v, int | float) else float(v) for v in raw]
        return tuple(zip(values[0::2], values[1::2], strict=True))
    raw = ann.get("bbox")
    if raw is None:
        raise SkipWord(MALFORMED, "no 'points', 'mask', 'polygon' or 'bbox'")
    if not isinstance(raw, list) or len(raw) != 4 or not all(isinstance(v, int | float) for v in raw):
        raise SkipWord(MALFORMED, "'bbox' must be [x, y, width, height]")
    x, y, w, h = (float(v) for v in raw)
    return _box(x, y, x + w - 1, y + h - 1)


def _read_polygon_json(input_path: Path) -> Iterator[Item]:
    try:
        data = json.loads(input_path.read_bytes())
    except OSError as exc:
        raise ScenetextError(f"{input_path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenetextError(f"{input_path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or "imgs" not in data or "anns" not in data:
        raise ScenetextError(
            f"{input_path}: expected a JSON object with 'imgs' and 'anns' (COCO-Text layout)"
        )
    names: dict[str, str] = {}
    for key, _, entry in _entries(data["imgs"], "imgs", input_path):
        if isinstance(entry, dict) and isinstance(entry.get("file_name"), str):
            names[key] = entry["file_name"]
    file = input_path.name
    for _, where, ann in _entries(data["anns"], "anns", input_path):
        image = ""
        try:
            if not isinstance(ann, dict):
                raise SkipWord(MALFORMED, "not a JSON object")
            image_id = str(ann.get("image_id"))
            if image_id not in names:
                raise SkipWord(MALFORMED, f"image_id {image_id} has no file_name in 'imgs'")
            image = names[image_id]
            if ann.get("legibility") == "illegible" or ann.get("illegible") is True:
                raise SkipWord(ILLEGIBLE)
            text = ann.get("utf8_string", ann.get("text", ""))
            if not isinstance(text, str):
                raise SkipWord(MALFORMED, "'utf8_string' is not a string")
            if text == ".":
                raise SkipWord(ILLEGIBLE, "'.' (TextOCR's mark)")
            problem = _text_problem(text)
            if problem:
                raise SkipWord(*problem)
            points = _json_points(ann)
        except SkipWord as skip:
            yield PhotoSkip(file, where, image, skip.kind, skip.detail)
            continue
        yield Word(file, where, image, text, points)


def _image_folder(input_path: Path, images: str | Path | None) -> Path:
    """``images``, or by default the annotation file's folder (the gt folder itself)."""
    if images is not None:
        return Path(images)
    return input_path if input_path.is_dir() else input_path.parent


def read_annotations(fmt: str, input_path: str | Path, images: str | Path | None = None) -> list[Item]:
    """Every annotation of ``input_path`` in order: a Word to crop, or a PhotoSkip saying why not."""
    input_path = Path(input_path)
    if fmt not in PHOTO_FORMATS:
        raise ScenetextError(f"unknown photo format {fmt!r} (choose from {', '.join(PHOTO_FORMATS)})")
    if not input_path.exists():
        raise ScenetextError(f"{input_path}: no such file or directory")
    images = _image_folder(input_path, images)
    if not images.is_dir():
        raise ScenetextError(f"{images}: image folder is not a directory")
    if fmt in _LINE_PARSERS:
        return list(_read_gt_folder(fmt, input_path, images))
    if input_path.is_dir():
        raise ScenetextError(f"{input_path}: is a directory, expected the {fmt} annotation file")
    return list(_read_svt(input_path) if fmt == "svt" else _read_polygon_json(input_path))


# ---- the importer ------------------------------------------------------------------------------------------


def _write_report(path: Path, skipped: list[PhotoSkip]) -> None:
    write_report(
        path, ["file", "where", "image", "reason"], ([s.file, s.where, s.image, s.reason] for s in skipped)
    )


def _png(crop: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ScenetextError("cannot encode a crop as PNG")
    return encoded.tobytes()


def create_photo_lmdb(
    fmt: str,
    input_path: str | Path,
    output: str | Path,
    images: str | Path | None = None,
    pad: float = 0.0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PhotoImportResult:
    """Cut every annotated word of ``input_path`` out of its photo into the LMDB ``output``.

    See the module docstring for the formats and rules. ``progress(done, total)`` is called after each photo.
    Nothing is written when no word gives a crop (the report still says why).
    """
    if not pad >= 0:
        raise ScenetextError(f"--pad {pad}: must be 0 or more")
    input_path, output = Path(input_path), Path(output)
    items = read_annotations(fmt, input_path, images)
    if not items:
        raise ScenetextError(f"{input_path}: no annotations found")
    folder = (
        Path(images) if images is not None else (input_path if input_path.is_dir() else input_path.parent)
    )
    # Skips keep the annotation order (their index in items) in the report.
    skipped: list[tuple[int, PhotoSkip]] = []
    by_image: dict[str, list[tuple[int, Word]]] = {}
    for n, item in enumerate(items):
        if isinstance(item, Word):
            by_image.setdefault(item.image, []).append((n, item))
        else:
            skipped.append((n, item))
    report, taller = report_path_for(output), 0

    with LmdbWriter(output, overwrite=overwrite) as writer:
        for done, (name, words) in enumerate(by_image.items(), start=1):
            try:
                photo = np.asarray(load_image(folder / name, name=name))
            except ScenetextError as exc:
                kind = NO_IMAGE if not (folder / name).is_file() else BAD_IMAGE
                detail = str(folder / name) if kind == NO_IMAGE else str(exc)
                skipped += [(n, PhotoSkip(w.file, w.where, w.image, kind, detail)) for n, w in words]
                words = []
            for n, word in words:
                try:
                    crop = crop_word(photo, np.asarray(word.points), pad)
                except SkipWord as skip:
                    skipped.append((n, PhotoSkip(word.file, word.where, word.image, skip.kind, skip.detail)))
                    continue
                if crop.shape[0] > crop.shape[1]:
                    taller += 1
                writer.add(_png(crop), word.text, source=name)
            if progress is not None:
                progress(done, len(by_image))
        skips = [skip for _, skip in sorted(skipped, key=lambda pair: pair[0])]
        if len(writer) == 0:
            _write_report(report, skips)
            first = skips[0]
            raise ScenetextError(
                f"{input_path}: none of the {len(items)} annotated words gives a crop "
                f"({first.file} {first.where}: {first.reason}; all reasons in {report})"
            )
        written = len(writer)

    if skips:
        _write_report(report, skips)
    elif report.exists():
        report.unlink()
    return PhotoImportResult(
        output, len(items), written, len(by_image), taller, skips, report if skips else None
    )
