"""Our recognizer against PP-OCRv4's recognizer (rapidocr-onnxruntime) on the same real word crops, one run.

Accuracy (en36 protocol: lowercase, [0-9a-z] only; word accuracy and mean 1-NED), batch-1 latency (median
and p90) and throughput at a larger batch, both models on onnxruntime with the same thread count, measured
side by side. Only rapidocr's recognizer (``TextRecognizer``) runs, on the crops; no detection, no
direction classifier.

Held-out split: the validation part that the engine's ``scripts/split_lmdb.py INPUT TRAIN VAL
--val-fraction 0.1 --seed 0`` cuts from each real set imported with ``scenetext data create`` (IIIT5K
``train.tags`` as ``tags``, ICDAR 2015 ``gt.txt`` as ``icdar``). The same indices are computed here straight
from the list files: entries that parse and decode, in file order (the LMDB order), then the first
``round(0.1 * n)`` of ``numpy.random.default_rng(0).permutation(n)``: 200 IIIT5K and 447 ICDAR 2015 crops.

rapidocr-onnxruntime is installed for this benchmark only, never as a dependency. It requires
opencv-python, which would shadow the toolkit's opencv-python-headless, so install it without dependencies:

    pip install --no-deps rapidocr-onnxruntime pyclipper shapely six

Usage:
    python benchmarks/peer_rapidocr.py --model default [--threads 2] [--batch 64] [--runs 100] [--json F]

With ``--backend onnx`` (the default) a model directory without ``model.onnx`` is exported to a temporary
directory first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scenetext.data.importers import read_list
from scenetext.data.preprocess import load_image
from scenetext.engine.metrics import mean_one_minus_ned, word_accuracy
from scenetext.engine.protocols import normalize_text
from scenetext.errors import ScenetextError
from scenetext.inference import Recognizer

SUBSETS = {"iiit5k": ("iiit5k-train/train.tags", "tags"), "ic15": ("ic15-train/gt.txt", "icdar")}


@dataclass
class Sample:
    subset: str
    image: np.ndarray  # uint8 H x W x 3, RGB
    label: str


def heldout_real(root: Path, fraction: float = 0.1, seed: int = 0) -> list[Sample]:
    """The validation records ``scripts/split_lmdb.py`` would pick from each imported real set."""
    samples = []
    for subset, (relative, fmt) in SUBSETS.items():
        listing = root / relative
        entries, _ = read_list(fmt, listing)
        readable: list[tuple[np.ndarray, str]] = []
        for entry in entries:
            try:
                readable.append((np.asarray(load_image(listing.parent / entry.path)), entry.label))
            except ScenetextError:
                continue  # create_lmdb skips it too, so it has no LMDB index
        order = np.random.default_rng(seed).permutation(len(readable))
        held_out = sorted(order[: max(1, round(len(readable) * fraction))].tolist())
        samples += [Sample(subset, *readable[i]) for i in held_out]
    return samples


Reader = Callable[[list[np.ndarray], int], list[str]]  # (RGB images, batch size) -> texts


def rapidocr_recognizer(threads: int) -> Reader:
    """PP-OCRv4's recognizer as rapidocr ships it, fed BGR crops as PaddleOCR expects. Given many crops it
    sorts them by aspect ratio and pads each batch to its widest crop (its own batching)."""
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.utils import read_yaml

    package = Path(rapidocr_onnxruntime.__file__).parent
    config = read_yaml(str(package / "config.yaml"))["Rec"]
    config.update(
        model_path=str(package / config["model_path"]),
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
    )
    recognizer = TextRecognizer(config)

    def read(images: list[np.ndarray], batch: int) -> list[str]:
        recognizer.rec_batch_num = batch
        results, _ = recognizer([cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for image in images])
        return [text for text, _ in results]

    return read


def ours(model: str, backend: str, threads: int, workdir: Path) -> tuple[Reader, str]:
    """The toolkit's recognizer (exported to ONNX first when needed) and a description of what ran."""
    if backend == "onnx":
        source = Path(model)
        if not ((source / "model.onnx").is_file() or source.suffix == ".onnx"):
            from scenetext.inference.onnx_export import export_onnx

            source = export_onnx(model, workdir / "model.onnx").parent
        recognizer = Recognizer.load(source, backend="onnx", threads=threads)
    else:
        recognizer = Recognizer.load(model, backend="torch", threads=threads)

    def read(images: list[np.ndarray], batch: int) -> list[str]:
        return [r.text for r in recognizer.read(images, batch_size=batch)]

    return read, f"{recognizer.model_name} ({model}, {backend})"


