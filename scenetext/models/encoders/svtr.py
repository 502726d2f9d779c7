"""SVTR encoder as the NASTR and LPV official code use it (a PyTorch port of PaddleOCR's SVTRNet).

Facts from the specs (spec-nastr.md §1.2, spec-lpv.md §1.2):
- stem: two Conv3x3 stride 2 (with bias) + BatchNorm + GELU, so the token grid is H/4 x W/4;
- learned absolute position embedding over that grid (truncated normal, std 0.02);
- pre-LN blocks (the official flag ``prenorm=False``) with a final LayerNorm (eps 1e-6), 4x GELU MLP;
- "Local" mixers are full attention plus an additive 7x11 window mask, "Global" mixers are plain attention;
- patch merging between stages: Conv3x3 (stride from the config) + LayerNorm with the default eps 1e-5;
- stochastic depth rising linearly from 0 to 0.1 over all blocks.

Module names follow the official state dicts (``patch_embed.proj.{0,1}.{conv,norm}``, ``pos_embed``,
``blocks{1,2,3}.i.{norm1,mixer.{qkv,proj,mask},norm2,mlp.{fc1,fc2}}``, ``sub_sample{1,2}.{conv,norm}``,
``norm``), so released weights load without renaming inside the encoder. The official local mask is an
``nn.Parameter`` with ``requires_grad=False``; here it is a registered buffer under the same key, so it is
in the state dict (and loads from official checkpoints) but is never a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenetext.errors import ScenetextError

LOCAL = "local"
GLOBAL = "global"

# Per-size architecture shared by both papers; the variants differ only in merge strides and input size.
# "micro" is not from either paper: a CPU-sized encoder for tests and quick experiments.
_PRESETS: dict[str, dict] = {
    "micro": {
        "embed_dims": (32, 64, 128),
        "depths": (1, 2, 2),
        "num_heads": (1, 2, 4),
        "mixer": (LOCAL,) * 2 + (GLOBAL,) * 3,
    },
    "tiny": {
        "embed_dims": (64, 128, 256),
        "depths": (3, 6, 3),
        "num_heads": (2, 4, 8),
        "mixer": (LOCAL,) * 6 + (GLOBAL,) * 6,
    },
    "small": {
        "embed_dims": (96, 192, 256),
        "depths": (3, 6, 6),
        "num_heads": (3, 6, 8),
        "mixer": (LOCAL,) * 8 + (GLOBAL,) * 7,
    },
    "base": {
        "embed_dims": (128, 256, 384),
        "depths": (3, 6, 9),
        "num_heads": (4, 8, 12),
        "mixer": (LOCAL,) * 8 + (GLOBAL,) * 10,
    },
}

# NASTR merges with [[2,2],[1,1]] (H/8 x W/8 grid) at every size; LPV keeps the grid for tiny/small and
# halves the height once for base.
_MERGE_STRIDES: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "nastr": {name: ((2, 2), (1, 1)) for name in _PRESETS},
    "lpv": {
        "micro": ((1, 1), (1, 1)),
        "tiny": ((1, 1), (1, 1)),
        "small": ((1, 1), (1, 1)),
        "base": ((2, 1), (1, 1)),
    },
}

_DEFAULT_IMG_SIZE: dict[str, dict[str, tuple[int, int]]] = {
    "nastr": {name: (32, 128) for name in _PRESETS},
    "lpv": {"micro": (32, 100), "tiny": (32, 100), "small": (32, 100), "base": (48, 160)},
}


def _conv_out(size: int, stride: int) -> int:
    """Output length of a 3x3 convolution with padding 1."""
    return (size - 1) // stride + 1


def local_attention_mask(grid: tuple[int, int], window: tuple[int, int]) -> Tensor:
    """Additive mask (1 x 1 x hw x hw): 0 inside the centred ``window`` (h x w) around a query, else -inf.

    Windows are clipped at the grid border, as in the official mask built from a padded canvas.
    """
    h, w = grid
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    inside = ((rows[:, None] - rows[None, :]).abs() <= window[0] // 2) & (
        (cols[:, None] - cols[None, :]).abs() <= window[1] // 2
    )
    mask = torch.zeros(h * w, h * w).masked_fill(~inside, float("-inf"))
    return mask[None, None]


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample with probability ``p`` in training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ConvBN(nn.Module):
    """Conv3x3 (with bias) + BatchNorm + GELU: one stem layer (official ``ConvBNLayer``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=True)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class PatchEmbed(nn.Module):
    """Two stride-2 ConvBN layers: image -> (H/4 x W/4) feature map."""

    def __init__(self, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(ConvBN(in_channels, embed_dim // 2), ConvBN(embed_dim // 2, embed_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class MixerAttention(nn.Module):
    """Multi-head self-attention; with ``grid`` set it becomes the Local mixer (additive window mask)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int] | None = None,
        window: tuple[int, int] = (7, 11),
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"SVTR width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.mask: Tensor | None
        if grid is not None:
            self.register_buffer("mask", local_attention_mask(grid, window))
        else:
            self.mask = None

    def forward(self, x: Tensor) -> Tensor:
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        mask = None if self.mask is None else self.mask.to(qkv.dtype)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, 4x wide."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block: x + DropPath(Mixer(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mixer: str,
        grid: tuple[int, int],
        window: tuple[int, int],
        mlp_ratio: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mixer = MixerAttention(dim, num_heads, grid if mixer == LOCAL else None, window)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SubSample(nn.Module):
    """Patch merging: Conv3x3 (stride from the config, with bias) + LayerNorm (eps 1e-5), no activation."""

    def __init__(self, in_dim: int, out_dim: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=stride, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x).flatten(2).transpose(1, 2))


class SVTR(nn.Module):
    """SVTR encoder: images N x 3 x H x W -> tokens N x (h*w) x out_dim after the final LayerNorm.

    ``img_size`` fixes the position embedding and the local masks; ``grid`` is the output (h, w), tokens
    are row-major (index = row * w + col). ``mixer`` lists "local"/"global" per block over all stages.
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        embed_dims: Sequence[int],
        depths: Sequence[int],
        num_heads: Sequence[int],
        mixer: Sequence[str],
        merge_strides: Sequence[tuple[int, int]],
        local_window: tuple[int, int] = (7, 11),
        drop_path_rate: float = 0.1,
        mlp_ratio: float = 4.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        mixer = [m.lower() for m in mixer]
        stages = len(depths)
        if not (len(embed_dims) == len(num_heads) == stages and len(merge_strides) == stages - 1):
            raise ValueError(
                "SVTR: embed_dims, depths and num_heads need one entry per stage, merge_strides one less"
            )
        if len(mixer) != sum(depths) or set(mixer) - {LOCAL, GLOBAL}:
            raise ValueError(
                f"SVTR: mixer must list {sum(depths)} entries of 'local'/'global', got {list(mixer)}"
            )
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.embed_dims = tuple(embed_dims)
        self.out_dim = embed_dims[-1]

        self.patch_embed = PatchEmbed(in_channels, embed_dims[0])
        grid = (_conv_out(_conv_out(self.img_size[0], 2), 2), _conv_out(_conv_out(self.img_size[1], 2), 2))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1], embed_dims[0]))
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]

        stage_grids = []
        first = 0
        for stage in range(stages):
            if stage > 0:
                stride = tuple(merge_strides[stage - 1])
                merge = SubSample(embed_dims[stage - 1], embed_dims[stage], stride)
                setattr(self, f"sub_sample{stage}", merge)
                grid = (_conv_out(grid[0], stride[0]), _conv_out(grid[1], stride[1]))
            stage_grids.append(grid)
            blocks = nn.ModuleList(
                Block(
                    embed_dims[stage],
                    num_heads[stage],
                    mixer[first + i],
                    grid,
                    local_window,
                    mlp_ratio,
                    rates[first + i],
                )
                for i in range(depths[stage])
            )
            setattr(self, f"blocks{stage + 1}", blocks)
            first += depths[stage]
        self.stage_grids: tuple[tuple[int, int], ...] = tuple(stage_grids)
        self.grid = grid
        self.norm = nn.LayerNorm(self.out_dim, eps=1e-6)

        trunc_normal_(self.pos_embed, std=0.02)
        self.apply(_init_weights)

    def forward(self, images: Tensor) -> Tensor:
        if not torch.jit.is_tracing() and tuple(images.shape[-2:]) != self.img_size:
            raise ScenetextError(
                f"SVTR built for {self.img_size[0]}x{self.img_size[1]} images, got "
                f"{images.shape[-2]}x{images.shape[-1]} (the position embedding and local masks fix the size)"
            )
        x = self.patch_embed(images)
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        for stage in range(len(self.stage_grids)):
            if stage > 0:
                h, w = self.stage_grids[stage - 1]
                x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)
                x = getattr(self, f"sub_sample{stage}")(x)
            for block in getattr(self, f"blocks{stage + 1}"):
                x = block(x)
        return self.norm(x)


