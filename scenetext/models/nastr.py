"""NASTR: non-autoregressive recognition with global-to-local attention (spec-nastr.md §1, §2).

One global feature of the image (SVTR: mean of the final tokens; ViT: the CLS output) is copied T times and
given a sinusoidal position encoding; these copies are the queries of a post-LN Transformer decoder whose
self-attention is unmasked and whose cross-attention reads the encoder tokens (plus the same sinusoidal
encoding). A linear head predicts every position in one pass.

Number of queries T (the official method, reproduced on purpose, spec §8.11):
- training with targets: T = targets.shape[1] = batch max length + 1 (the EOS slot), so T changes per batch;
- otherwise (inference, validation, export): T = ``max_length + 1``, fixed.
``max_length`` follows the model contract (characters decoded with room for EOS). The official inference
query counts, 25 (English) and 120 (Chinese), are therefore ``max_length`` 24 and 119; the official training
filters (25 and 120 characters) allow one more character, which the decoder still reads when no position
predicts EOS.

Constraint branches, each switched on independently, run only when targets are given (never at inference):
- length predictor (``length_predictor``): MLP on the global feature, CE on the character count;
- disordered character predictor (``char_predictor``, the paper's DCP, official ``coarse_predictor``): MLP on
  the global feature, KL to the frequency-normalised bag of characters (batchmean);
- image-text contrastive learning (``itc``): a post-LN Transformer text encoder over the SOS-prefixed target
  (PAD keys masked, no causal mask), mean-pooled over all but the last position, symmetric InfoNCE with a
  fixed temperature and no projection heads.
The official English model builds the length/DCP heads and the text embedding without using them;
``keep_unused_heads=True`` reproduces that layout (parameter count, strict loading of released weights).

Fixes of official bugs (spec §8):
- §8.7: no ``.squeeze()``; every reduction names its dimension, so a batch of one trains.
- §8.8: the 120-way length head cannot represent a length of 120; length targets are clamped to the last
  class (with ``max_length`` <= ``length_classes - 1``, as in the presets, no valid label is affected).
- §8.10: PAD and SOS are never predicted at inference: their logits are set to -inf outside training (the
  fine loss never targets them, so training is unchanged).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.base import ModelOutput, RecognitionModel
from scenetext.models.encoders.factory import build_encoder, split_tokens
from scenetext.models.registry import config_from_options, register_model
from scenetext.models.transformer import Decoder, PositionalEncoding
from scenetext.runtime.charset import PAD, SOS


@dataclass
class NASTRConfig:
    """Build options; defaults are the official English SVTR-B model (fine CE only)."""

    encoder: str = "svtr-base"
    img_size: tuple[int, int] = (32, 128)
    max_length: int = 24
    decoder_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1536
    dropout: float = 0.1
    drop_path_rate: float = 0.1
    length_predictor: bool = False
    length_classes: int = 120
    char_predictor: bool = False
    itc: bool = False
    text_layers: int = 2
    temperature: float = 0.07
    keep_unused_heads: bool = False
    fine_weight: float = 1.0
    char_weight: float = 1.0
    length_weight: float = 0.1
    itc_weight: float = 1.0

    def __post_init__(self) -> None:
        self.img_size = (int(self.img_size[0]), int(self.img_size[1]))
        if self.max_length < 1:
            raise ScenetextError(f"max_length must be at least 1, got {self.max_length}")
        if self.temperature <= 0:
            raise ScenetextError(f"temperature must be positive, got {self.temperature}")


def constraint_mlp(dim: int, out_features: int) -> nn.Sequential:
    """Linear -> ReLU -> Dropout(0.5) -> Linear: the official length and coarse predictor (``net.{0,3}``)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(0.5), nn.Linear(dim, out_features))


