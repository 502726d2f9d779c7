"""Cascade Position Attention (LPV §1.3 of docs spec-lpv.md): ABINet's position attention whose query
can be seeded with the previous stage's glimpses.

Keys come from a small U-Net over the feature map, values are the feature map itself, and a single
attention head scaled by 1/sqrt(E) reads one glimpse per slot.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.layers.sinusoidal import sinusoidal_table

# Encoder strides of the key U-Net: the first layer halves only the width, the others halve both.
_ENCODER_STRIDES = ((1, 2), (2, 2), (2, 2), (2, 2))


def _conv3x3_out(size: int, stride: int) -> int:
    """Output length of a 3x3 convolution with padding 1."""
    return (size - 1) // stride + 1


def unet_sizes(grid: tuple[int, int]) -> list[tuple[int, int]]:
    """Spatial sizes after each U-Net encoder layer for a feature grid (h, w)."""
    sizes = []
    h, w = grid
    for sh, sw in _ENCODER_STRIDES:
        h, w = _conv3x3_out(h, sh), _conv3x3_out(w, sw)
        sizes.append((h, w))
    return sizes


def _down(in_channels: int, out_channels: int, stride: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _up(in_channels: int, out_channels: int, size: tuple[int, int]) -> nn.Sequential:
    # Fixed target sizes (as in the official code) keep the exported graph free of shape arithmetic.
    return nn.Sequential(
        nn.Upsample(size=size, mode="nearest"),
        nn.Conv2d(in_channels, out_channels, 3, 1, 1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class PositionAttention(nn.Module):
    """One CPA stage: features N x E x h x w and seed N x T x E (or None) -> glimpses, maps N x T x h x w.

    The query is ``Linear(PE + seed)``: the sinusoidal slot encoding alone at the first stage, plus the
    previous stage's glimpses later (not detached, so the cascade trains end to end).
    """

    def __init__(self, dim: int, num_slots: int, grid: tuple[int, int], mid_channels: int | None = None):
        super().__init__()
        mid = mid_channels or dim // 8
        self.dim = dim
        self.grid = grid
        sizes = unet_sizes(grid)
        self.k_encoder = nn.ModuleList(
            _down(dim if i == 0 else mid, mid, stride) for i, stride in enumerate(_ENCODER_STRIDES)
        )
        up_sizes = [sizes[2], sizes[1], sizes[0], grid]
        self.k_decoder = nn.ModuleList(
            _up(mid, dim if i == len(up_sizes) - 1 else mid, size) for i, size in enumerate(up_sizes)
        )
        # BatchNorm needs two values per channel in training: a 1x1 deepest level needs two images.
        self.min_train_batch = 2 if min(h * w for h, w in sizes) == 1 else 1
        self.register_buffer("pe", sinusoidal_table(num_slots, dim), persistent=False)
        self.project = nn.Linear(dim, dim)

    def keys(self, features: Tensor) -> Tensor:
        """U-Net over the feature map: skips add encoder outputs; the last layer has no skip."""
        skips = []
        k = features
        for layer in self.k_encoder:
            k = layer(k)
            skips.append(k)
        for i, layer in enumerate(self.k_decoder[:-1]):
            k = layer(k) + skips[len(skips) - 2 - i]
        return self.k_decoder[-1](k)

    def forward(self, features: Tensor, seed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, e, h, w = features.shape
        if self.training and n < self.min_train_batch:
            raise ScenetextError(
                f"position attention: training at grid {self.grid} needs a batch of at least "
                f"{self.min_train_batch} images (the key U-Net's BatchNorm sees one value per channel "
                f"at its 1x1 level); got {n}"
            )
        keys = self.keys(features).flatten(2)  # N x E x hw
        query = self.pe.unsqueeze(0) if seed is None else seed + self.pe
        query = self.project(query).expand(n, -1, -1)  # N x T x E
        maps = torch.softmax(torch.bmm(query, keys) / math.sqrt(e), dim=-1)  # N x T x hw
        values = features.flatten(2).transpose(1, 2)  # N x hw x E: the input map itself
        glimpses = torch.bmm(maps, values)
        return glimpses, maps.view(n, -1, h, w)
