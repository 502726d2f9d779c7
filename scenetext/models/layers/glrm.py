"""Global Linguistic Reconstruction Module (LPV §1.4 of docs spec-lpv.md) and its attention-derived mask.

A GLRM is a post-LN Transformer encoder over the flattened feature map. With the mask, a position may
not attend to positions that the previous stage's attention ties to the same character, which forces
the module to reconstruct each character from its context.
"""

from __future__ import annotations

from torch import Tensor, nn

from scenetext.models.layers.sinusoidal import sinusoidal_table


def cooccurrence_mask(maps: Tensor, num_heads: int, threshold: float = 0.05) -> Tensor:
    """Additive mask ``(N * num_heads) x hw x hw`` (batch-major) from CPA maps ``N x T x h x w``.

    Position i may not attend to j when some slot's attention exceeds ``threshold`` at both (the diagonal
    included). Every slot counts, with no use of the labels. The official code repeats the mask for a
    hard-coded 8 heads; here it follows ``num_heads`` (spec §6 bug 8). A row blocked at every position
    would make softmax return NaN (bug 12, no guard upstream): such rows are left unmasked instead.
    """
    hit = (maps.detach().flatten(2) > threshold).to(maps.dtype)  # N x T x hw
    counts = hit.transpose(1, 2) @ hit  # N x hw x hw: slots shared by positions i and j
    blocked = counts > 0
    size = counts.shape[-1]
    fully_blocked = blocked.to(maps.dtype).sum(dim=-1, keepdim=True) >= size
    mask = counts.new_zeros(()).expand_as(counts).masked_fill(blocked & ~fully_blocked, float("-inf"))
    n = mask.shape[0]
    return mask.unsqueeze(1).expand(n, num_heads, size, size).reshape(n * num_heads, size, size)


class GLRM(nn.Module):
    """``features N x E x h x w (+ mask) -> N x E x h x w``: PE (+dropout), then post-LN encoder layers.

    Sequence-first layout as in the official code; this also keeps PyTorch's fused inference path (which
    has no ONNX export) out of the graph.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, num_layers: int, dropout: float, seq_len: int):
        super().__init__()
        self.num_heads = num_heads
        self.register_buffer("pe", sinusoidal_table(seq_len, dim).unsqueeze(1), persistent=False)
        self.pe_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, num_heads, ffn_dim, dropout, activation="gelu")
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)

    def forward(self, features: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        n, e, h, w = features.shape
        x = features.flatten(2).permute(2, 0, 1)  # hw x N x E, row-major positions
        x = self.pe_dropout(x + self.pe)
        x = self.transformer(x, mask=attn_mask)
        return x.permute(1, 2, 0).reshape(n, e, h, w)