class NASTR(RecognitionModel):
    """NASTR recognizer; see the module docstring for T, the constraint switches and the bug fixes."""

    normalize = "nastr"

    charset_layers = ("fine_predictor.", "coarse_predictor.3.", "text_embedding.")

    def __init__(self, num_classes: int, config: NASTRConfig | None = None) -> None:
        super().__init__()
        config = config or NASTRConfig()
        self.config = config
        self.num_classes = num_classes
        self.img_size = config.img_size
        self.max_length = config.max_length
        self.encoder = build_encoder(config.encoder, config.img_size, config.drop_path_rate)
        dim = self.encoder.out_dim
        if dim % config.num_heads:
            raise ScenetextError(f"decoder width {dim} is not divisible by num_heads={config.num_heads}")
        self.grid: tuple[int, int] = self.encoder.grid
        self.position = PositionalEncoding(dim, config.dropout)
        self.decoder = Decoder(dim, config.num_heads, config.ffn_dim, config.decoder_layers, config.dropout)
        self.fine_predictor = nn.Linear(dim, num_classes)
        keep = config.keep_unused_heads
        self.length_predictor = (
            constraint_mlp(dim, config.length_classes) if config.length_predictor or keep else None
        )
        self.coarse_predictor = constraint_mlp(dim, num_classes) if config.char_predictor or keep else None
        self.text_embedding = nn.Embedding(num_classes, dim) if config.itc or keep else None
        self.text_encoder = (
            nn.TransformerEncoder(
                nn.TransformerEncoderLayer(
                    dim, config.num_heads, config.ffn_dim, config.dropout, batch_first=True
                ),
                config.text_layers,
                enable_nested_tensor=False,
            )
            if config.itc
            else None
        )
        never = torch.zeros(num_classes, dtype=torch.bool)
        never[[PAD, SOS]] = True
        self.register_buffer("never_decoded", never, persistent=False)

    @property
    def options(self) -> dict[str, Any]:
        """The build options, as ``build_model`` accepts them."""
        return asdict(self.config)

    def forward(
        self,
        images: Tensor,
        targets: Tensor | None = None,
        return_attention: bool = False,
    ) -> ModelOutput:
        global_feature, tokens = split_tokens(self.encoder, self.encoder(images))
        memory = self.position(tokens)
        steps = targets.shape[1] if self.training and targets is not None else self.max_length + 1
        queries = self.position(global_feature.unsqueeze(1).expand(-1, steps, -1))
        hidden, weights = self.decoder(queries, memory, need_weights=return_attention)
        logits = self.fine_predictor(hidden)
        if not self.training:
            logits = logits.masked_fill(self.never_decoded, float("-inf"))
        attention = None
        if weights is not None:
            attention = weights.reshape(weights.shape[0], steps, self.grid[0], self.grid[1])
        aux: dict[str, Tensor] = {}
        if targets is not None:
            aux["global"] = global_feature
            if self.config.length_predictor:
                aux["length_logits"] = self.length_predictor(global_feature)
            if self.config.char_predictor:
                aux["char_logits"] = self.coarse_predictor(global_feature)
            if self.config.itc:
                aux["text_global"] = self.encode_text(targets)
        return ModelOutput(logits=logits, attention=attention, aux=aux)

    def encode_text(self, targets: Tensor) -> Tensor:
        """Text global feature N x d of the SOS-prefixed targets (official pooling: mean of all but the last
        position, PAD outputs included, spec §1.5 and §8.9)."""
        tokens = torch.cat([targets.new_full((targets.shape[0], 1), SOS), targets], dim=1)
        hidden = self.text_encoder(
            self.position(self.text_embedding(tokens)), src_key_padding_mask=tokens == PAD
        )
        return hidden[:, :-1].mean(dim=1)

    def loss(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Fine CE (token mean over characters + EOS) plus the enabled constraint losses, weighted."""
        config = self.config
        fine = fine_cross_entropy(output.logits, targets)
        losses = {"fine": fine}
        total = config.fine_weight * fine
        lengths = (targets != PAD).sum(dim=1) - 1
        if "length_logits" in output.aux:
            classes = output.aux["length_logits"].shape[-1]
            losses["length"] = F.cross_entropy(output.aux["length_logits"], lengths.clamp(0, classes - 1))
            total = total + config.length_weight * losses["length"]
        if "char_logits" in output.aux:
            losses["dcp"] = bag_of_characters_kl(output.aux["char_logits"], targets, lengths)
            total = total + config.char_weight * losses["dcp"]
        if "text_global" in output.aux:
            losses["itc"] = contrastive_loss(
                output.aux["global"], output.aux["text_global"], config.temperature
            )
            total = total + config.itc_weight * losses["itc"]
        losses["loss"] = total
        return losses


def fine_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """CE over each sample's characters and its EOS (non-PAD targets), averaged over all those tokens."""
    width = min(logits.shape[1], targets.shape[1])
    logits, targets = logits[:, :width], targets[:, :width]
    supervised = targets != PAD
    return F.cross_entropy(logits[supervised].float(), targets[supervised])


def bag_of_characters_kl(char_logits: Tensor, targets: Tensor, lengths: Tensor) -> Tensor:
    """KL(q || softmax(logits)), batchmean, with q the per-label character frequencies count / length."""
    counts = torch.zeros_like(char_logits, dtype=torch.float32)
    counts.scatter_add_(1, targets, (targets > SOS).float())
    soft = counts / lengths.clamp(min=1).unsqueeze(1).float()
    return F.kl_div(F.log_softmax(char_logits.float(), dim=-1), soft, reduction="batchmean")


def contrastive_loss(image: Tensor, text: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE on L2-normalised features, in-batch negatives, fixed temperature."""
    similarity = F.normalize(image.float(), dim=-1) @ F.normalize(text.float(), dim=-1).t() / temperature
    labels = torch.arange(similarity.shape[0], device=similarity.device)
    return 0.5 * (F.cross_entropy(similarity, labels) + F.cross_entropy(similarity.t(), labels))


def build_nastr(name: str, num_classes: int, defaults: dict[str, Any], options: dict[str, Any]) -> NASTR:
    """A NASTR from a preset's defaults and user options."""
    config = config_from_options(name, NASTRConfig, defaults, options)
    try:
        return NASTR(num_classes, config)
    except ValueError as exc:
        raise ScenetextError(f"model {name!r}: {exc}") from None


# Chinese (BCTR) configuration: 32x256 input, 120 queries, DCP + 0.1 LP + ITC with a 2-layer text encoder.
_ZH = {
    "img_size": (32, 256),
    "max_length": 119,
    "length_predictor": True,
    "char_predictor": True,
    "itc": True,
    "text_layers": 2,
}


@register_model("nastr-svtr-base")
def nastr_svtr_base(num_classes: int, **overrides: Any) -> NASTR:
    """Official English NASTR: SVTR-B, 32x128, 25 queries at inference, fine CE only."""
    return build_nastr("nastr-svtr-base", num_classes, {}, overrides)


@register_model("nastr-vit-small")
def nastr_vit_small(num_classes: int, **overrides: Any) -> NASTR:
    """Official English NASTR with the MAERec-style ViT-S encoder."""
    return build_nastr("nastr-vit-small", num_classes, {"encoder": "vit-small"}, overrides)


@register_model("nastr-svtr-base-zh")
def nastr_svtr_base_zh(num_classes: int, **overrides: Any) -> NASTR:
    """Official Chinese NASTR (BCTR Scene): SVTR-B at 32x256 with all three constraints."""
    return build_nastr("nastr-svtr-base-zh", num_classes, _ZH, overrides)


@register_model("nastr-vit-small-zh")
def nastr_vit_small_zh(num_classes: int, **overrides: Any) -> NASTR:
    """Official Chinese NASTR with the ViT-S encoder."""
    return build_nastr("nastr-vit-small-zh", num_classes, {**_ZH, "encoder": "vit-small"}, overrides)


@register_model("nastr-tiny")
def nastr_tiny(num_classes: int, **overrides: Any) -> NASTR:
    """CPU-sized NASTR for tests and quick experiments: SVTR-micro (128-d), 2 decoder layers, 4 heads."""
    defaults = {
        "encoder": "svtr-micro",
        "decoder_layers": 2,
        "num_heads": 4,
        "ffn_dim": 512,
        "text_layers": 1,
    }
    return build_nastr("nastr-tiny", num_classes, defaults, overrides)
