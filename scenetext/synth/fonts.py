"""Font discovery, classification, glyph coverage and per-font size normalisation.

Fonts are found in the system font directories (or user directories), indexed once with fontTools (family,
character map) and Pillow (measured cap height, a rendered probe glyph), and the index is cached on disk
keyed by path, size and mtime, so DataLoader workers and repeated runs start in milliseconds. With no usable
font the library falls back to Pillow's built-in scalable font and warns, so the engine always runs.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import ImageFont

from scenetext.errors import ScenetextError
from scenetext.synth.sampling import weighted_index

log = logging.getLogger(__name__)

SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
BUILTIN_PATH = "<pillow-default>"
INDEX_VERSION = 4

# Symbol fonts map pictographs at ASCII code points: their cmap "covers" letters that render as symbols.
BLOCKED_FAMILIES = ("d050000l", "standard symbols", "biolinum keyboard", "opensymbol", "emoji", "math")

LATIN_PROBE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CJK_PROBE = "国中的一是不了人我在有他这为之大来以个中上们"

_DISPLAY_WORDS = (
    "bebas", "yanone", "lobster", "leckerli", "okolaks", "apropal", "radisnoir", "f500", "beteckna",
    "blankenburg", "gotico", "klaudia", "berenika", "averia", "league spartan", "smiley", "staypuft",
    "play", "jura", "because we", "domestic", "abogado", "wasn't me", "jessen", "junkyard", "penguin",
    "steve", "wargames", "zainer", "delphine", "hamlet", "titling", "smallcaps", "display",
)  # fmt: skip
_HANDWRITING_WORDS = (
    "dancing", "breip", "kristi", "dkg", "humor", "rufscript", "femkeklaver", "tomson", "sjfonts",
    "kaushan", "joscelyn", "havana", "typoscript", "isabella", "comic", "ecolier", "script", "hand",
    "bwht", "journal", "talk", "z003", "chancery",
)  # fmt: skip
_MONO_WORDS = ("mono", "code", "typewriter", "3270", "hack", "inconsolata", "courier", "anonymous", "cousine")
_SERIF_WORDS = (
    "serif", "roman", "garamond", "baskerv", "libertine", "bookman", "c059", "p052", "charis", "vollkorn",
    "goudy", "linden", "berenis", "slab", "tinos", "ptolemy", "caladea", "old standard", "accanthis",
    "tribun", "century", "palladio", "times",
)  # fmt: skip
_SANS_WORDS = ("sans", "gothic", "grotesk", "roboto", "lato", "cantarell", "carlito", "karla", "cabin")

LATIN_KINDS = ("sans", "serif", "mono", "display", "handwriting")
CJK_KINDS = ("hei", "song", "kai", "handwriting-kai", "display")


@dataclass(frozen=True)
class FontFace:
    """One face of one font file, with what the renderer needs to pick and size it."""

    path: str
    index: int
    family: str
    style: str
    kind: str
    latin: bool
    cjk: bool
    caps_only: bool  # lowercase code points draw capitals (caps-only or small-caps design)
    cap_ratio: float  # measured height of "H" (Latin) or of a hanzi (CJK) per pixel of font size

    @property
    def builtin(self) -> bool:
        return self.path == BUILTIN_PATH

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}".strip()


def _cache_dir() -> Path:
    """``$SCENETEXT_CACHE_DIR``, else ``$XDG_CACHE_HOME/scenetext``, else ``~/.cache/scenetext``."""
    if os.environ.get("SCENETEXT_CACHE_DIR"):
        return Path(os.environ["SCENETEXT_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "scenetext"


def _classify(family: str, is_cjk: bool, fixed_pitch: bool, serif_style: int) -> str:
    name = family.lower()
    if is_cjk:
        if "wenkai" in name or "handwrit" in name:
            return "handwriting-kai"
        if "kai" in name:
            return "kai"
        if any(word in name for word in ("ming", "song", "sung", "serif", "fangsong")):
            return "song"
        if "smiley" in name:
            return "display"
        return "hei"
    if fixed_pitch or any(word in name for word in _MONO_WORDS):
        return "mono"
    if any(word in name for word in _HANDWRITING_WORDS):
        return "handwriting"
    if any(word in name for word in _DISPLAY_WORDS):
        return "display"
    if any(word in name for word in _SERIF_WORDS) and "sans" not in name:
        return "serif"
    if any(word in name for word in _SANS_WORDS):
        return "sans"
    # PANOSE serif style 11-13 are the sans-serif classes, 2-10 the serif ones.
    return "serif" if 2 <= serif_style <= 10 else "sans"


def _glyph(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    """The rendered coverage mask of ``text`` as a 2-D uint8 array."""
    core = font.getmask(text)
    width, height = core.size
    return np.frombuffer(bytes(core), np.uint8).reshape(height, width)


def _blank_glyphs(font: ImageFont.FreeTypeFont, chars: Iterable[str]) -> list[int]:
    """Code points among ``chars`` that render with no ink or as the .notdef box (tofu)."""
    notdef = _glyph(font, chr(0x10FFFD))
    blank = []
    for ch in chars:
        mask = _glyph(font, ch)
        if mask.size == 0 or not mask.any() or (mask.shape == notdef.shape and np.array_equal(mask, notdef)):
            blank.append(ord(ch))
    return blank


def _same_shape(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two glyph masks are the same letterform up to scale (IoU of binarised, resized masks)."""
    if a.size == 0 or b.size == 0 or not a.any() or not b.any():
        return False
    size = (32, 32)
    a = cv2.resize(_trim(a), size, interpolation=cv2.INTER_AREA) > 96
    b = cv2.resize(_trim(b), size, interpolation=cv2.INTER_AREA) > 96
    return (a & b).sum() / max((a | b).sum(), 1) > 0.7


