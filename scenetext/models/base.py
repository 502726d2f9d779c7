"""The contract every recognition model follows.

A model maps a batch of preprocessed images to per-position class logits. The tokenizer
stays outside the graph (see ``scenetext.runtime.charset``), so the inference graph is a
pure tensor function that exports to ONNX. Targets use the tokenizer's layout:
``[c1 .. cl, EOS, PAD ...]`` with PAD=0, EOS=1, SOS=2 and characters from index 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class ModelOutput:
    """What a forward pass returns.

    logits: N x T x C scores of the prediction used at inference.
    attention: N x T x h x w per-position attention over the encoder grid, when requested.
    aux: training-time outputs (stage logits, length / bag-of-characters logits, features).
    """

    logits: Tensor
    attention: Tensor | None = None
    aux: dict[str, Tensor] = field(default_factory=dict)


class RecognitionModel(nn.Module):
    """Base class: ``forward(images) -> ModelOutput`` and ``loss(output, targets)``.

    Subclasses set ``num_classes``, ``img_size`` (H, W), ``max_length`` (characters decoded
    at inference; the model emits ``max_length + 1`` positions so EOS always fits) and
    ``normalize`` ("nastr": [-1, 1], "lpv": [0, 1]) so preprocessing can be derived from
    the model alone.
    """

    num_classes: int
    img_size: tuple[int, int]
    max_length: int
    normalize: str
    # State-dict prefixes of the layers sized by the charset (heads, character embeddings): what starts fresh
    # when weights trained on another charset initialise this model (``model.init_new_charset``).
    charset_layers: tuple[str, ...] = ()

    def forward(  # type: ignore[override]
        self,
        images: Tensor,
        targets: Tensor | None = None,
        return_attention: bool = False,
    ) -> ModelOutput:
        """Predict logits; ``targets`` (N x L+1) only in training, for models that need them."""
        raise NotImplementedError

    def loss(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Training losses: a dict with the total under ``"loss"`` and each branch by name."""
        raise NotImplementedError
