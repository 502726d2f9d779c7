"""Does the data pipeline keep up with training? Images/s of the loader alone versus the training step alone.

usage: python benchmarks/loader_vs_step.py RECIPE [key=value ...] [--workers 0 2 4] [--batches 20]
                                           [--device cpu|cuda] [--precision 32|bf16] [--json FILE]

The loader is timed on the recipe's training data (LMDB decoding, augmentation, resizing, collation, with
the recipe's pinned-memory setting) for each worker count; the step is timed on batches already in memory
(forward, loss, backward, optimizer step, on ``--device``). The pipeline starves the accelerator when the
loader's figure is below the step's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from scenetext.engine.config import load_config
from scenetext.engine.datamodule import RecognitionDataModule
from scenetext.engine.lightning_module import build_optimizer
from scenetext.engine.train import build_from_config


def loader_rate(data: RecognitionDataModule, workers: int, batches: int) -> float:
    """Images per second delivered by the training DataLoader (after one warm-up batch)."""
    data.config.num_workers = workers
    loader = data.train_dataloader()
    iterator = iter(loader)
    next(iterator)  # worker start-up is not throughput
    images = 0
    start = time.perf_counter()
    for _ in range(batches):
        images += len(next(iterator))
    elapsed = time.perf_counter() - start
    del iterator
    return images / elapsed


def step_rate(built: Any, batches: list[Any], device: str, precision: str, config: Any) -> float:
    """Images per second of forward + loss + backward + optimizer step on in-memory batches."""
    model = built.model.to(device).train()
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], config.optim)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step(batch: Any) -> None:
        images = batch.images.to(device, non_blocking=True)
        targets = built.tokenizer.encode(batch.labels).to(device)
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = model.loss(model(images, targets), targets)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step(batches[0])  # warm-up (allocator, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    images = 0
    for batch in batches[1:]:
        step(batch)
        images += len(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--step-batches", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    config = load_config(args.recipe, args.overrides)
    torch.manual_seed(config.run.seed)
    built = build_from_config(config, args.recipe.resolve().parent)
    data = RecognitionDataModule(config.data, built.preprocess, built.charset, config.run.seed)
    data.setup("fit")
    results: dict[str, Any] = {
        "recipe": str(args.recipe),
        "overrides": args.overrides,
        "model": config.model.name,
        "batch_size": config.data.batch_size,
        "augmentation": config.data.augmentation,
        "device": args.device,
        "precision": args.precision,
        "torch_threads": torch.get_num_threads(),
        "loader_images_per_sec": {},
    }
    for workers in args.workers:
        rate = loader_rate(data, workers, args.batches)
        results["loader_images_per_sec"][str(workers)] = rate
        print(f"loader, {workers} workers: {rate:8.1f} images/s")
    data.config.num_workers = 0
    iterator = iter(data.train_dataloader())
    batches = [next(iterator) for _ in range(args.step_batches + 1)]
    rate = step_rate(built, batches, args.device, args.precision, config)
    results["step_images_per_sec"] = rate
    print(f"training step ({args.device}, {args.precision}): {rate:8.1f} images/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
