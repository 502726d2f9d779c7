"""LPV: SVTR features refined by three Cascade Position Attention stages and two GLRMs (docs spec-lpv.md).

Data flow (spec §1.1): F0 = SVTR(image); stage 1 reads glimpses R0 from F0; stage k>1 first rebuilds the
map with GLRM_{k-1}(F_{k-1}, mask from A_{k-1}) and seeds its query with R_{k-1}. Each stage has its own
classifier; training supervises all three and inference uses the last.

Slots: the official decoder has T = max_length + 2 query slots with an unsupervised [GO] slot 0. All slots
take part in attention and in the GLRM mask, exactly as upstream, but the outputs drop slot 0: the model
emits ``max_length + 1`` slots (official slots 1..T-1), which line up with the tokenizer's targets
``[c1 .. cl, EOS, PAD ...]``. PAD (0) is the ignore index, as the official [GO]/padding index 0 was.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.base import ModelOutput, RecognitionModel
from scenetext.models.encoders.svtr import SVTR, svtr_preset
from scenetext.models.layers.glrm import GLRM, cooccurrence_mask
from scenetext.models.layers.position_attention import PositionAttention
from scenetext.models.registry import register_model
from scenetext.runtime.charset import PAD

NUM_STAGES = 3


class LPV(RecognitionModel):
    """LPV recognizer over an SVTR encoder.

    ``use_mask`` switches the GLRM co-occurrence mask on (stage-2 training and inference of the released
    models) or off (stage-1 training). It is a plain attribute, so a trainer can flip it between stages.
    """

    normalize = "lpv"
    interpolation = "bicubic"  # the official loader stretches with PIL BICUBIC (spec §3.3)
    charset_layers = ("classifiers.",)

    def __init__(
        self,
        encoder: SVTR,
        num_classes: int,
        max_length: int = 25,
        glrm_layers: int = 2,
        ffn_dim: int = 1024,
        num_heads: int = 8,
        dropout: float = 0.1,
        mask_threshold: float = 0.05,
        use_mask: bool = True,
    ):
        super().__init__()
        dim = encoder.out_dim
        if dim % num_heads or dim % 8:
            raise ScenetextError(f"LPV: width {dim} must be divisible by 8 and by num_heads={num_heads}")
        if max_length < 1:
            raise ScenetextError(f"LPV: max_length must be at least 1, got {max_length}")
        self.num_classes = num_classes
        self.img_size = encoder.img_size
        self.max_length = max_length
        self.num_heads = num_heads
        self.mask_threshold = mask_threshold
        self.use_mask = use_mask
        self.grid: tuple[int, int] = encoder.grid
        num_slots = max_length + 2  # [GO] slot, max_length characters, EOS
        h, w = self.grid

        self.encoder = encoder
        # Official stages, GLRMs and heads are deep copies, so each group starts from identical weights.
        attention = PositionAttention(dim, num_slots, self.grid)
        self.position_attention = nn.ModuleList(copy.deepcopy(attention) for _ in range(NUM_STAGES))
        glrm = GLRM(dim, num_heads, ffn_dim, glrm_layers, dropout, h * w)
        self.glrm = nn.ModuleList(copy.deepcopy(glrm) for _ in range(NUM_STAGES - 1))
        classifier = nn.Linear(dim, num_classes)
        self.classifiers = nn.ModuleList(copy.deepcopy(classifier) for _ in range(NUM_STAGES))

    def forward(
        self, images: Tensor, targets: Tensor | None = None, return_attention: bool = False
    ) -> ModelOutput:
        """Logits ``N x (max_length+1) x C`` of the last stage; ``aux["stage_logits"]`` is ``3 x N x T x C``.

        ``targets`` is unused: LPV decodes a fixed number of slots in training and inference alike.
        ``return_attention`` adds the last stage's CPA maps ``N x (max_length+1) x h x w``.
        """
        tokens = self.encoder(images)
        n, _, dim = tokens.shape
        features = tokens.transpose(1, 2).reshape(n, dim, *self.grid)
        glimpses: Tensor | None = None
        maps: Tensor | None = None
        stage_logits = []
        for stage, (attention, classifier) in enumerate(
            zip(self.position_attention, self.classifiers, strict=True)
        ):
            if stage > 0:
                mask = cooccurrence_mask(maps, self.num_heads, self.mask_threshold) if self.use_mask else None
                features = self.glrm[stage - 1](features, mask)
            glimpses, maps = attention(features, glimpses)
            stage_logits.append(classifier(glimpses[:, 1:]))  # slot 0 is the unsupervised [GO] slot
        return ModelOutput(
            logits=stage_logits[-1],
            attention=maps[:, 1:] if return_attention else None,
            aux={"stage_logits": torch.stack(stage_logits)},
        )

    def loss(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Mean of the three stages' cross-entropies over non-PAD slots (official: one mean over the
        concatenated stages, which is the same because every stage has the same valid tokens)."""
        stage_logits = output.aux["stage_logits"]
        slots = stage_logits.shape[2]
        if targets.shape[1] > slots:
            raise ScenetextError(
                f"LPV: targets have {targets.shape[1]} slots but the model emits {slots} "
                f"(labels longer than max_length={self.max_length})"
            )
        length = targets.shape[1]
        flat_targets = targets.reshape(-1)
        losses = {
            f"stage{k + 1}": F.cross_entropy(
                logits[:, :length].reshape(-1, logits.shape[-1]), flat_targets, ignore_index=PAD
            )
            for k, logits in enumerate(stage_logits)
        }
        return {"loss": sum(losses.values()) / len(losses), **losses}


