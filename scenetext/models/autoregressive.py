"""Autoregressive baseline: the sequential counterpart NASTR is compared against.

Same encoders, same encoder memory (tokens plus the sinusoidal encoding; the ViT's CLS token dropped), same
post-LN decoder layers and linear head as NASTR. What differs is only the decoding: the queries are the
embeddings of the previous tokens (SOS first) under a causal self-attention mask, trained with teacher forcing
and decoded greedily one position at a time. Measuring "parallel vs autoregressive" inside the toolkit then
isolates the decoding scheme. Token embeddings keep PyTorch's N(0, 1) init without sqrt(d) scaling, like
NASTR's text embedding.

Number of positions: training with targets, T = targets.shape[1] (teacher-forced over SOS + the shifted
target); otherwise greedy decoding for up to ``max_length + 1`` steps, stopping as soon as every sequence
has emitted EOS (``early_stop``), so the logits may have fewer than ``max_length + 1`` positions. Under
ONNX export or tracing the loop always runs ``max_length + 1`` steps (a fixed-size graph).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from scenetext.errors import ScenetextError
from scenetext.models.base import ModelOutput, RecognitionModel
from scenetext.models.encoders.factory import build_encoder, split_tokens
from scenetext.models.nastr import fine_cross_entropy
from scenetext.models.registry import config_from_options, register_model
from scenetext.models.transformer import Decoder, PositionalEncoding, causal_mask
from scenetext.runtime.charset import EOS, PAD, SOS


@dataclass
class AutoregressiveConfig:
    """Build options; the decoder defaults match NASTR's (4 layers, 8 heads, FFN 1536, dropout 0.1)."""

    encoder: str = "svtr-base"
    img_size: tuple[int, int] = (32, 128)
    max_length: int = 24
    decoder_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1536
    dropout: float = 0.1
    drop_path_rate: float = 0.1
    early_stop: bool = True

    def __post_init__(self) -> None:
        self.img_size = (int(self.img_size[0]), int(self.img_size[1]))
        if self.max_length < 1:
            raise ScenetextError(f"max_length must be at least 1, got {self.max_length}")


class AutoregressiveRecognizer(RecognitionModel):
    """Transformer decoder with causal self-attention over token embeddings; greedy decoding at inference."""

    normalize = "nastr"
    charset_layers = ("token_embedding.", "classifier.")

    def __init__(self, num_classes: int, config: AutoregressiveConfig | None = None) -> None:
        super().__init__()
        config = config or AutoregressiveConfig()
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
        self.token_embedding = nn.Embedding(num_classes, dim)
        self.decoder = Decoder(dim, config.num_heads, config.ffn_dim, config.decoder_layers, config.dropout)
        self.classifier = nn.Linear(dim, num_classes)
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
        memory = self.position(split_tokens(self.encoder, self.encoder(images))[1])
        if self.training and targets is not None:
            logits, weights = self._teacher_forced(memory, targets, return_attention)
        else:
            logits, weights = self._greedy(memory, return_attention)
        attention = None
        if weights is not None:
            attention = weights.reshape(weights.shape[0], weights.shape[1], self.grid[0], self.grid[1])
        return ModelOutput(logits=logits, attention=attention)

    def _teacher_forced(
        self, memory: Tensor, targets: Tensor, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Logits N x (L+1) x C for inputs [SOS, c1 .. cl, EOS, PAD ...] shifted right by one."""
        inputs = torch.cat([targets.new_full((targets.shape[0], 1), SOS), targets[:, :-1]], dim=1)
        queries = self.position(self.token_embedding(inputs))
        mask = causal_mask(inputs.shape[1], device=memory.device).to(memory.dtype)
        hidden, weights = self.decoder(queries, memory, mask, need_weights)
        return self.classifier(hidden), weights

    def _greedy(self, memory: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """Greedy decoding; each step re-runs the decoder on the whole prefix (no cache: T is small)."""
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        stop_early = self.config.early_stop and not tracing
        tokens = torch.full((memory.shape[0], 1), SOS, dtype=torch.long, device=memory.device)
        ended = torch.zeros(memory.shape[0], dtype=torch.bool, device=memory.device)
        logits: list[Tensor] = []
        maps: list[Tensor] = []
        for step in range(self.max_length + 1):
            queries = self.position(self.token_embedding(tokens))
            mask = causal_mask(step + 1, device=memory.device).to(memory.dtype)
            hidden, weights = self.decoder(queries, memory, mask, need_weights)
            step_logits = self.classifier(hidden[:, -1])
            if not self.training:
                step_logits = step_logits.masked_fill(self.never_decoded, float("-inf"))
            logits.append(step_logits)
            if weights is not None:
                maps.append(weights[:, -1])
            next_token = step_logits.argmax(dim=-1)
            tokens = torch.cat([tokens, next_token.unsqueeze(1)], dim=1)
            if stop_early:
                ended = ended | (next_token == EOS)
                if bool(ended.all()):
                    break
        return torch.stack(logits, dim=1), (torch.stack(maps, dim=1) if maps else None)

    def loss(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Token-mean CE over each sample's characters and EOS, as NASTR's fine loss."""
        fine = fine_cross_entropy(output.logits, targets)
        return {"loss": fine, "fine": fine}


def build_autoregressive(
    name: str, num_classes: int, defaults: dict[str, Any], options: dict[str, Any]
) -> AutoregressiveRecognizer:
    """An autoregressive recognizer from a preset's defaults and user options."""
    config = config_from_options(name, AutoregressiveConfig, defaults, options)
    try:
        return AutoregressiveRecognizer(num_classes, config)
    except ValueError as exc:
        raise ScenetextError(f"model {name!r}: {exc}") from None


@register_model("ar-svtr-base")
def ar_svtr_base(num_classes: int, **options: Any) -> AutoregressiveRecognizer:
    """Autoregressive baseline on NASTR's SVTR-B encoder (32x128)."""
    return build_autoregressive("ar-svtr-base", num_classes, {}, options)


@register_model("ar-vit-small")
def ar_vit_small(num_classes: int, **options: Any) -> AutoregressiveRecognizer:
    """Autoregressive baseline on the MAERec-style ViT-S encoder."""
    return build_autoregressive("ar-vit-small", num_classes, {"encoder": "vit-small"}, options)


@register_model("ar-tiny")
def ar_tiny(num_classes: int, **options: Any) -> AutoregressiveRecognizer:
    """CPU-sized autoregressive baseline with nastr-tiny's encoder and decoder sizes."""
    defaults = {"encoder": "svtr-micro", "decoder_layers": 2, "num_heads": 4, "ffn_dim": 512}
    return build_autoregressive("ar-tiny", num_classes, defaults, options)