def _trim(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.ascontiguousarray(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def _probe_face(source: str | bytes, index: int, cmap: dict[int, str]) -> dict | None:
    """Measure one face with Pillow: usable scripts, glyphs that are blank or tofu despite the cmap,
    whether lowercase letters are drawn as capitals (caps-only and small-caps fonts, whose label must be
    uppercase), and the reference-height ratio used to normalise sizes across fonts."""
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else source
        font = ImageFont.truetype(stream, 100, index=index)
        small = ImageFont.truetype(
            io.BytesIO(source) if isinstance(source, bytes) else source, 24, index=index
        )
    except OSError:
        return None
    checked = [chr(c) for c in range(0x21, 0x7F) if c in cmap]
    gb2312 = _gb2312_chars()
    cjk = sum(1 for c in gb2312 if ord(c) in cmap) >= 3000
    if cjk:
        checked += [c for c in gb2312 if ord(c) in cmap]
    blank = set(_blank_glyphs(small, checked))
    usable = {ord(c) for c in checked} - blank
    latin = all(ord(c) in usable for c in LATIN_PROBE)
    cjk = cjk and sum(1 for c in CJK_PROBE if ord(c) in usable) == len(CJK_PROBE)
    if not (latin or cjk):
        return None
    box = font.getmask("国" if cjk else "H").getbbox()
    if box is None:
        return None
    caps_only = latin and sum(_same_shape(_glyph(font, lo), _glyph(font, lo.upper())) for lo in "aegr") >= 3
    return {
        "latin": latin,
        "cjk": cjk,
        "caps_only": bool(caps_only),
        "cap_ratio": (box[3] - box[1]) / 100.0,
        "blank": _ranges(blank),
        "checked": "gb2312" if cjk else "ascii",
    }


@lru_cache(maxsize=1)
def _gb2312_chars() -> str:
    """The 6,763 hanzi of GB2312 levels 1 and 2 (the zh charset's Chinese characters)."""
    chars = []
    for row in range(0xB0, 0xF8):
        for col in range(0xA1, 0xFF):
            try:
                chars.append(bytes((row, col)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def _ranges(codepoints: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp in sorted(codepoints):
        if out and cp == out[-1][1] + 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def _index_file(source: str | bytes, label: str) -> list[dict]:
    """Index every face of one font file (a .ttc holds several); unreadable files give no faces."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    # fontTools logs harmless table quirks of real-world fonts ("extra bytes in post.stringData") as warnings.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        if label.lower().endswith((".ttc", ".otc")):
            fonts = list(TTCollection(stream, lazy=True).fonts)
        else:
            fonts = [TTFont(stream, lazy=True)]
    except (TTLibError, OSError, ValueError, AssertionError, KeyError, IndexError):
        return []
    faces = []
    for index, tt in enumerate(fonts):
        try:
            cmap = tt.getBestCmap() or {}
            family = tt["name"].getBestFamilyName() or Path(label).stem
            style = tt["name"].getBestSubFamilyName() or ""
            fixed = bool(tt["post"].isFixedPitch) if "post" in tt else False
            serif_style = int(tt["OS/2"].panose.bSerifStyle) if "OS/2" in tt else 0
        except (KeyError, AttributeError, AssertionError, ValueError, IndexError, TypeError):
            continue
        if any(word in family.lower() for word in BLOCKED_FAMILIES):
            continue
        probe = _probe_face(source, index, cmap)
        if probe is None:
            continue
        faces.append(
            {
                "index": index,
                "family": family,
                "style": style,
                "fixed_pitch": fixed,
                "panose_serif": serif_style,
                "latin": probe["latin"],
                "cjk": probe["cjk"],
                "caps_only": probe["caps_only"],
                "cap_ratio": probe["cap_ratio"],
                "cmap": _ranges(cmap),
                "blank": probe["blank"],
                "checked": probe["checked"],
            }
        )
    return faces


def find_font_files(dirs: Sequence[str | Path] | None = None) -> list[Path]:
    """Every font file under ``dirs`` (default: the system font directories), sorted for determinism."""
    roots = [Path(d).expanduser() for d in (dirs if dirs else SYSTEM_FONT_DIRS)]
    for root in roots if dirs else ():
        if not root.exists():
            raise ScenetextError(f"fonts {root}: no such file or directory")
    files: set[Path] = set()
    for root in roots:
        if root.is_file() and root.suffix.lower() in FONT_SUFFIXES:
            files.add(root.resolve())
        elif root.is_dir():
            for path in root.rglob("*"):
                if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                    files.add(path.resolve())
    return sorted(files)


class FontLibrary:
    """The usable faces for each language, their coverage and cached Pillow font objects."""

    def __init__(self, faces: list[FontFace], coverage: dict[tuple[str, int], Coverage]) -> None:
        self.faces = sorted(faces, key=lambda f: (f.path, f.index))
        self._coverage = coverage

    @classmethod
    def discover(cls, dirs: Sequence[str | Path] | None = None, warn: bool = True) -> FontLibrary:
        """Index the fonts in ``dirs`` (or the system directories); fall back to Pillow's own font."""
        files = find_font_files(dirs)
        cache_path = _cache_dir() / f"font-index-v{INDEX_VERSION}.json"
        cache: dict | None = None
        changed = False
        faces: list[FontFace] = []
        coverage: dict[tuple[str, int], Coverage] = {}
        announced = False
        for path in files:
            stat = path.stat()
            key = str(path)
            stamp = [stat.st_size, int(stat.st_mtime)]
            loaded = _LOADED.get(key)
            if loaded is None or loaded[0] != stamp:
                if cache is None:
                    cache = _read_cache(cache_path)
                entry = cache.get(key)
                if entry is None or entry["stamp"] != stamp:
                    if not announced:
                        _announce_indexing(files, cache, cache_path)
                        announced = True
                    entry = {"stamp": stamp, "faces": _index_file(str(path), key)}
                    cache[key] = entry
                    changed = True
                loaded = (stamp, [(_face_from(key, info), Coverage(info)) for info in entry["faces"]])
                _LOADED[key] = loaded
            for face, face_coverage in loaded[1]:
                faces.append(face)
                coverage[(face.path, face.index)] = face_coverage
        if changed and cache is not None:
            _write_cache(cache_path, cache)
        library = cls(faces, coverage)
        if not faces:
            library = cls.builtin()
            if warn:
                where = ", ".join(str(d) for d in dirs) if dirs else "the system font directories"
                warnings.warn(
                    f"no usable font in {where}; rendering with Pillow's built-in font only "
                    "(Latin, one typeface). Install fonts with scripts/install-fonts.sh or pass --fonts DIR.",
                    stacklevel=2,
                )
        return library

    @classmethod
    def builtin(cls) -> FontLibrary:
        """Pillow's built-in scalable font (Latin only), for machines without any font installed."""
        data = _builtin_bytes()
        infos = _index_file(data, "builtin.ttf")
        faces = [_face_from(BUILTIN_PATH, info) for info in infos]
        return cls(faces, {(BUILTIN_PATH, info["index"]): Coverage(info) for info in infos})

    @property
    def is_builtin(self) -> bool:
        return all(face.builtin for face in self.faces)

    def for_lang(self, lang: str) -> list[FontFace]:
        """Faces meant for a language: CJK faces for ``zh``; Latin faces that are not CJK faces for ``en``."""
        if lang == "zh":
            # Japanese and Korean variants draw some shared hanzi in non-Chinese glyph forms.
            return [f for f in self.faces if f.cjk and not f.family.endswith((" JP", " KR"))]
        return [f for f in self.faces if f.latin and not f.cjk]

    def covers(self, face: FontFace, text: str) -> bool:
        """True if every non-space character of ``text`` is in the face's cmap and renders with ink.

        The ink check catches fonts that map characters to empty or placeholder glyphs, which a cmap lookup
        alone would accept and which would render as empty or tofu boxes. It was done at indexing time for
        ASCII (and GB2312 in CJK faces); other characters are checked on first use and remembered.
        """
        coverage = self._coverage[(face.path, face.index)]
        for ch in text:
            if ch.isspace():
                continue
            ok = coverage.known.get(ch)
            if ok is None:
                if not coverage.in_cmap(ord(ch)):
                    ok = False
                elif coverage.checked(ch):
                    ok = ord(ch) not in coverage.blank
                else:
                    ok = not _blank_glyphs(self.font(face, 24), [ch])
                coverage.known[ch] = ok
            if not ok:
                return False
        return True

    def font(self, face: FontFace, size: int) -> ImageFont.FreeTypeFont:
        return _load_font(face.path, face.index, int(size))


class Coverage:
    """The characters one face can draw: its cmap minus the glyphs found blank at indexing time.

    Kept as code-point ranges (a CJK face maps tens of thousands of characters; 550 faces as sets would
    cost hundreds of MB in every worker); answers are cached per character as they are asked.
    """

    def __init__(self, info: dict) -> None:
        self._starts = [lo for lo, _ in info["cmap"]]
        self._ends = [hi for _, hi in info["cmap"]]
        self.blank = _expand(info["blank"])
        self._checked_gb2312 = info["checked"] == "gb2312"
        self.known: dict[str, bool] = {}

    def in_cmap(self, codepoint: int) -> bool:
        i = bisect.bisect_right(self._starts, codepoint) - 1
        return i >= 0 and codepoint <= self._ends[i]

    def checked(self, ch: str) -> bool:
        """Whether indexing already rendered this character (printable ASCII, and GB2312 in CJK faces)."""
        return 0x21 <= ord(ch) < 0x7F or (self._checked_gb2312 and ch in _gb2312_set())


@lru_cache(maxsize=1)
def _gb2312_set() -> frozenset[str]:
    return frozenset(_gb2312_chars())


@lru_cache(maxsize=4096)
def _load_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    if path == BUILTIN_PATH:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size, index=index)


@lru_cache(maxsize=1)
def _builtin_bytes() -> bytes:
    return ImageFont.load_default(size=20).font_bytes


def _face_from(path: str, info: dict) -> FontFace:
    return FontFace(
        path=path,
        index=info["index"],
        family=info["family"],
        style=info["style"],
        kind=_classify(info["family"], info["cjk"], info["fixed_pitch"], info["panose_serif"]),
        latin=info["latin"],
        cjk=info["cjk"],
        caps_only=info["caps_only"],
        cap_ratio=info["cap_ratio"],
    )


def _expand(ranges: list[list[int]]) -> frozenset[int]:
    return frozenset(cp for lo, hi in ranges for cp in range(lo, hi + 1))


def _announce_indexing(files: Sequence[Path], cache: dict, cache_path: Path) -> None:
    """Say why the first run is slow (CJK faces take about a second each), once per discovery."""
    new = sum(1 for p in files if str(p) not in cache)
    if new >= 20:
        log.warning("indexing %d font files (first run only; cached in %s)", new, cache_path)


# Faces already loaded in this process, by file: later generators (tests, benchmark categories) reuse them.
_LOADED: dict[str, tuple[list[int], list[tuple[FontFace, Coverage]]]] = {}


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, cache: dict) -> None:
    """Atomic replace, so concurrent workers never read a half-written index."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
    except OSError:
        pass


def describe(library: FontLibrary) -> dict[str, dict[str, list[str]]]:
    """Face names per language and kind, for ``scenetext synth fonts``."""
    out: dict[str, dict[str, list[str]]] = {}
    for lang in ("en", "zh"):
        by_kind: dict[str, list[str]] = {}
        for face in library.for_lang(lang):
            by_kind.setdefault(face.kind, []).append(face.name)
        out[lang] = {kind: sorted(set(names)) for kind, names in sorted(by_kind.items())}
    return out


def face_fingerprint(faces: Sequence[FontFace]) -> str:
    """Short hash of the face list: two machines render identically only if these match."""
    digest = hashlib.sha1(json.dumps([asdict(f) for f in faces], sort_keys=True).encode())
    return digest.hexdigest()[:12]


class FontPicker:
    """Chooses a face for a text: a kind by weight, a family uniformly within it (so families with many
    weights do not dominate), a face within the family, and only faces that cover the text."""

    def __init__(self, library: FontLibrary, faces: Sequence[FontFace]) -> None:
        self.library = library
        self.by_kind: dict[str, dict[str, list[FontFace]]] = {}
        for face in faces:
            self.by_kind.setdefault(face.kind, {}).setdefault(face.family, []).append(face)
        self.families = {kind: sorted(fams) for kind, fams in self.by_kind.items()}
        self.all_kinds = sorted(self.by_kind)

    def pick(
        self, rng: np.random.Generator, kinds: dict[str, float], text: str, tries: int = 12
    ) -> FontFace | None:
        available = [(k, w) for k, w in kinds.items() if k in self.by_kind and w > 0]
        if not available:
            available = [(k, 1.0) for k in self.all_kinds]
        names = [k for k, _ in available]
        cumulative = np.cumsum([w for _, w in available])
        for attempt in range(tries):
            # After a few misses widen to every kind: a rare character may only exist in a few fonts.
            if attempt < tries // 2:
                kind = names[weighted_index(rng, cumulative)]
            else:
                kind = self.all_kinds[int(rng.integers(len(self.all_kinds)))]
            families = self.families[kind]
            faces = self.by_kind[kind][families[int(rng.integers(len(families)))]]
            face = faces[int(rng.integers(len(faces)))]
            if self.library.covers(face, text):
                return face
        return None
