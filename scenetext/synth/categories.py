"""The hard-case categories, mirroring the Union14M-Benchmark subsets (plus ICDAR 2015-style incidental
text): each draws what text to render, which
font styles to prefer and a :class:`Style` (layout, warps, decoration, clutter, camera effects)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenetext.synth.render import Style

REGULAR_KINDS = {
    "en": {"sans": 0.4, "serif": 0.3, "mono": 0.1, "display": 0.1, "handwriting": 0.1},
    "zh": {"hei": 0.45, "song": 0.3, "kai": 0.15, "handwriting-kai": 0.05, "display": 0.05},
}
ARTISTIC_KINDS = {
    "en": {"display": 0.45, "handwriting": 0.35, "serif": 0.1, "sans": 0.1},
    "zh": {"handwriting-kai": 0.35, "display": 0.3, "kai": 0.2, "hei": 0.15},
}


@dataclass
class Plan:
    """What one sample will be: the kind of text, the preferred font kinds (weights) and the style."""

    text_kind: str  # word | phrase | random | structured
    font_kinds: dict[str, float]
    style: Style
    upper: bool = False  # uppercase the text (stacked Latin signs are mostly capitals)
    max_chars: int | None = None


def _camera(style: Style, rng: np.random.Generator, lang: str, strength: float = 1.0) -> Style:
    """Typical capture degradations; ``strength`` scales how often. At most one softening effect (blur,
    motion blur or low resolution) per image, and milder ones for Chinese, whose many-stroke characters at
    32 pixels would otherwise blur into illegible blobs."""
    severity = 0.6 if lang == "zh" else 1.0
    soften = rng.random()
    if soften < 0.25 * strength:
        style.blur = float(rng.uniform(0.3, 0.3 + 0.6 * severity))
    elif soften < 0.32 * strength:
        style.motion_blur = 3 if lang == "zh" else int(rng.integers(3, 6))
    elif soften < 0.42 * strength:
        style.low_res = float(rng.uniform(1.2, 1.2 + 0.8 * severity))
    if rng.random() < 0.3 * strength:
        style.noise = float(rng.uniform(2, 2 + 8 * severity))
    if rng.random() < 0.3 * strength:
        style.jpeg = int(rng.integers(int(30 + 30 * (1 - severity)), 91))
    return style


def _decoration(style: Style, rng: np.random.Generator, p: float) -> Style:
    if rng.random() < p:
        style.border = float(rng.uniform(0.04, 0.1))
    if rng.random() < p:
        style.shadow = True
    if rng.random() < 0.1:
        style.spacing = float(rng.uniform(0.05, 0.3))
    return style


def _mild_geometry(style: Style, rng: np.random.Generator) -> Style:
    style.rotation = float(np.clip(rng.normal(0, 2.5), -8, 8))
    if rng.random() < 0.5:
        style.perspective = float(rng.uniform(0.02, 0.1))
    if rng.random() < 0.2:
        style.shear = float(rng.uniform(-0.25, 0.25))
    return style


def general(lang: str, rng: np.random.Generator) -> Plan:
    style = _camera(_decoration(_mild_geometry(Style(), rng), rng, 0.15), rng, lang)
    text_kind = "structured" if rng.random() < 0.25 else "word"
    return Plan(text_kind, REGULAR_KINDS[lang], style)


def curve(lang: str, rng: np.random.Generator) -> Plan:
    style = Style()
    if rng.random() < 0.7:
        style.curve = "arc-down" if rng.random() < 0.6 else "arc-up"
        style.curve_amount = float(rng.uniform(40, 150))
    else:
        style.curve = "sine"
        style.curve_amount = float(rng.uniform(0.15, 0.4))
    style.rotation = float(rng.normal(0, 5))
    if rng.random() < 0.3:
        style.perspective = float(rng.uniform(0.02, 0.08))
    style = _camera(_decoration(style, rng, 0.2), rng, lang)
    return Plan("word" if rng.random() < 0.85 else "structured", REGULAR_KINDS[lang], style)


def multi_oriented(lang: str, rng: np.random.Generator) -> Plan:
    style = Style()
    r = rng.random()
    upper = False
    max_chars = None
    if r < 0.35:  # upright characters stacked top to bottom
        style.layout = "vertical"
        style.rotation = float(rng.normal(0, 2))
        upper = lang == "en" and rng.random() < 0.7
        max_chars = 10
    elif r < 0.55:  # the whole line turned by about 90 degrees
        style.layout = "rotated"
        style.rotation = float(rng.normal(0, 4))
        max_chars = 14
    else:  # strongly rotated, with perspective
        angle = float(rng.uniform(15, 75))
        style.rotation = angle if rng.random() < 0.5 else -angle
        style.perspective = float(rng.uniform(0.0, 0.12))
        max_chars = 14
    style = _camera(_decoration(style, rng, 0.15), rng, lang)
    return Plan("word" if rng.random() < 0.85 else "structured", REGULAR_KINDS[lang], style, upper, max_chars)


def artistic(lang: str, rng: np.random.Generator) -> Plan:
    style = _mild_geometry(Style(), rng)
    style.fill = ("solid", "gradient", "texture")[int(rng.choice(3, p=[0.3, 0.3, 0.4]))]
    if rng.random() < 0.55:
        style.border = float(rng.uniform(0.08, 0.2))
    if rng.random() < 0.3:
        style.extrusion = float(rng.uniform(0.06, 0.15))
    style.shadow = rng.random() < 0.4
    if rng.random() < 0.25:
        style.elastic = float(rng.uniform(0.03, 0.08))
    if rng.random() < 0.2:
        style.curve = "sine"
        style.curve_amount = float(rng.uniform(0.1, 0.25))
    if rng.random() < 0.2:
        style.spacing = float(rng.uniform(0.05, 0.3))
    style.background = ("photo", "texture", None)[int(rng.integers(3))]
    style = _camera(style, rng, lang, 0.6)
    return Plan("word", ARTISTIC_KINDS[lang], style, upper=lang == "en" and rng.random() < 0.3)


def contextless(lang: str, rng: np.random.Generator) -> Plan:
    style = _camera(_decoration(_mild_geometry(Style(), rng), rng, 0.15), rng, lang)
    return Plan("random", REGULAR_KINDS[lang], style)


def salient(lang: str, rng: np.random.Generator) -> Plan:
    style = _camera(_decoration(_mild_geometry(Style(), rng), rng, 0.15), rng, lang)
    style.distractors = int(rng.integers(1, 4)) if rng.random() < 0.85 else 0
    style.clutter = int(rng.integers(1, 5)) if rng.random() < 0.6 else 0
    style.pad_x = (0.3, 0.8)
    style.pad_y = (0.1, 0.35)
    style.background = ("photo", "texture", "noise", None)[int(rng.integers(4))]
    return Plan("word" if rng.random() < 0.8 else "structured", REGULAR_KINDS[lang], style)


def multi_words(lang: str, rng: np.random.Generator) -> Plan:
    style = _camera(_decoration(_mild_geometry(Style(), rng), rng, 0.15), rng, lang)
    return Plan("phrase", REGULAR_KINDS[lang], style)


def incidental(lang: str, rng: np.random.Generator) -> Plan:
    """ICDAR 2015-style incidental text, caught in passing by a wearable camera: often small (captured at
    0.4 to 0.8 of the output size, then enlarged), out of focus or moving, seen at an angle,
    unevenly lit, partly hidden, JPEG-compressed, and cropped tightly from running text, so neighbouring
    words and lines show cut off at the crop's edges."""
    severity = 0.6 if lang == "zh" else 1.0
    style = Style()
    style.rotation = float(np.clip(rng.normal(0, 7), -25, 25))
    if rng.random() < 0.7:
        style.perspective = float(rng.uniform(0.03, 0.2))
    if rng.random() < 0.25:
        style.shear = float(rng.uniform(-0.3, 0.3))
    style = _decoration(style, rng, 0.1)
    style.pad_x = (0.0, 0.45)
    style.pad_y = (0.0, 0.15)
    style.neighbours = (bool(rng.random() < 0.3), bool(rng.random() < 0.3))
    style.distractors = int(rng.integers(1, 3)) if rng.random() < 0.3 else 0
    style.occlusion = bool(rng.random() < 0.2)
    style.lighting = float(rng.uniform(0.15, 0.5)) if rng.random() < 0.6 else 0.0
    # Blur amounts are drawn in output pixels and applied at capture size (divided by the enlargement),
    # so a small capture does not multiply them.
    scale = 1.0
    if rng.random() < 0.6:
        scale = float(np.exp(rng.uniform(np.log(1.25), np.log(1.25 + 1.35 * severity))))
        style.upsample = scale
    soften = rng.random()
    if soften < 0.35:
        radius = float(rng.uniform(0.7, 0.7 + 1.0 * severity)) / scale
        style.defocus = radius if radius >= 0.5 else 0.0  # a smaller disk is no blur at all
    elif soften < 0.6:
        style.motion_blur = int(round(rng.uniform(3, 3 + 4 * severity) / scale))
    elif soften < 0.8:
        style.blur = float(rng.uniform(0.4, 0.4 + 0.8 * severity)) / scale
    if rng.random() < 0.5:
        style.noise = float(rng.uniform(2, 2 + 6 * severity))
    if rng.random() < 0.7:
        style.jpeg = int(rng.integers(int(20 + 30 * (1 - severity)), 76))
    style.background = "photo" if rng.random() < 0.6 else None
    text_kind = "word" if rng.random() < 0.85 else "structured"
    return Plan(text_kind, REGULAR_KINDS[lang], style, upper=lang == "en" and rng.random() < 0.3)


PLANNERS = {
    "general": general,
    "curve": curve,
    "multi-oriented": multi_oriented,
    "artistic": artistic,
    "contextless": contextless,
    "salient": salient,
    "multi-words": multi_words,
    "incidental": incidental,
}
