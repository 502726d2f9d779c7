"""NASTR's parallel decoding against the autoregressive baseline on the same encoder, at batch 1.

Both models are built from the registry with the same encoder preset and the same encoder weights (copied
from the NASTR model into the AR model), the same decoder sizes, and the same output length: ``--length``
characters plus EOS (11 positions for 10-character words). The AR model is built with ``early_stop=False`` so
its greedy loop always runs every position, as it would for a 10-character word. Weights are untrained: the
cost of a forward pass does not depend on them.

Timing is the forward pass through the toolkit's backends (``backend.run`` on a preprocessed 1 x 3 x H x W
batch: torch under inference_mode, and onnxruntime on the exported graphs), median and p90 over ``--runs``
after warm-up, with the same thread count for both. With torch, the decoding alone is timed too (the
encoder's output computed once and reused), so both ratios are reported: whole model and decoding only.

Usage:
    python benchmarks/parallel_vs_ar.py [--preset base|tiny] [--length 10] [--runs 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PAIRS = {"base": ("nastr-svtr-base", "ar-svtr-base"), "tiny": ("nastr-tiny", "ar-tiny")}


def _artifacts(preset: str, length: int, workdir: Path) -> dict[str, Path]:
    import torch

    from scenetext.models.artifact import save_artifact
    from scenetext.models.registry import build_model
    from scenetext.runtime.charset import Charset
    from scenetext.runtime.preprocess import PreprocessConfig

    charset = Charset.from_spec("en36")
    nastr_name, ar_name = PAIRS[preset]
    torch.manual_seed(0)
    nastr = build_model(nastr_name, len(charset) + 3, max_length=length)
    ar = build_model(ar_name, len(charset) + 3, max_length=length, early_stop=False)
    ar.encoder.load_state_dict(nastr.encoder.state_dict())  # literally the same encoder
    out = {}
    for label, name, model in (("parallel (NASTR)", nastr_name, nastr), ("autoregressive", ar_name, ar)):
        out[label] = save_artifact(
            workdir / name,
            model,
            model_name=name,
            model_options=model.options,
            charset=charset,
            preprocess=PreprocessConfig(*model.img_size, normalize="nastr"),
            protocol="en36",
        )
    return out


def _decoding_runner(artifact: Path) -> Any:
    """``run(batch, _)`` for everything after the encoder (torch): the encoder returns its cached output."""
    import torch

    from scenetext.models.artifact import load_artifact

    model = load_artifact(artifact)[0]
    cache: dict[str, Any] = {}
    encode = model.encoder.forward

    def cached(images: Any) -> Any:
        if "tokens" not in cache:
            cache["tokens"] = encode(images)
        return cache["tokens"]

    model.encoder.forward = cached

    def run(batch: np.ndarray, _: bool) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(batch))

    return run


def _time(run: Any, batch: np.ndarray, runs: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        run(batch, False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(batch, False)
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)), "runs": runs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PAIRS), default="base")
    parser.add_argument("--length", type=int, default=10, help="characters decoded (positions = length + 1)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from scenetext.inference import Recognizer
    from scenetext.inference.onnx_export import export_onnx

    results: dict[str, Any] = {"preset": args.preset, "positions": args.length + 1, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = _artifacts(args.preset, args.length, Path(tmp))
        for backend in args.backends.split(","):
            row: dict[str, Any] = {}
            for label, artifact in artifacts.items():
                source = artifact
                if backend == "onnx":
                    source = export_onnx(artifact, artifact / "model.onnx")
                recognizer = Recognizer.load(source, backend=backend, threads=args.threads)
                height, width = recognizer.input_size
                batch = np.random.default_rng(0).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
                probs, _ = recognizer.backend.run(batch, False)
                if probs.shape[1] != args.length + 1:
                    raise SystemExit(
                        f"{label} emitted {probs.shape[1]} positions, expected {args.length + 1}"
                    )
                row[label] = {
                    "model": recognizer.model_name,
                    **_time(recognizer.backend.run, batch, args.runs),
                }
            row["speedup"] = row["autoregressive"]["median_ms"] / row["parallel (NASTR)"]["median_ms"]
            if backend == "torch":
                decoding = {
                    label: _time(_decoding_runner(path), batch, args.runs)
                    for label, path in artifacts.items()
                }
                row["decoding"] = decoding
                row["decoding_speedup"] = (
                    decoding["autoregressive"]["median_ms"] / decoding["parallel (NASTR)"]["median_ms"]
                )
            results[backend] = row
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"batch 1, {results['positions']} positions, {results['threads']} threads ({results['preset']})"
    )
    columns = (
        "backend",
        "parallel (NASTR) ms",
        "autoregressive ms",
        "AR / NASTR",
        "decoding only: NASTR / AR ms",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for backend in ("torch", "onnx"):
        if backend in results:
            row = results[backend]
            cells = [
                f"{row[k]['median_ms']:.2f} (p90 {row[k]['p90_ms']:.2f})"
                for k in ("parallel (NASTR)", "autoregressive")
            ]
            decoding = "-"
            if "decoding" in row:
                nastr_ms, ar_ms = (
                    row["decoding"][k]["median_ms"] for k in ("parallel (NASTR)", "autoregressive")
                )
                decoding = f"{nastr_ms:.2f} / {ar_ms:.2f} = {row['decoding_speedup']:.1f}x"
            table.add_row(backend, *cells, f"{row['speedup']:.1f}x", decoding)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
