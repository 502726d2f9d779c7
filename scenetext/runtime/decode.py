"""Greedy decoding of class probabilities: text, confidences and which output position made each character.

Shared by every backend (the torch and the onnxruntime one return the same N x T x C probabilities) and by
evaluation, so a word is read the same way everywhere. numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenetext.errors import ScenetextError
from scenetext.runtime.charset import EOS, NUM_SPECIAL, Tokenizer, as_numpy


def decode_probs(tokenizer: Tokenizer, probs: Any) -> list[tuple[str, float, list[float]]]:
    """N x T x C softmax probabilities (array or tensor) to (text, confidence, per-character probabilities).

    Greedy argmax per position. The confidence is the product of the chosen probabilities over every
    position scanned, up to and including the first EOS (LPV §2); the per-character list holds the
    probability of each emitted character, aligned with the text.
    """
    arr = as_numpy(probs)
    if arr.ndim != 3 or arr.shape[2] != tokenizer.num_classes:
        raise ScenetextError(
            f"decode_probs: expected N x T x {tokenizer.num_classes} probabilities, got shape {arr.shape}"
        )
    arr = arr.astype(np.float64, copy=False)
    best = arr.argmax(axis=2)
    best_p = np.take_along_axis(arr, best[..., None], axis=2)[..., 0]
    results = []
    for row, row_p in zip(best, best_p, strict=True):
        text, end, mask = tokenizer.row_text(row)
        confidence = float(np.prod(row_p[:end]))
        results.append((text, confidence, [float(p) for p in row_p[: len(mask)][mask]]))
    return results


def character_positions(probs: np.ndarray) -> list[np.ndarray]:
    """Per row, the output positions whose argmax is an emitted character (before the first EOS).

    The same rule as :func:`decode_probs`, so position k here is character k of the text (this is how the
    attention map of each character is picked).
    """
    best = probs.argmax(axis=-1)
    positions = []
    for row in best:
        eos = np.flatnonzero(row == EOS)
        end = int(eos[0]) if eos.size else len(row)
        positions.append(np.flatnonzero(row[:end] >= NUM_SPECIAL))
    return positions
