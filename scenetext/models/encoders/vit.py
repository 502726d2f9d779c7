"""ViT-S encoder in the MAERec style, as NASTR uses it (spec-nastr.md §1.2).

Patch 4, width 384, depth 12, 6 heads, MLP ratio 4, qkv bias, LayerNorm eps 1e-6, a CLS token and a learned
position embedding that covers the CLS token too. The forward returns the whole final-LN token sequence
(CLS first); there is no head, fc_norm or pooling. Parameter names are timm's (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``) so
MAE-pretrained and official NASTR weights load by name. Unlike the official code, the input size comes
from the config instead of being hard-coded per language.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.checkpoints import LoadReport, load_matching, read_checkpoint
from scenetext.models.encoders.svtr import MixerAttention, Mlp, trunc_normal_

logger = logging.getLogger(__name__)


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` convolution: image -> (H/p x W/p) tokens."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Block(nn.Module):
    """Pre-LN transformer block (timm ``Block`` without layer scale or drop-path, which NASTR leaves off)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MixerAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViT encoder: images N x 3 x H x W -> tokens N x (1 + h*w) x out_dim (CLS first, after the final LN).

    ``grid`` is the patch grid (h, w) = (H / patch, W / patch); ``num_prefix_tokens`` is 1 (the CLS token).
    """

    num_prefix_tokens = 1

    def __init__(
        self,
        img_size: tuple[int, int] = (32, 128),
        patch_size: int = 4,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if img_size[0] % patch_size or img_size[1] % patch_size:
            raise ValueError(
                f"ViT input {img_size[0]}x{img_size[1]} is not a multiple of the patch size {patch_size}"
            )
        if embed_dim % num_heads:
            raise ValueError(f"ViT width {embed_dim} is not divisible by {num_heads} heads")
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.patch_size = patch_size
        self.grid = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.out_dim = embed_dim
        self.patch_embed = PatchEmbed(in_channels, embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], embed_dim))
        self.blocks = nn.Sequential(*(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        """timm defaults: pos_embed trunc-normal .02, CLS normal 1e-6, Linear trunc-normal .02, zero bias."""
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> Tensor:
        if not torch.jit.is_tracing() and tuple(images.shape[-2:]) != self.img_size:
            raise ScenetextError(
                f"ViT built for {self.img_size[0]}x{self.img_size[1]} images, got "
                f"{images.shape[-2]}x{images.shape[-1]}"
            )
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))

    def load_mae_pretrained(self, source: str | Path | dict[str, Any]) -> LoadReport:
        """Load MAE-pretrained ViT weights (timm names; a bare state dict or ``{"model": state_dict}``).

        As the official loader does, ``head.*`` and every key containing "decoder" (the MAE decoder) are
        dropped and the rest loads non-strictly. A position embedding for another patch grid is resized
        bicubically (the CLS entry kept). Returns, and logs, what was missing, unexpected or skipped.
        """
        state = read_checkpoint(source)
        dropped = sorted(k for k in state if k.startswith("head.") or "decoder" in k)
        state = {k: v for k, v in state.items() if k not in dropped}
        if "pos_embed" in state and state["pos_embed"].shape != self.pos_embed.shape:
            state["pos_embed"] = resize_pos_embed(state["pos_embed"], self.grid)
        report = load_matching(self, state)
        report.dropped.extend(dropped)
        logger.info("MAE weights into ViT: %s", report.summary())
        return report


def resize_pos_embed(pos_embed: Tensor, grid: tuple[int, int]) -> Tensor:
    """Bicubically resize a (1, 1 + n, E) embedding to ``grid``; the old grid keeps the new grid's height
    when n is divisible by it (text-line ViTs), else it is taken as square."""
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]
    n = patches.shape[1]
    if n % grid[0] == 0:
        old = (grid[0], n // grid[0])
    else:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"cannot infer the patch grid of a position embedding with {n} patches")
        old = (side, side)
    dim = patches.shape[-1]
    patches = patches.reshape(1, old[0], old[1], dim).permute(0, 3, 1, 2).float()
    patches = F.interpolate(patches, size=grid, mode="bicubic", align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], dim).to(pos_embed.dtype)
    return torch.cat([cls, patches], dim=1)
