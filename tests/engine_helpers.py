"""Shared fixtures for the engine tests: a tiny registered model and small LMDBs of rendered words."""

from __future__ import annotations

import io
import random
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from scenetext.data.lmdb_store import LmdbWriter
from scenetext.models.base import ModelOutput, RecognitionModel
from scenetext.models.registry import available_models, register_model

TINY = "engine-test-tiny"


class TinyRecognizer(RecognitionModel):
    """A few thousand parameters: conv features pooled per output position, one linear head."""

    normalize = "nastr"
    charset_layers = ("head.",)

    def __init__(self, num_classes: int, img_size: tuple[int, int] = (16, 48), max_length: int = 6) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.img_size = tuple(img_size)
        self.max_length = max_length
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(16))
        self.pool = nn.AdaptiveAvgPool2d((1, max_length + 1))
        self.position = nn.Parameter(torch.zeros(max_length + 1, 16))
        self.head = nn.Linear(16, num_classes)

    def forward(self, images: Tensor, targets: Tensor | None = None, return_attention: bool = False):
        features = self.pool(self.features(images)).flatten(2).transpose(1, 2) + self.position
        return ModelOutput(logits=self.head(features))

    def loss(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        logits = output.logits[:, : targets.shape[1]]
        ce = nn.functional.cross_entropy(
            logits.reshape(-1, self.num_classes), targets.reshape(-1), ignore_index=0
        )
        return {"loss": ce, "ce": ce.detach()}


if TINY not in available_models():

    @register_model(TINY)
    def _tiny(num_classes: int, **overrides) -> TinyRecognizer:
        return TinyRecognizer(num_classes, **overrides)


def word_png(text: str, seed: int, size: tuple[int, int] = (64, 20)) -> bytes:
    """A small PNG with ``text`` drawn in black on a light, slightly varied background."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(200, 255) for _ in range(3)))
    ImageDraw.Draw(image).text((rng.randint(1, 6), rng.randint(1, 5)), text, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


WORDS = ["cat", "dog", "sun", "tree", "car", "bus", "map", "pen", "cup", "box", "hat", "key"]


def make_lmdb(path: Path, count: int, seed: int = 0) -> list[str]:
    """An LMDB of ``count`` rendered words; returns the labels in order."""
    rng = random.Random(seed)
    labels = [rng.choice(WORDS) for _ in range(count)]
    with LmdbWriter(path) as writer:
        for i, label in enumerate(labels):
            writer.add(word_png(label, seed * 100_000 + i), label)
    return labels


def reference_forward(model: nn.Module, size: tuple[int, int]) -> Tensor:
    torch.manual_seed(0)
    images = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        return model.eval()(images).logits
