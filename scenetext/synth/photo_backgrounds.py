"""Text-free background patches from annotated photos: every annotated word box is painted out (OpenCV
inpainting of the box grown a little), then patches are cut at random positions and scales and written as
JPEG files to a folder that ``--backgrounds DIR`` (or ``background_dirs``) accepts.

Real street photos give the renderer the colours, textures and clutter of real scenes, which procedural
backgrounds lack. Which photos may be used is explicit (include and exclude lists of photo names), so photos
held out for evaluation never reach the training data. Only annotated text is removed: words an annotation
leaves out stay in the photo.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scenetext.errors import ScenetextError

MANIFEST = "backgrounds.tsv"  # patch file, source photo and window; also marks a folder this tool wrote
MAX_SIDE = 640  # the background maker shrinks pictures to this anyway
GROW = 0.15  # each box grows by this fraction of its height (at least 2 px): anti-aliased edges, serifs
INPAINT_RADIUS = 5
MAX_PAINTED = 0.5  # a patch that is mostly painted-out area is a smooth smear, not a photo
MIN_SIDE = 48
JPEG_QUALITY = 92
_IC13_LINE = re.compile(r"\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*(,.*)?$")


@dataclass
class AnnotatedPhoto:
    """A photo and its word boxes, (x0, y0, x1, y1) in pixels, end-exclusive."""

    name: str  # as the annotation names it, e.g. img/14_03.jpg (relative to the set's folder)
    path: Path
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    source: str = ""  # svt | ic13: which viewer overlays to keep patches away from


def overlay_boxes(source: str, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Screen overlays that are not part of the scene. SVT photos are Street View screenshots: a compass
    at the top left and, in many, a map inset at the bottom right, at the same pixel size whatever the
    resolution."""
    if source != "svt":
        return []
    return [(0, 0, 100, 160), (width - 290, height - 280, width, height)]


@dataclass
class BackgroundSummary:
    output: str
    photos: int = 0
    boxes: int = 0
    patches: int = 0


def read_svt(xml_path: str | Path) -> list[AnnotatedPhoto]:
    """Street View Text annotations: ``<image><imageName>`` and ``<taggedRectangle x= y= width= height=>``."""
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except OSError as exc:
        raise ScenetextError(f"{xml_path}: cannot read ({exc.strerror})") from None
    except ET.ParseError as exc:
        raise ScenetextError(f"{xml_path}: not valid XML ({exc})") from None
    photos = []
    for image in root.iter("image"):
        name = (image.findtext("imageName") or "").strip()
        if not name:
            raise ScenetextError(f"{xml_path}: an <image> without <imageName>")
        boxes = []
        for rect in image.iter("taggedRectangle"):
            try:
                x, y = int(rect.get("x", "")), int(rect.get("y", ""))
                w, h = int(rect.get("width", "")), int(rect.get("height", ""))
            except ValueError:
                raise ScenetextError(
                    f"{xml_path}: a box of {name} lacks integer x, y, width and height ({rect.attrib})"
                ) from None
            boxes.append((x, y, x + w, y + h))
        photos.append(AnnotatedPhoto(name, xml_path.parent / name, boxes, "svt"))
    if not photos:
        raise ScenetextError(f"{xml_path}: no <image> entries")
    return photos


