"""The synthetic data engine's configuration: one dataclass, validated, JSON/YAML round-trippable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from scenetext.errors import ScenetextError

# The Union14M-Benchmark hard cases: the synthetic challenge benchmark has one set per category of these.
UNION14M_CATEGORIES = (
    "general",
    "curve",
    "multi-oriented",
    "artistic",
    "contextless",
    "salient",
    "multi-words",
)
# incidental (ICDAR 2015-style camera captures) is opt-in: not in the default mix, so existing recipes and
# the benchmark keep their samples.
CATEGORIES = (*UNION14M_CATEGORIES, "incidental")
LANGS = ("en", "zh")

DEFAULT_MIX = {
    "general": 0.4,
    "curve": 0.1,
    "multi-oriented": 0.1,
    "artistic": 0.1,
    "contextless": 0.1,
    "salient": 0.1,
    "multi-words": 0.1,
}
DEFAULT_CHARSET = {"en": "en94", "zh": "zh"}


@dataclass
class SynthConfig:
    """Everything that decides what the engine renders; sample i is a pure function of (this config, i).

    ``height`` is the stored size of the short side (the height of horizontal text, the width of vertical
    text); ``width`` fixes the long side, or ``None`` keeps each word's natural aspect ratio, capped at
    ``max_aspect``. ``categories`` maps category names to mix weights (normalised; zero drops a category).
    Empty ``font_dirs`` means the system font directories; empty ``background_dirs`` plus
    ``system_backgrounds`` means procedural backgrounds and the standard texture/wallpaper locations.
    ``vocabulary`` is a word-list file (one word a line, most frequent first) that replaces the wordfreq
    dictionary, so a machine without wordfreq renders the same kinds of words; ``word_lists`` still add to it.
    """

    lang: str = "en"
    seed: int = 0
    charset: str | None = None
    height: int = 32
    width: int | None = None
    max_aspect: float = 12.0
    max_length: int = 25
    categories: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    font_dirs: list[str] = field(default_factory=list)
    background_dirs: list[str] = field(default_factory=list)
    system_backgrounds: bool = True
    word_lists: list[str] = field(default_factory=list)
    vocabulary: str | None = None
    min_contrast: float = 70.0

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise ScenetextError(f"synth config: lang {self.lang!r} is not one of {', '.join(LANGS)}")
        if self.seed < 0:
            raise ScenetextError(f"synth config: seed {self.seed} is negative")
        if self.charset is None:
            self.charset = DEFAULT_CHARSET[self.lang]
        if not 16 <= self.height <= 256:
            raise ScenetextError(f"synth config: height {self.height} is outside 16..256")
        if self.width is not None and self.width < self.height:
            raise ScenetextError(f"synth config: width {self.width} is smaller than height {self.height}")
        if self.max_aspect < 1:
            raise ScenetextError(f"synth config: max_aspect {self.max_aspect} is below 1")
        if self.max_length < 1:
            raise ScenetextError(f"synth config: max_length {self.max_length} is below 1")
        if not 0 <= self.min_contrast <= 200:
            raise ScenetextError(f"synth config: min_contrast {self.min_contrast} is outside 0..200")
        unknown = [name for name in self.categories if name not in CATEGORIES]
        if unknown:
            raise ScenetextError(
                f"synth config: unknown category {unknown[0]!r} (known: {', '.join(CATEGORIES)})"
            )
        if any(weight < 0 for weight in self.categories.values()) or sum(self.categories.values()) <= 0:
            raise ScenetextError("synth config: category weights must be >= 0 with a positive sum")

    @property
    def mix(self) -> list[tuple[str, float]]:
        """Categories with positive weight, in canonical order, weights normalised to sum to 1."""
        total = sum(self.categories.values())
        return [
            (name, self.categories[name] / total) for name in CATEGORIES if self.categories.get(name, 0) > 0
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Build from a plain mapping (parsed YAML/JSON); an unknown key is an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ScenetextError(f"synth config: unknown key {key!r} (known: {', '.join(sorted(known))})")
        return cls(**data)


def parse_categories(spec: str) -> dict[str, float]:
    """``"curve,general"`` (equal weights) or ``"curve=2,general=1"`` to a weight mapping."""
    weights: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in CATEGORIES:
            raise ScenetextError(f"categories: unknown category {name!r} (known: {', '.join(CATEGORIES)})")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ScenetextError(f"categories: weight {weight!r} of {name} is not a number") from None
    if not weights:
        raise ScenetextError(f"categories: no category in {spec!r}")
    return weights
