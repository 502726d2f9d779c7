"""The word renderer: text layers at about 1.5x output resolution, geometric warps, a tight crop around the
warped guide zone, then composition on a background at output size with a contrast floor, and camera effects.

Working at output size for everything colour-related keeps the per-sample cost low (the 32 x W composite is a
few thousand pixels), which is what makes hundreds of images per second per core possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from scenetext.synth import effects, layout
from scenetext.synth.backgrounds import BackgroundMaker, luminance, random_colour
from scenetext.synth.fonts import FontFace, FontLibrary

RENDER_SCALE = 1.5  # text is drawn at this multiple of the output size, then downsampled (anti-aliasing)


@dataclass
class Style:
    """How one sample looks; categories draw these, the renderer executes them. Lengths are fractions of
    the reference (cap/em) height unless stated."""

    layout: str = "horizontal"  # horizontal | vertical (upright stacked) | rotated (reads bottom-to-top)
    spacing: float = 0.0  # extra advance per character, fraction of the font size
    curve: str | None = None  # arc-down | arc-up | sine
    curve_amount: float = 0.0  # arc span in degrees, or sine amplitude (fraction of reference height)
    rotation: float = 0.0  # degrees, counter-clockwise positive as in image coordinates
    shear: float = 0.0
    perspective: float = 0.0  # corner jitter, fraction of the layer height
    elastic: float = 0.0  # displacement, fraction of reference height
    border: float = 0.0  # outline width
    shadow: bool = False
    extrusion: float = 0.0
    fill: str = "solid"  # solid | gradient | texture
    background: str | None = None  # None lets the background maker choose
    distractors: int = 0  # other words around the main one (partly cut by the crop)
    neighbours: tuple[bool, bool] = (
        False,
        False,
    )  # same-line words before/after (horizontal), cut by the crop
    clutter: int = 0  # lines, boxes and blobs drawn on the background
    pad_x: tuple[float, float] = (0.05, 0.3)  # padding at both ends of the line, fraction of its height
    pad_y: tuple[float, float] = (0.04, 0.2)  # padding on both sides of the line
    occlusion: bool = False  # something in front hides a small part of the text
    lighting: float = 0.0  # uneven illumination (ramp or spot, colour cast, glare), strength 0-1
    upsample: float = 0.0  # captured at 1/upsample of the output size: the effects below happen there
    blur: float = 0.0  # Gaussian sigma at output (or capture) size
    defocus: float = 0.0  # disk blur radius at output (or capture) size
    motion_blur: int = 0  # kernel length at output (or capture) size
    noise: float = 0.0  # Gaussian noise sigma (0-255 scale)
    low_res: float = 0.0  # downscale factor before upscaling back (>1 to apply)
    jpeg: int = 0  # JPEG quality (0 = none)


class WordRenderer:
    """Renders (text, face, style) to a uint8 RGB image whose short side is ``height`` pixels."""

    def __init__(
        self,
        fonts: FontLibrary,
        backgrounds: BackgroundMaker,
        height: int,
        width: int | None = None,
        max_aspect: float = 12.0,
        min_contrast: float = 70.0,
    ) -> None:
        self.fonts = fonts
        self.backgrounds = backgrounds
        self.height = height
        self.width = width
        self.max_aspect = max_aspect
        self.min_contrast = min_contrast

    def render(
        self,
        text: str,
        face: FontFace,
        style: Style,
        rng: np.random.Generator,
        distractor_texts: Sequence[str] = (),
        neighbour_texts: tuple[str, str] = ("", ""),
    ) -> np.ndarray:
        """``neighbour_texts`` are the words before and after the line (drawn for horizontal layouts whose
        style asks for neighbours; an empty string draws none on that side)."""
        cjk = layout.is_cjk_text(text)
        ref_px = self.height * RENDER_SCALE * (0.78 if cjk else 0.62)
        size = max(8, int(round(ref_px / max(face.cap_ratio, 0.2))))
        font = self.fonts.font(face, size)
        margin = int(ref_px * (0.1 + style.elastic)) + 2  # room for warps; the crop adds its own padding
        if style.layout == "vertical":
            ink, guide = layout.vertical(font, text, style.spacing, cjk, margin)
        else:
            ink, guide = layout.horizontal(font, text, style.spacing, cjk, margin)
        line_px = int((guide.any(axis=0) if style.layout == "vertical" else guide.any(axis=1)).sum())
        if style.layout == "horizontal" and any(style.neighbours) and any(neighbour_texts):
            gap = max(font.getlength(" "), 0.25 * size) * rng.uniform(1.0, 1.6)
            wanted = zip(neighbour_texts, style.neighbours, strict=True)
            left, right = (word if on else "" for word, on in wanted)
            layers = np.dstack(layout.neighbours(font, ink, guide, cjk, left, right, gap, keep=2 * line_px))
        else:
            layers = np.dstack([ink, guide])
        layers = self._warp(layers, style, ref_px, rng)
        return self._compose(layers, style, ref_px, line_px, rng, face, distractor_texts)

    def _warp(self, layers: np.ndarray, style: Style, ref_px: float, rng: np.random.Generator) -> np.ndarray:
        if style.curve in ("arc-down", "arc-up"):
            layers = effects.arc(layers, style.curve_amount, style.curve == "arc-down")
        elif style.curve == "sine":
            layers = effects.sine(
                layers, style.curve_amount * ref_px, rng.uniform(0.4, 1.0), rng.uniform(0, 6.3)
            )
        if style.elastic > 0:
            layers = effects.elastic(layers, rng, style.elastic * ref_px, cell=ref_px * 0.6)
        if style.layout == "rotated":
            layers = np.ascontiguousarray(np.rot90(layers, 1 if rng.random() < 0.8 else -1))
        if style.rotation or style.shear or style.perspective:
            layers = effects.homography(layers, rng, style.rotation, style.shear, style.perspective)
        return layers

    def _crop_box(
        self, guide: np.ndarray, ink: np.ndarray, style: Style, ref_px: float, rng: np.random.Generator
    ) -> tuple[int, int, int, int, bool]:
        """Crop window around the guide and ink, padded by a random fraction of the text's short side;
        also whether the text runs vertically (the crop is stored with its width as the short side)."""
        mask = np.maximum(guide, ink) > 40
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return 0, ink.shape[0], 0, ink.shape[1], False
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        tall = style.layout != "horizontal" and (y1 - y0) > (x1 - x0)
        short = (x1 - x0) if tall else (y1 - y0)
        # Decorations grow outside the glyphs: keep them inside the crop.
        decor = int(ref_px * (style.border + style.extrusion + (0.12 if style.shadow else 0.0)))
        ends = [decor + int(short * rng.uniform(*style.pad_x)) for _ in range(2)]
        sides = [decor + int(short * rng.uniform(*style.pad_y)) for _ in range(2)]
        if tall:
            return y0 - ends[0], y1 + ends[1], x0 - sides[0], x1 + sides[1], True
        return y0 - sides[0], y1 + sides[1], x0 - ends[0], x1 + ends[1], False

    def _output_size(self, crop_h: int, crop_w: int, tall: bool, line_px: int) -> tuple[int, int]:
        """Short side = ``height`` for straight lines. A strongly rotated line makes a crop much thicker than
        the line itself; it keeps the line's resolution instead (short side up to 4x ``height``), else its
        text would shrink to a few pixels."""
        short, long_ = (crop_w, crop_h) if tall else (crop_h, crop_w)
        if self.width is not None:
            out_short, out_long = self.height, self.width
        else:
            scale = self.height / max(short, 1)
            if short > 2.2 * line_px:  # a straight line's crop is about 1.5 line heights thick
                line_scale = self.height / (1.5 * max(line_px, 1))
                scale = max(
                    scale, min(line_scale, 4 * self.height / short, self.height * self.max_aspect / long_)
                )
            out_short = max(self.height, int(round(short * scale)))
            out_long = int(min(max(round(long_ * scale), out_short), out_short * self.max_aspect))
        return (out_long, out_short) if tall else (out_short, out_long)

    def _compose(
        self,
        layers: np.ndarray,
        style: Style,
        ref_px: float,
        line_px: int,
        rng: np.random.Generator,
        face: FontFace,
        distractor_texts: Sequence[str],
    ) -> np.ndarray:
        ink, guide = layers[..., 0], layers[..., 1]
        y0, y1, x0, x1, tall = self._crop_box(guide, ink, style, ref_px, rng)
        ih, iw = ink.shape
        pad = max(0, -y0, -x0, y1 - ih, x1 - iw)
        neighbours = layers[..., 2] if layers.shape[2] > 2 else None
        if pad:
            ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            if neighbours is not None:
                neighbours = cv2.copyMakeBorder(neighbours, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            y0, y1, x0, x1 = y0 + pad, y1 + pad, x0 + pad, x1 + pad
        main = ink[y0:y1, x0:x1]
        crop = main if neighbours is None else np.maximum(main, neighbours[y0:y1, x0:x1])
        out_h, out_w = self._output_size(y1 - y0, x1 - x0, tall, line_px)

        # Effects that need render resolution: border, extrusion, shadow (offsets in render pixels).
        border_r = int(round(style.border * ref_px))
        outline = effects.dilate(crop, border_r) if border_r > 0 else None
        body = outline if outline is not None else crop
        direction = rng.choice([-1, 1], size=2)
        extrusion = None
        if style.extrusion > 0:
            steps = max(1, int(round(style.extrusion * ref_px)))
            extrusion = effects.extrude(body, int(direction[0]), int(direction[1]), steps)
        shadow = None
        if style.shadow:
            off = max(1, int(round(ref_px * rng.uniform(0.04, 0.12))))
            shadow = effects.shadow(
                np.maximum(body, extrusion) if extrusion is not None else body,
                int(direction[0] * off),
                int(abs(direction[1]) * off),
                ref_px * rng.uniform(0.02, 0.1),
            )

        def to_out(mask: np.ndarray | None) -> np.ndarray | None:
            if mask is None:
                return None
            small = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_AREA)
            return small.astype(np.float32) * (1.0 / 255.0)

        fill_a, outline_a, extrusion_a, shadow_a = map(to_out, (crop, outline, extrusion, shadow))

        background = self.backgrounds.make(rng, out_h, out_w, style.background).astype(np.float32)
        text_zone = fill_a > 0.3
        if style.distractors or style.clutter:
            background = self._clutter(background, style, rng, face, distractor_texts, text_zone, tall)
        bg_lum = float(luminance(background)[text_zone].mean()) if text_zone.any() else 128.0
        # A busy background (photo, texture) under the text is calmed towards its mean so text stays legible.
        spread = float(luminance(background)[text_zone].std()) if text_zone.any() else 0.0
        if spread > 30:
            mean = background[text_zone].mean(axis=0)
            background = mean + (background - mean) * (30 / spread)

        colour = self._contrasting(rng, bg_lum, self.min_contrast)
        image = background
        if shadow_a is not None:
            shade = np.float32([0, 0, 0]) if bg_lum > 60 else np.float32([255, 255, 255])
            image = _blend(image, shade, shadow_a * rng.uniform(0.4, 0.8))
        if extrusion_a is not None:
            image = _blend(image, colour * rng.uniform(0.35, 0.6), extrusion_a)
        if outline_a is not None:
            image = _blend(image, self._contrasting(rng, luminance(colour), self.min_contrast), outline_a)
        image = _blend(image, self._fill(style, colour, bg_lum, rng, out_h, out_w), fill_a)
        image = np.clip(image, 0, 255).astype(np.uint8)
        if style.occlusion:
            inked = main > 40  # the main line's extent, without neighbours
            rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
            if rows.size:
                sy, sx = out_h / (y1 - y0), out_w / (x1 - x0)
                box = (
                    int(rows[0] * sy),
                    int((rows[-1] + 1) * sy),
                    int(cols[0] * sx),
                    int((cols[-1] + 1) * sx),
                )
                occluder = self._contrasting(rng, float(luminance(colour)), 40)
                image = effects.occlude(image, rng, box, occluder)
        return self._camera(image, style, rng)

    def _contrasting(
        self, rng: np.random.Generator, against: float, floor: float, dark: bool | None = None
    ) -> np.ndarray:
        """A random colour whose luminance differs from ``against`` by at least ``floor`` (0-255 scale),
        darker or lighter as ``dark`` says (None: whichever side has room, mostly the farther one)."""
        colour = random_colour(rng)
        lum = float(luminance(colour))
        dark_ok, light_ok = against - floor >= 0, against + floor <= 255
        if dark is None:
            go_dark = dark_ok and (not light_ok or against > 127 or rng.random() < 0.15)
        else:
            go_dark = dark and dark_ok or not light_ok
        if go_dark:
            target = rng.uniform(0, max(against - floor, 0))
            if lum > target:
                colour = colour * (target / max(lum, 1e-3))
        else:
            target = rng.uniform(min(against + floor, 255), 255)
            if lum < target:
                colour = 255 - (255 - colour) * ((255 - target) / max(255 - lum, 1e-3))
        return colour.astype(np.float32)

    def _fill(
        self, style: Style, colour: np.ndarray, bg_lum: float, rng: np.random.Generator, h: int, w: int
    ) -> np.ndarray:
        """Glyph fill: a solid colour, a two-tone gradient (both ends clear the contrast floor), or a
        texture modulating the colour."""
        if style.fill == "gradient":
            t = np.linspace(0, 1, h if rng.random() < 0.7 else w, dtype=np.float32)
            t = t[:, None, None] if t.size == h else t[None, :, None]
            dark = bool(luminance(colour) < bg_lum)
            other = self._contrasting(rng, bg_lum, self.min_contrast, dark=dark)
            return colour + (other - colour) * t
        if style.fill == "texture":
            texture = self.backgrounds.make(rng, h, w, "texture" if rng.random() < 0.6 else "noise")
            lum = luminance(texture.astype(np.float32))
            lum = (lum - lum.mean()) / max(float(lum.std()), 1.0)
            return np.clip(colour * (1 + 0.25 * lum[..., None]) + 20 * lum[..., None], 0, 255)
        return colour

    def _clutter(
        self,
        background: np.ndarray,
        style: Style,
        rng: np.random.Generator,
        face: FontFace,
        texts: Sequence[str],
        text_zone: np.ndarray,
        tall: bool,
    ) -> np.ndarray:
        """Distractor words next to the main word and simple shapes: salient-text clutter."""
        h, w = background.shape[:2]
        canvas = Image.fromarray(background.astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
        bg_lum = float(luminance(background).mean())
        rows, cols = np.flatnonzero(text_zone.any(axis=1)), np.flatnonzero(text_zone.any(axis=0))
        top = int(rows[0]) if rows.size else 0
        bottom = int(rows[-1]) if rows.size else h
        left = int(cols[0]) if cols.size else 0
        right = int(cols[-1]) if cols.size else w
        for _ in range(style.clutter):
            colour = tuple(int(c) for c in self._contrasting(rng, bg_lum, 40))
            kind = int(rng.integers(3))
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
            if kind == 0:
                draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 3)))
            elif kind == 1:
                draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=colour)
            else:  # blobs sit beside the word: one over the glyphs would hide strokes, not distract
                r = int(rng.integers(2, max(3, min(h, w) // 5)))
                if right - left < w - 4:
                    gaps = [x for x in range(w) if x < left - r or x > right + r]
                    x0 = gaps[int(rng.integers(len(gaps)))] if gaps else x0
                draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=colour)
        for text in texts[: style.distractors]:
            size = max(6, int(h * rng.uniform(0.45, 0.9)) if not tall else int(w * rng.uniform(0.45, 0.9)))
            # Sizes in steps of 4 px keep the number of cached font objects (and their memory) small.
            font = self.fonts.font(face, max(8, 4 * round(size / max(face.cap_ratio, 0.2) * 0.15)))
            colour = tuple(int(c) for c in self._contrasting(rng, bg_lum, 50))
            where = int(rng.integers(4))
            length = font.getlength(text)
            if where == 0:  # line above, mostly cut off
                xy, anchor = (int(rng.integers(-int(length), w)), top - int(rng.uniform(0.05, 0.3) * h)), "ls"
            elif where == 1:  # line below
                xy, anchor = (
                    (int(rng.integers(-int(length), w)), bottom + int(rng.uniform(0.1, 0.4) * h)),
                    "lt",
                )
            elif where == 2:  # word to the left
                xy, anchor = (left - int(rng.uniform(0.2, 0.5) * h), (top + bottom) // 2), "rm"
            else:  # word to the right
                xy, anchor = (right + int(rng.uniform(0.2, 0.5) * h), (top + bottom) // 2), "lm"
            draw.text(xy, text, font=font, fill=colour, anchor=anchor)
        return np.asarray(canvas).astype(np.float32)

    def _camera(self, image: np.ndarray, style: Style, rng: np.random.Generator) -> np.ndarray:
        """Scene lighting, then the capture: with ``upsample``, blur, noise and JPEG act on the small image
        a camera would have recorded, which is then enlarged, as a detector's crop of distant text is."""
        if style.lighting > 0:
            image = effects.uneven_light(image, rng, style.lighting)
        out_h, out_w = image.shape[:2]
        if style.upsample > 1:
            small = (max(2, round(out_w / style.upsample)), max(2, round(out_h / style.upsample)))
            image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        if style.low_res > 1:
            image = effects.low_resolution(image, style.low_res)
        if style.motion_blur >= 3:
            image = effects.motion_blur(image, style.motion_blur, rng.uniform(0, 180))
        if style.blur > 0:
            image = effects.gaussian_blur(image, style.blur)
        if style.defocus > 0:
            image = effects.defocus(image, style.defocus)
        if style.noise > 0:
            image = effects.gaussian_noise(image, rng, style.noise)
        if style.jpeg:
            image = effects.jpeg(image, style.jpeg)
        if style.upsample > 1:
            interpolation = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
            image = cv2.resize(image, (out_w, out_h), interpolation=interpolation)
        return image


def _blend(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return image + (colour - image) * a
