"""Image operations of the renderer: geometric warps of the text layers (arc and sine curves, elastic
distortion, rotation with perspective), layer effects (border, shadow, extrusion), scene effects (uneven
lighting, occluders) and camera effects (blur, defocus, motion blur, noise, low resolution, JPEG artefacts).
All randomness comes from the caller's Generator.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def arc(layers: np.ndarray, span_deg: float, downward: bool) -> np.ndarray:
    """Bend the text along a circular arc spanning ``span_deg``; glyphs rotate with the tangent.

    ``downward`` bends the ends down (text on top of a circle, the common badge/logo shape); otherwise the
    ends go up, done by flipping, bending, and flipping back so glyphs stay upright.
    """
    if not downward:
        return arc(layers[::-1], span_deg, True)[::-1]
    h, w = layers.shape[:2]
    span = np.deg2rad(max(span_deg, 1.0))
    radius = w / span
    mid = h / 2.0
    # Forward-map the source outline to size the output canvas.
    xs = np.concatenate([np.linspace(0, w, 32), np.linspace(0, w, 32), [0, 0, w, w]])
    ys = np.concatenate([np.zeros(32), np.full(32, h), [0, h, 0, h]])
    theta = (xs - w / 2) / radius
    rho = radius + (mid - ys)
    u, v = rho * np.sin(theta), -rho * np.cos(theta)
    u0, v0 = np.floor(u.min()), np.floor(v.min())
    out_w, out_h = int(np.ceil(u.max() - u0)) + 1, int(np.ceil(v.max() - v0)) + 1
    uu, vv = np.meshgrid(np.arange(out_w, dtype=np.float32) + u0, np.arange(out_h, dtype=np.float32) + v0)
    rho_out = np.sqrt(uu * uu + vv * vv)
    theta_out = np.arctan2(uu, -vv)
    map_x = (w / 2 + theta_out * radius).astype(np.float32)
    map_y = (mid - (rho_out - radius)).astype(np.float32)
    return _remap(layers, map_x, map_y)


def sine(layers: np.ndarray, amplitude: float, periods: float, phase: float) -> np.ndarray:
    """Wave the baseline vertically by ``amplitude`` pixels over ``periods`` periods of the text width."""
    h, w = layers.shape[:2]
    pad = int(np.ceil(abs(amplitude))) + 1
    out_h = h + 2 * pad
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(out_h, dtype=np.float32))
    offset = amplitude * np.sin(2 * np.pi * periods * uu / max(w, 1) + phase)
    return _remap(layers, uu, (vv - pad - offset).astype(np.float32))


def elastic(layers: np.ndarray, rng: np.random.Generator, strength: float, cell: float) -> np.ndarray:
    """Smooth random displacement (``strength`` pixels, correlated over ``cell`` pixels): hand-made and
    printed-on-fabric irregularity."""
    h, w = layers.shape[:2]
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    dx = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return _remap(layers, uu + strength * dx, vv + strength * dy)


def homography(
    layers: np.ndarray, rng: np.random.Generator, rotation_deg: float, shear: float, jitter: float
) -> np.ndarray:
    """Rotate about the centre, shear, and jitter each corner by up to ``jitter`` x layer height."""
    h, w = layers.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    centre = np.float32([w / 2, h / 2])
    angle = np.deg2rad(rotation_deg)
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    sheared = (src - centre) @ np.float32([[1, 0], [shear, 1]]).T
    dst = sheared @ rot.T + rng.uniform(-jitter, jitter, size=(4, 2)).astype(np.float32) * h
    dst -= dst.min(axis=0)
    out_w, out_h = int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    return _ensure_3d(cv2.warpPerspective(layers, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR))


def _remap(layers: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    out = cv2.remap(np.ascontiguousarray(layers), map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
    return _ensure_3d(out)


def _ensure_3d(image: np.ndarray) -> np.ndarray:
    return image[..., None] if image.ndim == 2 else image


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by ``radius`` pixels with a round kernel: a text border (outline)."""
    if radius <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate a mask by whole pixels, filling with zeros."""
    out = np.zeros_like(mask)
    h, w = mask.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def extrude(mask: np.ndarray, dx: int, dy: int, steps: int) -> np.ndarray:
    """Union of the mask shifted 1..steps times along (dx, dy): a 3D block-letter side."""
    out = np.zeros_like(mask)
    for i in range(1, steps + 1):
        np.maximum(out, shift(mask, dx * i, dy * i), out=out)
    return out


def shadow(mask: np.ndarray, dx: int, dy: int, blur: float) -> np.ndarray:
    out = shift(mask, dx, dy)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def motion_blur(image: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(image, -1, kernel)


@lru_cache(maxsize=64)
def _disk(radius: float) -> np.ndarray:
    """Normalised disk kernel with an anti-aliased rim (``radius`` rounded to 0.1 px by the caller)."""
    half = int(np.ceil(radius))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    kernel = np.clip(radius + 0.5 - np.sqrt(xx * xx + yy * yy), 0, 1)
    return kernel / kernel.sum()


def defocus(image: np.ndarray, radius: float) -> np.ndarray:
    """Out-of-focus blur: a disk kernel (a lens's circle of confusion), flatter-edged than a Gaussian."""
    return cv2.filter2D(image, -1, _disk(round(max(radius, 0.5), 1)))


def uneven_light(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Illumination that varies over the image: a brightness ramp or a light spot, a colour cast, and in
    some draws glare (a blend towards a bright haze colour, which also lowers the text's contrast)."""
    h, w = image.shape[:2]
    side = float(max(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle)
        gain = 1 + strength * ramp / (side / 2)
    else:
        cx, cy = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.5, 1.5) * h
        sigma = rng.uniform(0.3, 1.0) * side
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma * sigma))
        gain = 1 - 0.6 * strength + 1.2 * strength * spot
    cast = 1 + rng.uniform(-0.15, 0.15, size=3).astype(np.float32) * strength
    out = image.astype(np.float32) * (np.maximum(gain, 0.15)[..., None] * cast)
    if rng.random() < 0.25:
        haze = rng.uniform(170, 255) + rng.uniform(-20, 20, size=3)
        out += (haze.astype(np.float32) - out) * float(rng.uniform(0.1, 0.4) * strength)
    return np.clip(out, 0, 255).astype(np.uint8)


def occlude(
    image: np.ndarray, rng: np.random.Generator, text_box: tuple[int, int, int, int], colour: np.ndarray
) -> np.ndarray:
    """Something in front of the text hiding a small part of it: a thin pole across the line, or an object
    entering from one end (at most about half a letter) or from the top or bottom edge.
    ``text_box`` is (top, bottom, left, right) of the text at image size."""
    h, w = image.shape[:2]
    top, bottom, left, right = text_box
    line_h = max(bottom - top, 1)
    kind = rng.random()
    if kind < 0.4:  # pole or wire, slightly slanted
        width = max(1.0, line_h * rng.uniform(0.05, 0.14))
        x = rng.uniform(left, right)
        lean = rng.uniform(-0.25, 0.25) * h
        points = [(x - lean, 0), (x + width - lean, 0), (x + width + lean, h), (x + lean, h)]
    elif kind < 0.75:  # an object at one end of the line
        reach = line_h * rng.uniform(0.1, 0.35)
        cx = left + reach - line_h if rng.random() < 0.5 else right - reach + line_h
        cy = rng.uniform(top, bottom)
        points = _ellipse(cx, cy, line_h, rng.uniform(0.8, 2.0) * line_h, rng)
    else:  # an edge along the top or bottom, hiding a band of the glyphs
        depth = line_h * rng.uniform(0.08, 0.22)
        y = top + depth if rng.random() < 0.5 else bottom - depth
        far = -h if y < (top + bottom) / 2 else 2 * h
        slope = rng.uniform(-0.05, 0.05) * line_h  # the edge is nearly level
        points = [(-1, y - slope), (w + 1, y + slope), (w + 1, far), (-1, far)]
    out = image.copy()
    polygon = np.round(np.array(points, np.float32) * 4).astype(np.int32)  # 2 fractional bits
    cv2.fillPoly(out, [polygon], colour.tolist(), lineType=cv2.LINE_AA, shift=2)
    return out


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    wobble = rng.uniform(0.85, 1.15, size=angles.size)
    return [(cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)) for a, r in zip(angles, wobble, strict=True)]


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.standard_normal(image.shape[:2], dtype=np.float32)[..., None] * sigma
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def low_resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """Downscale then upscale: the blocky softness of small, distant text."""
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(2, int(w / factor)), max(2, int(h / factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else image