def accuracy(preds: Sequence[str], samples: Sequence[Sample]) -> dict[str, Any]:
    """en36 word accuracy and 1-NED per subset and over all; ground truths empty under en36 are skipped."""
    out: dict[str, Any] = {}
    groups = {name: [i for i, s in enumerate(samples) if s.subset == name] for name in SUBSETS}
    groups["all"] = list(range(len(samples)))
    for name, indices in groups.items():
        gts = [normalize_text(samples[i].label, "en36") for i in indices]
        kept = [k for k, gt in enumerate(gts) if gt]
        gts = [gts[k] for k in kept]
        guesses = [normalize_text(preds[indices[k]], "en36") for k in kept]
        out[name] = {
            "samples": len(gts),
            "word_accuracy": 100 * word_accuracy(guesses, gts),
            "one_minus_ned": 100 * mean_one_minus_ned(guesses, gts),
        }
    return out


def timing(read: Reader, images: list[np.ndarray], runs: int, batches: Sequence[int]) -> dict:
    """Batch-1 latency over the first ``runs`` images (after 5 warm-up reads), then one timed pass over all
    images per batch size; the first batch size's predictions are the ones scored."""
    for image in images[:5]:
        read([image], 1)
    latencies = []
    for image in images[:runs]:
        start = time.perf_counter()
        read([image], 1)
        latencies.append((time.perf_counter() - start) * 1000)
    throughput, preds = {}, []
    for batch in batches:
        start = time.perf_counter()
        texts = read(images, batch)
        throughput[str(batch)] = len(images) / (time.perf_counter() - start)
        preds = preds or texts
    return {
        "latency_ms_median": statistics.median(latencies),
        "latency_ms_p90": float(np.percentile(latencies, 90)),
        "latency_runs": len(latencies),
        "throughput_img_s": throughput,
        "preds": preds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="built-in name or artifact directory")
    parser.add_argument("--backend", default="onnx", choices=("onnx", "torch"))
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/real")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="as scripts/split_lmdb.py")
    parser.add_argument("--seed", type=int, default=0, help="as scripts/split_lmdb.py")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="throughput batch size (predictions scored)")
    parser.add_argument(
        "--extra-batch", type=int, default=6, help="a second throughput batch size (rapidocr's default)"
    )
    parser.add_argument("--runs", type=int, default=100, help="batch-1 timed reads")
    parser.add_argument("--limit", type=int, help="only the first N held-out crops (a quick smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    samples = heldout_real(args.data, args.val_fraction, args.seed)[: args.limit]
    images = [s.image for s in samples]
    with tempfile.TemporaryDirectory() as workdir:
        ours_read, ours_name = ours(args.model, args.backend, args.threads, Path(workdir))
        peers = {
            "ours": (ours_read, ours_name),
            "pp-ocrv4": (
                rapidocr_recognizer(args.threads),
                "PP-OCRv4 rec (rapidocr-onnxruntime)",
            ),
        }
        results: dict[str, Any] = {
            "samples": len(samples),
            "threads": args.threads,
            "split": {"val_fraction": args.val_fraction, "seed": args.seed},
        }
        for key, (read, name) in peers.items():
            measured = timing(read, images, args.runs, [args.batch, args.extra_batch])
            preds = measured.pop("preds")
            results[key] = {"name": name, "accuracy": accuracy(preds, samples), **measured}
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"held-out real crops ({results['samples']}), {results['threads']} threads, en36")
    table.add_column("metric")
    for key in ("ours", "pp-ocrv4"):
        table.add_column(results[key]["name"], justify="right")
    rows = [
        (
            f"{subset} word acc / 1-NED (n={results['ours']['accuracy'][subset]['samples']})",
            lambda r, s=subset: (
                f"{r['accuracy'][s]['word_accuracy']:.1f} / {r['accuracy'][s]['one_minus_ned']:.1f}"
            ),
        )
        for subset in (*SUBSETS, "all")
    ]
    rows += [
        ("batch-1 latency median (ms)", lambda r: f"{r['latency_ms_median']:.2f}"),
        ("batch-1 latency p90 (ms)", lambda r: f"{r['latency_ms_p90']:.2f}"),
    ]
    rows += [
        (f"throughput, batches of {batch} (img/s)", lambda r, b=batch: f"{r['throughput_img_s'][b]:.1f}")
        for batch in results["ours"]["throughput_img_s"]
    ]
    for label, cell in rows:
        table.add_row(label, cell(results["ours"]), cell(results["pp-ocrv4"]))
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
