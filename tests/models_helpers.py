"""Shared fixtures for model tests: rendered word images, an overfitting loop and an ONNX round trip."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from scenetext.models.base import RecognitionModel
from scenetext.runtime.charset import Charset, Tokenizer

ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789"


def trainable(module: torch.nn.Module) -> int:
    """Number of trainable parameters, as the papers' logs count them."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def random_words(count: int, min_len: int = 4, max_len: int = 6, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHANUMERIC) for _ in range(rng.randint(min_len, max_len))) for _ in range(count)
    ]


def render_words(words: list[str], size: tuple[int, int], normalize: str = "nastr") -> torch.Tensor:
    """Black text on white, drawn at twice the width and squeezed to ``size`` (H, W); N x 3 x H x W."""
    height, width = size
    font = ImageFont.load_default(size=int(height * 0.56))
    images = []
    for word in words:
        canvas = Image.new("RGB", (width * 2, height), (255, 255, 255))
        ImageDraw.Draw(canvas).text((2, height // 5), word, fill=(0, 0, 0), font=font)
        array = np.asarray(canvas.resize((width, height), Image.BILINEAR), dtype=np.float32).transpose(
            2, 0, 1
        )
        images.append(array / 127.5 - 1.0 if normalize == "nastr" else array / 255.0)
    return torch.from_numpy(np.stack(images))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: on a shared 2-core machine, two busy-waiting threads are many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Fixture form of ``single_thread``; model test modules use it for every test."""
    with single_thread():
        yield


def overfit(
    model: RecognitionModel,
    words: list[str],
    lr: float = 1e-3,
    max_steps: int = 400,
    check_every: int = 10,
) -> tuple[float, int]:
    """Train on one fixed batch until eval-mode greedy decoding reads every word; (accuracy, steps)."""
    tokenizer = Tokenizer(Charset(ALPHANUMERIC, "test"))
    images = render_words(words, model.img_size, model.normalize)
    targets = tokenizer.encode(words)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    accuracy = 0.0
    for step in range(1, max_steps + 1):
        model.train()
        losses = model.loss(model(images, targets), targets)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        if step % check_every == 0:
            model.eval()
            with torch.no_grad():
                predicted = tokenizer.decode(model(images).logits.argmax(-1))
            accuracy = sum(p == w for p, w in zip(predicted, words, strict=True)) / len(words)
            if accuracy == 1.0:
                return accuracy, step
    return accuracy, max_steps


class InferenceGraph(torch.nn.Module):
    """images -> (logits, attention): the tensor-only graph an ONNX export holds."""

    def __init__(self, model: RecognitionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(images, return_attention=True)
        return output.logits, output.attention


def onnx_round_trip(model: RecognitionModel, path: Path, batch: int = 3) -> tuple[np.ndarray, ...]:
    """Export with a dynamic batch axis (traced at batch 2), run ``batch`` images in onnxruntime and return
    (onnx logits, onnx attention, torch logits, torch attention)."""
    import onnxruntime

    graph = InferenceGraph(model).eval()
    height, width = model.img_size
    torch.onnx.export(
        graph,
        (torch.randn(2, 3, height, width),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["images"],
        output_names=["logits", "attention"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}, "attention": {0: "batch"}},
    )
    images = torch.randn(batch, 3, height, width)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    logits, attention = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = graph(images)
    return logits, attention, expected[0].numpy(), expected[1].numpy()
