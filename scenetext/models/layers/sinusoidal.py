"""The fixed 1-D sinusoidal position table of "Attention Is All You Need".

Derived from the length and width alone, so models keep it as a non-persistent buffer and
official checkpoints' stored copies (``pos_encoder.pe``) are checked, not loaded.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """``length x dim`` table: sin on even channels, cos on odd channels, base 10000."""
    if dim % 2:
        raise ValueError(f"sinusoidal position encoding needs an even width, got {dim}")
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table
