"""Which CPU training set-up is fastest? Images/s of the training step under each option, side by side.

usage: python benchmarks/train_setup.py RECIPE [key=value ...] [--batches 8] [--compile] [--no-bf16]
                                        [--json FILE]

Times forward + loss + backward + AdamW step of the recipe's model on batches of its own training data already
in memory, for: fp32 against bf16 autocast, channels_last against contiguous, batch sizes 32 / 64 / 128 and,
with ``--compile``, ``torch.compile`` (its compile time is reported apart). Then the loader alone: images/s of
the recipe's training DataLoader in-process (decoding, augmentation, resizing), as it runs when one pinned
core does everything. First, what explains bf16's speed: the CPU's vector capability, whether oneDNN has
native bf16 on it, and a 512 x 512 matmul's GFLOP/s in fp32 and bf16. Thread count is the caller's: run it
under ``taskset -c N`` with ``OMP_NUM_THREADS=1`` for the one-core figure, and with two threads on an idle
machine for the other.
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
from scenetext.engine.train import build_from_config, cpu_has_native_bf16


def matmul_gflops(dtype: torch.dtype, size: int = 512, repeats: int = 20) -> float:
    """GFLOP/s of a square matmul in ``dtype`` (after warm-up)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def step_rate(
    model: torch.nn.Module, tokenizer: Any, batches: list[Any], config: Any, bf16: bool, channels_last: bool
) -> float:
    """Images per second of the training step on in-memory batches (after one warm-up step)."""
    model.train()
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], config.optim)

    def step(batch: Any) -> None:
        images = batch.images
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = tokenizer.encode(batch.labels)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(model(images, targets), targets)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step(batches[0])
    start = time.perf_counter()
    images = 0
    for batch in batches[1:]:
        step(batch)
        images += len(batch)
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--batches", type=int, default=8, help="timed batches per set-up")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument(
        "--no-bf16", action="store_true", help="skip the bf16 set-ups (slow without native bf16)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    config = load_config(args.recipe, args.overrides)
    torch.manual_seed(config.run.seed)
    built = build_from_config(config, args.recipe.resolve().parent, initialise=False)
    data = RecognitionDataModule(config.data, built.preprocess, built.charset, config.run.seed)
    data.setup("fit")
    results: dict[str, Any] = {
        "recipe": str(args.recipe),
        "overrides": args.overrides,
        "model": config.model.name,
        "torch_threads": torch.get_num_threads(),
        "step_images_per_sec": {},
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "matmul_gflops": {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)},
    }
    print(
        f"cpu {results['cpu_capability']}, native bf16 {results['native_bf16']}, matmul GFLOP/s "
        f"fp32 {results['matmul_gflops']['fp32']:.1f} bf16 {results['matmul_gflops']['bf16']:.1f}"
    )

    def batches_of(size: int) -> list[Any]:
        data.config.batch_size = size
        data.config.num_workers = 0
        iterator = iter(data.train_dataloader())
        return [next(iterator) for _ in range(args.batches + 1)]

    loader_start = time.perf_counter()
    by_size = {size: batches_of(size) for size in args.batch_sizes}
    loaded = sum(len(b) for batches in by_size.values() for b in batches)
    results["loader_in_process_images_per_sec"] = loaded / (time.perf_counter() - loader_start)
    print(f"loader in-process: {results['loader_in_process_images_per_sec']:8.1f} images/s")

    setups = [(64, False, False), (64, True, False), (64, False, True), (64, True, True)]
    setups = [setup for setup in setups if not (args.no_bf16 and setup[1])]
    setups += [(size, False, False) for size in args.batch_sizes if size != 64]
    for size, bf16, channels_last in setups:
        model = build_from_config(config, args.recipe.resolve().parent, initialise=False).model
        rate = step_rate(model, built.tokenizer, by_size[size], config, bf16, channels_last)
        key = f"batch {size}, {'bf16' if bf16 else 'fp32'}{', channels_last' if channels_last else ''}"
        results["step_images_per_sec"][key] = rate
        print(f"{key:40s} {rate:8.1f} images/s")
    if args.compile:
        model = build_from_config(config, args.recipe.resolve().parent, initialise=False).model
        start = time.perf_counter()
        compiled = torch.compile(model)
        step_rate(compiled, built.tokenizer, by_size[64][:2], config, False, False)
        results["compile_seconds"] = time.perf_counter() - start
        rate = step_rate(compiled, built.tokenizer, by_size[64], config, False, False)
        results["step_images_per_sec"]["batch 64, fp32, torch.compile"] = rate
        print(
            f"{'batch 64, fp32, torch.compile':40s} {rate:8.1f} images/s "
            f"(compile {results['compile_seconds']:.0f} s)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