# Paper configurations (spec §1.2, §1.4, §4): SVTR size, GLRM depth (the official --trans_ln) and FFN width.
_LPV_SIZES = {
    "micro": {"glrm_layers": 1, "ffn_dim": 512},
    "tiny": {"glrm_layers": 2, "ffn_dim": 1024},
    "small": {"glrm_layers": 3, "ffn_dim": 1024},
    "base": {"glrm_layers": 3, "ffn_dim": 1536},
}


def build_lpv(
    size: str,
    num_classes: int,
    img_size: tuple[int, int] | None = None,
    drop_path_rate: float = 0.1,
    **options,
) -> LPV:
    """LPV at a paper size ("tiny", "small", "base"); ``img_size`` defaults to the paper's input
    (32x100, 32x100, 48x160). ``options`` override LPV arguments (max_length, use_mask, glrm_layers, ...)."""
    encoder = svtr_preset(size, variant="lpv", img_size=img_size, drop_path_rate=drop_path_rate)
    return LPV(encoder, num_classes, **{**_LPV_SIZES[size], **options})


@register_model("lpv-tiny")
def lpv_tiny(num_classes: int, **overrides) -> LPV:
    """LPV-Tiny: SVTR-T, 32x100 input (8x25 grid), 2 GLRM layers, d_model 256, FFN 1024."""
    return build_lpv("tiny", num_classes, **overrides)


@register_model("lpv-small")
def lpv_small(num_classes: int, **overrides) -> LPV:
    """LPV-Small: SVTR-S, 32x100 input (8x25 grid), 3 GLRM layers, d_model 256, FFN 1024."""
    return build_lpv("small", num_classes, **overrides)


@register_model("lpv-base")
def lpv_base(num_classes: int, **overrides) -> LPV:
    """LPV-Base: SVTR-B, 48x160 input (6x40 grid), 3 GLRM layers, d_model 384, FFN 1536."""
    return build_lpv("base", num_classes, **overrides)


@register_model("lpv-svtr-micro")
def lpv_svtr_micro(num_classes: int, **overrides) -> LPV:
    """LPV on the SVTR-micro preset that nastr-tiny and ar-tiny use (LPV's own merging: an 8 x 25 grid at
    32x100), one GLRM layer, FFN 512: the three decoders on one encoder size. Not from the paper."""
    return build_lpv("micro", num_classes, **overrides)


@register_model("lpv-micro")
def lpv_micro(
    num_classes: int,
    img_size: tuple[int, int] = (32, 64),
    drop_path_rate: float = 0.0,
    **options,
) -> LPV:
    """A CPU-sized LPV for tests and quick experiments: 3-block SVTR ending at width 96 (8x16 grid at
    32x64), one GLRM layer with FFN 192; the decoder structure is the full one."""
    encoder = SVTR(
        img_size=img_size,
        embed_dims=(32, 64, 96),
        depths=(1, 1, 1),
        num_heads=(2, 2, 3),
        mixer=("local", "local", "global"),
        merge_strides=((1, 1), (1, 1)),
        drop_path_rate=drop_path_rate,
    )
    return LPV(encoder, num_classes, **{"glrm_layers": 1, "ffn_dim": 192, **options})
