"""Small random-draw helpers shared by the engine's modules."""

from __future__ import annotations

import numpy as np


def weighted_index(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    """Index drawn with probabilities given as a cumulative sum (much cheaper than ``rng.choice(p=...)``)."""
    draw = rng.random() * cumulative[-1]
    return min(int(np.searchsorted(cumulative, draw, side="right")), len(cumulative) - 1)
