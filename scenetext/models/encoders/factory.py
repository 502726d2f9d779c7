"""Encoders by name, for recognizers that pair any encoder with their decoder (NASTR, autoregressive)."""

from __future__ import annotations

from torch import Tensor, nn

from scenetext.models.encoders.svtr import svtr_preset, svtr_preset_names
from scenetext.models.encoders.vit import ViT

# ViT-S is MAERec-S as NASTR uses it; vit-micro is a CPU-sized stand-in for tests, not from the papers.
_VITS = {
    "vit-small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "vit-micro": {"embed_dim": 128, "depth": 2, "num_heads": 4},
}


def encoder_names() -> list[str]:
    """Names accepted by ``build_encoder``: ``svtr-<size>`` with NASTR's merge strides, and the ViTs."""
    return [f"svtr-{size}" for size in svtr_preset_names()] + sorted(_VITS)


def build_encoder(name: str, img_size: tuple[int, int], drop_path_rate: float = 0.1) -> nn.Module:
    """SVTR (NASTR's [[2,2],[1,1]] merging, H/8 x W/8 grid) or a MAERec-style ViT (patch 4, CLS token)."""
    if name in _VITS:
        return ViT(img_size=img_size, **_VITS[name])
    if name.startswith("svtr-") and name[5:] in svtr_preset_names():
        return svtr_preset(name[5:], "nastr", img_size=img_size, drop_path_rate=drop_path_rate)
    raise ValueError(f"unknown encoder {name!r}; available: {', '.join(encoder_names())}")


def split_tokens(encoder: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """(global feature N x E, grid tokens N x hw x E): the CLS output for a ViT, the token mean for SVTR."""
    if getattr(encoder, "num_prefix_tokens", 0):
        return tokens[:, 0], tokens[:, encoder.num_prefix_tokens :]
    return tokens.mean(dim=1), tokens
