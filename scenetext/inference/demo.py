"""The demo: read rendered (or the user's) word images and write a self-contained HTML report.

Everything it needs is inside the package (the model, the renderer, Pillow's font as a last resort), so it
runs on a fresh machine without network. The report embeds every image as base64 PNG, so it is one file
that can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scenetext.errors import ScenetextError
from scenetext.inference.attention import strip_layout
from scenetext.inference.inputs import expand_inputs
from scenetext.inference.recognizer import RecognitionResult, Recognizer
from scenetext.inference.samples import lang_of, render_words
from scenetext.runtime.preprocess import load_image

REPORT_FILE = "report.html"
_DISPLAY_HEIGHT = 64


@dataclass
class DemoItem:
    name: str
    image: np.ndarray  # uint8 H x W x 3 as given or rendered
    truth: str | None
    result: RecognitionResult
    correct: bool | None


@dataclass
class DemoRun:
    items: list[DemoItem]
    problems: list[str]  # one line per user image that could not be read
    report: Path

    @property
    def accuracy(self) -> float | None:
        judged = [item.correct for item in self.items if item.correct is not None]
        return sum(judged) / len(judged) if judged else None


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _display(image: np.ndarray) -> Image.Image:
    """The input scaled to a readable height (nearest-neighbour keeps small crops crisp)."""
    pil = Image.fromarray(image)
    if pil.height < _DISPLAY_HEIGHT:
        width = max(1, round(pil.width * _DISPLAY_HEIGHT / pil.height))
        pil = pil.resize((width, _DISPLAY_HEIGHT), Image.Resampling.NEAREST)
    return pil


def _collect_user_images(specs: list[str]) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    files, unmatched = expand_inputs(specs)
    problems = [f"{spec}: {reason}" for spec, reason in unmatched]
    images = []
    for path in files:
        try:
            images.append((str(path), np.asarray(load_image(path))))
        except ScenetextError as exc:
            problems.append(str(exc))
    return images, problems


def run_demo(
    recognizer: Recognizer,
    output: Path,
    images: list[str] | None = None,
    count: int = 8,
    seed: int = 0,
    font_dirs: list[str] | None = None,
) -> DemoRun:
    """Read ``images`` (paths, directories, globs) or ``count`` rendered words; write output/report.html."""
    from scenetext.engine.protocols import normalize_text

    protocol = str(recognizer.config.get("protocol", "case-sensitive"))
    if images:
        named, problems = _collect_user_images(images)
        if not named:
            raise ScenetextError(f"demo: none of the {len(images)} image arguments could be read")
        inputs: list[tuple[str, np.ndarray, str | None]] = [(name, image, None) for name, image in named]
    else:
        words = render_words(count, lang_of(recognizer.config), seed, font_dirs=font_dirs or ())
        inputs = [(f"rendered #{i + 1}", w.image, w.label) for i, w in enumerate(words)]
        problems = []
    results = recognizer.read([image for _, image, _ in inputs], return_attention=True)
    items = []
    for (name, image, truth), result in zip(inputs, results, strict=True):
        correct = (
            None
            if truth is None
            else normalize_text(result.text, protocol) == normalize_text(truth, protocol)
        )
        items.append(DemoItem(name, image, truth, result, correct))
    output.mkdir(parents=True, exist_ok=True)
    report = output / REPORT_FILE
    report.write_text(_html(recognizer, items, protocol), encoding="utf-8")
    return DemoRun(items, problems, report)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: 0.5em 0.8em; text-align: left; vertical-align: top; }
.text { font-family: ui-monospace, monospace; font-size: 1.2em; word-break: break-all; }
.ok { color: #17702b; } .bad { color: #b3261e; }
.conf { color: #666; font-size: 0.85em; }
img { image-rendering: pixelated; }
img.input { max-width: 240px; height: auto; }
"""
# With the other columns (the input shown at most 240 pixels wide) the table fits a 1300-pixel window.
_STRIP_MAX_WIDTH = 540


def _html(recognizer: Recognizer, items: list[DemoItem], protocol: str) -> str:
    judged = [item.correct for item in items if item.correct is not None]
    headline = f"{len(items)} images"
    if judged:
        headline += f", {sum(judged)}/{len(judged)} read correctly ({protocol} protocol)"
    rows = []
    scale, columns = strip_layout(recognizer.input_size[1], _STRIP_MAX_WIDTH)
    for item in items:
        strip = recognizer.attention_strip(item.image, item.result, scale=scale, columns=columns)
        verdict = ""
        if item.correct is not None:
            verdict = '<span class="ok">correct</span>' if item.correct else '<span class="bad">wrong</span>'
        per_char = " ".join(
            f"{html.escape(ch)}:{p:.2f}"
            for ch, p in zip(item.result.text, item.result.char_confidences, strict=True)
        )
        truth = "" if item.truth is None else html.escape(item.truth)
        image_uri = _png_data_uri(_display(item.image))
        rows.append(
            f'<tr><td>{html.escape(item.name)}<br><img class="input" alt="input" src="{image_uri}">'
            f'</td><td class="text">{truth}</td><td class="text">{html.escape(item.result.text)}<br>{verdict}'
            f'</td><td>{item.result.confidence:.3f}<br><span class="conf">{per_char}</span></td>'
            f'<td><img alt="attention" src="{_png_data_uri(strip)}"></td></tr>'
        )
    charset = html.escape(str(recognizer.config["charset"].get("name", "")))
    title = f"scenetext demo: {html.escape(recognizer.model_name)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>Model {html.escape(str(recognizer.source))} (charset {charset}, "
        f"input {recognizer.input_size[0]}x{recognizer.input_size[1]}, backend {recognizer.backend.name}). "
        f"{headline}.</p><p>Attention strips: the first panel is the model input with the text read; each "
        "further panel shows where the model looked for one character, with its probability.</p>"
        "<table><tr><th>image</th><th>truth</th><th>prediction</th><th>confidence</th><th>attention</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )
