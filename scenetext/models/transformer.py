"""Transformer pieces shared by NASTR and the autoregressive baseline (DETR-style, post-LN).

NASTR's decoder and text encoder are DETR ``TransformerDecoderLayer``/``TransformerEncoderLayer`` stacks with
``normalize_before=False``: x <- LN(x + Dropout(sublayer(x))) after self-attention, cross-attention and a ReLU
FFN, and no final LayerNorm (spec-nastr.md §1.3, §1.5). Attribute names (``self_attn``, ``multihead_attn``,
``linear1``, ``linear2``, ``norm1..3``) match the official state dict.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from scenetext.models.layers.sinusoidal import sinusoidal_table


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal table (no sqrt(d) scaling) to N x T x d inputs, then dropout.

    NASTR applies one instance, with its one dropout, to the encoder memory, the decoder queries and the
    text-encoder input. The table is recomputed from its size, so it is a non-persistent buffer.
    """

    def __init__(self, dim: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, dim), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))


class DecoderLayer(nn.Module):
    """Post-LN decoder layer: self-attention, cross-attention to the memory, ReLU FFN (DETR, no pos terms)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = nn.ReLU()

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x: N x T x d queries; memory: N x S x d. Returns the new queries and, if asked, the head-averaged
        cross-attention weights N x T x S."""
        attended = self.self_attn(x, x, x, attn_mask=self_mask, need_weights=False)[0]
        x = self.norm1(x + self.dropout1(attended))
        attended, weights = self.multihead_attn(x, memory, memory, need_weights=need_weights)
        x = self.norm2(x + self.dropout2(attended))
        x = self.norm3(x + self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x))))))
        return x, weights


def cloned_layers(layer: nn.Module, count: int) -> nn.ModuleList:
    """``count`` deep copies of one initialised layer.

    The official code builds its stacks this way (DETR's ``_get_clones``) and never re-initialises them, so
    every layer starts from the same weights; kept to reproduce the official initialisation.
    """
    return nn.ModuleList(copy.deepcopy(layer) for _ in range(count))


class Decoder(nn.Module):
    """A stack of ``DecoderLayer``; returns the last layer's output and, if asked, its cross-attention."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, num_layers: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = cloned_layers(DecoderLayer(dim, num_heads, ffn_dim, dropout), num_layers)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        weights = None
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, memory, self_mask, need_weights and i == len(self.layers) - 1)
        return x, weights


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """Additive T x T mask: position t sees positions 0..t."""
    return torch.full((length, length), float("-inf"), device=device).triu(1)
