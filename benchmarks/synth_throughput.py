"""Throughput of the synthetic data engine: rendered + PNG-encoded images per second, per core.

Run:  python benchmarks/synth_throughput.py --lang en --height 32 --width 128 --count 3000 --workers 1 2
      (--categories incidental, --backgrounds DIR: time one category, or with extra background pictures)

Each worker process renders its share of sample indices (what `scenetext synth --workers K` does, minus the
LMDB write) after a warm-up, with OpenCV limited to one thread per process. Reported per run:
- wall img/s: images / elapsed time of the timed part;
- per core (wall): wall img/s / workers;
- per CPU-second: images / CPU seconds the workers spent, which stays meaningful when other jobs share
  the cores (wall numbers then undercount).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

# Spawned workers re-import this script, not the caller's working directory: make the checkout importable
# there too: an uninstalled checkout then works (a failing pool initializer would hang the pool).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_generator = None


def _init(config: dict, warmup: int, offset: int) -> None:
    import warnings

    import cv2

    from scenetext.synth.config import SynthConfig
    from scenetext.synth.generator import SynthGenerator, encode_png

    global _generator
    cv2.setNumThreads(1)
    warnings.simplefilter("ignore")
    _generator = SynthGenerator(SynthConfig.from_dict(config))
    # Warm-up on indices outside the timed range: fonts, word lists, background files get loaded.
    for i in range(warmup):
        encode_png(_generator.sample(offset + i).image)


def _render(indices: range) -> tuple[int, float]:
    from scenetext.synth.generator import encode_png

    start = time.process_time()
    for i in indices:
        encode_png(_generator.sample(i).image)
    return len(indices), time.process_time() - start


def run(config: dict, count: int, workers: int, warmup: int, chunk: int = 50) -> dict:
    chunks = [range(i, min(i + chunk, count)) for i in range(0, count, chunk)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init, initargs=(config, warmup, 10_000_000)) as pool:
        pool.map(_render, [range(0) for _ in range(workers)])  # wait until every worker is initialised
        start = time.perf_counter()
        results = pool.map(_render, chunks, chunksize=1)
        wall = time.perf_counter() - start
    done = sum(n for n, _ in results)
    cpu = sum(c for _, c in results)
    return {
        "workers": workers,
        "images": done,
        "wall_s": round(wall, 2),
        "wall_img_s": round(done / wall, 1),
        "per_core_wall_img_s": round(done / wall / workers, 1),
        "per_cpu_second_img_s": round(done / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--categories", help="e.g. incidental or curve=2,general=1 (default: the default mix)"
    )
    parser.add_argument("--backgrounds", nargs="*", default=[], help="extra background picture folders")
    args = parser.parse_args()
    config = {"lang": args.lang, "height": args.height, "width": args.width, "seed": args.seed}
    if args.categories:
        from scenetext.synth.config import parse_categories

        config["categories"] = parse_categories(args.categories)
    if args.backgrounds:
        config["background_dirs"] = args.backgrounds
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "load": os.getloadavg()[0]}
    print(json.dumps({**machine, **config}))
    for workers in args.workers:
        print(json.dumps(run(config, args.count, workers, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
