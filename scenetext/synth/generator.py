"""Sample i of a synthetic set: a pure function of (config, i), whatever process or worker renders it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset
from scenetext.synth.backgrounds import BackgroundMaker
from scenetext.synth.categories import PLANNERS
from scenetext.synth.config import SynthConfig
from scenetext.synth.corpus import Corpus, fit_label
from scenetext.synth.fonts import FontFace, FontLibrary, FontPicker
from scenetext.synth.render import WordRenderer
from scenetext.synth.sampling import weighted_index

TEXT_TRIES = 20


@dataclass
class Sample:
    image: np.ndarray  # uint8 H x W x 3, RGB
    label: str  # fits the config's charset
    text: str  # what was drawn (may differ from the label in case or spaces)
    category: str
    font: str


def encode_png(image: np.ndarray) -> bytes:
    """Lossless and deterministic (same pixels, same bytes), so LMDB records equal on-the-fly samples."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ScenetextError("synth: PNG encoding failed")
    return data.tobytes()


class SynthGenerator:
    """Holds the fonts, corpus, backgrounds and renderer for one config; :meth:`sample` is stateless."""

    def __init__(self, config: SynthConfig, fonts: FontLibrary | None = None) -> None:
        self.config = config
        self.charset = Charset.from_spec(config.charset)
        self.fonts = fonts if fonts is not None else FontLibrary.discover(config.font_dirs or None)
        fonts = self.fonts
        faces = fonts.for_lang(config.lang)
        if not faces:
            where = ", ".join(config.font_dirs) if config.font_dirs else "the system font directories"
            raise ScenetextError(
                f"synth: no font with {'Chinese' if config.lang == 'zh' else 'Latin'} glyphs in {where} "
                "(install them with scripts/install-fonts.sh or pass --fonts DIR)"
            )
        self.picker = FontPicker(fonts, faces)
        self.corpus = Corpus(
            config.lang, self.charset, config.word_lists, config.max_length, config.vocabulary
        )
        self.backgrounds = BackgroundMaker(config.background_dirs, config.system_backgrounds)
        self.renderer = WordRenderer(
            fonts, self.backgrounds, config.height, config.width, config.max_aspect, config.min_contrast
        )
        self._names = [name for name, _ in config.mix]
        self._cumulative = np.cumsum([weight for _, weight in config.mix])

    def category(self, rng: np.random.Generator) -> str:
        return self._names[weighted_index(rng, self._cumulative)]

    def sample(self, index: int, attempt: int = 0) -> Sample:
        """Render sample ``index``; ``attempt`` > 0 gives a different, equally deterministic sample (for
        callers that reject a sample, e.g. a stricter label filter)."""
        if index < 0:
            raise ScenetextError(f"synth: sample index {index} is negative")
        rng = np.random.default_rng([self.config.seed, index, attempt])
        category = self.category(rng)
        planner = PLANNERS[category]
        for _ in range(TEXT_TRIES):
            plan = planner(self.config.lang, rng)
            text = self._text(plan.text_kind, rng)
            if plan.upper:
                text = text.upper()
            if plan.max_chars is not None and len(text) > plan.max_chars:
                continue
            label = fit_label(text, self.charset)
            if label is None or len(label) > self.config.max_length:
                continue
            face = self.picker.pick(rng, plan.font_kinds, text)
            if face is None:
                continue
            if face.caps_only:  # the image shows capitals whatever the case of the text
                text = text.upper()
                label = fit_label(text, self.charset)
                if label is None:
                    continue
            distractors = [self.corpus.word(rng) for _ in range(plan.style.distractors)]
            distractors = [d for d in distractors if self.fonts.covers(face, d)]
            neighbours = ("", "")
            if any(plan.style.neighbours):
                neighbours = tuple(
                    self._neighbour(rng, face, text) if on else "" for on in plan.style.neighbours
                )
            image = self.renderer.render(text, face, plan.style, rng, distractors, neighbours)
            return Sample(image, label, text, category, face.name)
        raise ScenetextError(
            f"synth: no text fitting charset {self.charset.name} and the installed fonts after {TEXT_TRIES} "
            f"tries (sample {index}, category {category})"
        )

    def _neighbour(self, rng: np.random.Generator, face: FontFace, text: str) -> str:
        """A word printed beside ``text`` in the same case; "" when the face cannot draw it."""
        word = self.corpus.word(rng)
        if text.isupper():
            word = word.upper()
        return word if self.fonts.covers(face, word) else ""

    def _text(self, kind: str, rng: np.random.Generator) -> str:
        if kind == "phrase":
            return self.corpus.phrase(rng)
        if kind == "random":
            return self.corpus.random_string(rng)
        if kind == "structured":
            return self.corpus.structured(rng)
        return self.corpus.word(rng)