def read_ic13(root: str | Path) -> list[AnnotatedPhoto]:
    """ICDAR 2013 (born-digital or focused) training sets: ``gt/gt_img_N.txt`` with ``x1, y1, x2, y2,
    "word"`` lines for ``images/img_N.*``."""
    root = Path(root)
    gt_files = sorted((root / "gt").glob("gt_*.txt"))
    if not gt_files:
        raise ScenetextError(f"{root}: no gt/gt_*.txt annotation files")
    photos = []
    for gt in gt_files:
        stem = gt.stem[len("gt_") :]
        images = sorted(p for p in (root / "images").glob(f"{stem}.*") if p.is_file())
        if not images:
            raise ScenetextError(f"{gt}: no image {stem}.* in {root / 'images'}")
        boxes = []
        text = gt.read_text(encoding="utf-8-sig", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            match = _IC13_LINE.match(line)
            if match is None:
                raise ScenetextError(f"{gt} line {number}: expected 'x1, y1, x2, y2, \"word\"', got {line!r}")
            x1, y1, x2, y2 = (int(v) for v in match.groups()[:4])
            boxes.append((min(x1, x2), min(y1, y2), max(x1, x2) + 1, max(y1, y2) + 1))
        photos.append(AnnotatedPhoto(f"images/{images[0].name}", images[0], boxes, "ic13"))
    return photos


def read_name_list(path: str | Path) -> list[str]:
    """Photo names, one per line; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ScenetextError(f"{path}: cannot read ({exc.strerror})") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def select(
    photos: Sequence[AnnotatedPhoto], include: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> list[AnnotatedPhoto]:
    """The photos named in ``include`` (all if None) minus those in ``exclude``. A name is the annotation's
    (``img/14_03.jpg``) or its file name (``14_03.jpg``). A listed name that matches no photo is an error:
    a typo in an exclusion list would otherwise let a held-out photo through."""
    index: dict[str, set[int]] = {}
    for position, photo in enumerate(photos):
        for key in (photo.name, Path(photo.name).name):
            index.setdefault(key, set()).add(position)

    def resolve(names: Sequence[str], what: str) -> set[int]:
        chosen: set[int] = set()
        for name in names:
            if name not in index:
                raise ScenetextError(f"{what}: no annotated photo named {name!r}")
            chosen |= index[name]
        return chosen

    included = resolve(include, "include list") if include is not None else set(range(len(photos)))
    kept = included - resolve(exclude, "exclude list")
    return [photo for position, photo in enumerate(photos) if position in kept]


def text_mask(
    shape: tuple[int, int], boxes: Sequence[tuple[int, int, int, int]], grow: float = GROW
) -> np.ndarray:
    """uint8 mask (255 = text) of the boxes, each grown by ``grow`` x its height (at least 2 px)."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1 in boxes:
        margin = max(2, int(round(grow * (y1 - y0))))
        xa, ya = max(0, x0 - margin), max(0, y0 - margin)
        xb, yb = min(w, x1 + margin), min(h, y1 + margin)
        if xa < xb and ya < yb:
            mask[ya:yb, xa:xb] = 255
    return mask


def paint_out(
    image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], grow: float = GROW
) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image with the (grown) boxes filled from their surroundings, and the painted mask."""
    mask = text_mask(image.shape[:2], boxes, grow)
    if not mask.any():
        return image.copy(), mask
    return cv2.inpaint(image, mask, INPAINT_RADIUS, cv2.INPAINT_TELEA), mask


def patch_windows(
    painted: np.ndarray,
    rng: np.random.Generator,
    count: int,
    blocked: Sequence[tuple[int, int, int, int]] = (),
) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` windows (x, y, w, h) at random positions and scales (height log-uniform from
    MIN_SIDE to half the photo's shorter side, aspect 1-4), each at most MAX_PAINTED painted out and
    clear of the ``blocked`` boxes. A photo too small for that gives itself, whole, if it qualifies."""
    h, w = painted.shape
    excluded = text_mask((h, w), blocked, grow=0.0) if blocked else np.zeros((h, w), np.uint8)
    painted_sum, blocked_sum = cv2.integral(painted // 255), cv2.integral(excluded // 255)

    def inside(table: np.ndarray, x: int, y: int, pw: int, ph: int) -> int:
        return int(table[y + ph, x + pw] - table[y, x + pw] - table[y + ph, x] + table[y, x])

    def usable(x: int, y: int, pw: int, ph: int) -> bool:
        return (
            inside(blocked_sum, x, y, pw, ph) == 0
            and inside(painted_sum, x, y, pw, ph) <= MAX_PAINTED * pw * ph
        )

    top = min(h, w) / 2
    if top < MIN_SIDE:
        return [(0, 0, w, h)] if usable(0, 0, w, h) else []
    windows = []
    for _ in range(20 * count):
        if len(windows) == count:
            break
        ph = int(np.exp(rng.uniform(np.log(MIN_SIDE), np.log(top))))
        pw = min(w, int(ph * rng.uniform(1.0, 4.0)))
        y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        if usable(x, y, pw, ph):
            windows.append((x, y, pw, ph))
    return windows


def _load(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as exc:
        raise ScenetextError(f"{path}: cannot read the photo ({exc})") from None


def _prepare_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise ScenetextError(f"{output}: exists and is not a folder")
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise ScenetextError(f"{output}: exists and is not empty (pass --overwrite to replace it)")
        if not (output / MANIFEST).is_file():
            raise ScenetextError(
                f"{output}: not a folder written by this tool (no {MANIFEST}); not replacing it"
            )
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / MANIFEST).write_text("", encoding="utf-8")  # claims the folder before the first patch


def check_request(photos: Sequence[AnnotatedPhoto], per_photo: int) -> None:
    """Fail before any work on a request that cannot give a single patch."""
    if per_photo < 1:
        raise ScenetextError(f"--per-photo {per_photo}: must be at least 1")
    if not photos:
        raise ScenetextError("no photos left to cut backgrounds from (check the include and exclude lists)")


def write_backgrounds(
    photos: Sequence[AnnotatedPhoto],
    output: str | Path,
    per_photo: int = 20,
    seed: int = 0,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> BackgroundSummary:
    """Paint out each photo's boxes and write ``per_photo`` patches from it. A photo's patches depend only
    on (seed, its name, its pixels), so adding or excluding other photos leaves them unchanged."""
    check_request(photos, per_photo)
    output = Path(output)
    _prepare_output(output, overwrite)
    summary = BackgroundSummary(str(output))
    rows = ["patch\tphoto\tx\ty\twidth\theight"]
    used: set[str] = set()
    for photo in photos:
        image = _load(photo.path)
        clean, painted = paint_out(image, photo.boxes)
        rng = np.random.default_rng([seed, zlib.crc32(photo.name.encode("utf-8"))])
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(photo.name).with_suffix("").as_posix()).strip("_")
        while stem in used:
            stem += "_"
        used.add(stem)
        blocked = overlay_boxes(photo.source, clean.shape[1], clean.shape[0])
        for k, (x, y, pw, ph) in enumerate(patch_windows(painted, rng, per_photo, blocked)):
            patch = clean[y : y + ph, x : x + pw]
            scale = MAX_SIDE / max(ph, pw)
            if scale < 1:
                patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            name = f"{stem}-{k:03d}.jpg"
            bgr = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(output / name), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise ScenetextError(f"{output / name}: cannot write")
            rows.append(f"{name}\t{photo.name}\t{x}\t{y}\t{pw}\t{ph}")
            summary.patches += 1
        summary.photos += 1
        summary.boxes += len(photo.boxes)
        if on_progress is not None:
            on_progress(1)
    (output / MANIFEST).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return summary