def trunc_normal_(tensor: Tensor, std: float = 0.02) -> Tensor:
    """The official ``trunc_normal_(std=0.02)``: a normal truncated at the absolute bounds +-2.

    At std 0.02 those bounds lie 100 standard deviations out, so a plain normal draw is the same
    distribution; it avoids the inverse-CDF sampler, which takes seconds for SVTR-B on a CPU.
    """
    with torch.no_grad():
        return tensor.normal_(0.0, std)


def _init_weights(module: nn.Module) -> None:
    """Official SVTR init: trunc-normal Linear, Kaiming fan-out Conv, unit norms, zero biases."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def svtr_preset_names() -> list[str]:
    """Sizes accepted by ``svtr_preset``."""
    return sorted(_PRESETS)


def svtr_preset(
    name: str,
    variant: str = "nastr",
    img_size: tuple[int, int] | None = None,
    **overrides,
) -> SVTR:
    """SVTR tiny/small/base as configured by NASTR (``variant="nastr"``) or LPV (``variant="lpv"``).

    ``img_size`` defaults to the paper's input (NASTR 32x128; LPV 32x100 tiny/small, 48x160 base);
    ``overrides`` replace any other SVTR argument (e.g. ``drop_path_rate``).
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown SVTR size {name!r}; available: {', '.join(svtr_preset_names())}")
    if variant not in _MERGE_STRIDES:
        raise ValueError(f"unknown SVTR variant {variant!r}; available: {', '.join(sorted(_MERGE_STRIDES))}")
    kwargs = dict(_PRESETS[name], merge_strides=_MERGE_STRIDES[variant][name])
    kwargs["img_size"] = tuple(img_size) if img_size is not None else _DEFAULT_IMG_SIZE[variant][name]
    kwargs.update(overrides)
    return SVTR(**kwargs)
