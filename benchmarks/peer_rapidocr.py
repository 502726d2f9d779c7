"""Our recognizer against PP-OCRv4's and PP-OCRv6's recognizers (rapidocr) on the same real crops, one run.

For every split folder under ``--data`` (``dev``, ``report``; each holding one LMDB per real set, made by
``scripts/real-splits.sh``) and every LMDB below it, each recognizer reads the same crops and is scored under
en36 (lowercase, [0-9a-z] only: the comparison protocol) and en94 (case and symbols kept; subsets whose labels
carry no case, such as SVT's all-uppercase words, are left out with ``--no-case``). Word accuracy and mean
1-NED per subset, then over each split (sample-weighted). Then batch-1 latency (median and p90) and throughput
at larger batches, all recognizers on onnxruntime with the same thread count, measured side by side on the
first split's crops. Only the peers' recognizers run, on the crops: no detection, no direction classifier.

Peers (benchmarks only, never dependencies of scenetext; install them into a separate environment, without
their dependencies, because they require opencv-python, which would shadow opencv-python-headless):

    python -m venv --system-site-packages peer-venv
    peer-venv/bin/pip install --no-deps rapidocr-onnxruntime==1.4.4 rapidocr==3.10.0 \
        pyclipper shapely six omegaconf colorlog antlr4-python3-runtime

``rapidocr-onnxruntime`` 1.4.4 ships PP-OCRv4's recognizer (``pp-ocrv4``), ``rapidocr`` 3.10 ships PP-OCRv6's
small recognizer (``pp-ocrv6``); both carry their weights in the wheel, so nothing is downloaded.

usage:
    peer-venv/bin/python benchmarks/peer_rapidocr.py --model default --data SPLITS [--splits report,dev]
        [--peers pp-ocrv4,pp-ocrv6] [--no-case svt] [--threads 2] [--batch 64] [--runs 100] [--json F]

With ``--backend onnx`` (the default) a model directory without ``model.onnx`` is exported to a temporary
directory first.
"""

from __future__ import annotations

import argparse
import io
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
from PIL import Image

from scenetext.data.lmdb_store import LmdbReader
from scenetext.engine.metrics import mean_one_minus_ned, word_accuracy
from scenetext.engine.protocols import normalize_text
from scenetext.inference import Recognizer

PROTOCOLS = ("en36", "en94")


@dataclass
class Sample:
    split: str
    subset: str
    image: np.ndarray  # uint8 H x W x 3, RGB
    label: str


def load_splits(root: Path, splits: Sequence[str]) -> list[Sample]:
    """Every record of every LMDB below ``root/<split>``, in LMDB order; the subset is the LMDB's path."""
    samples = []
    for split in splits:
        lmdbs = sorted(p.parent for p in (root / split).glob("**/data.mdb"))
        if not lmdbs:
            raise SystemExit(f"error: {root / split}: no LMDB below it")
        for path in lmdbs:
            reader = LmdbReader(path)
            subset = str(path.relative_to(root / split))
            for index in range(len(reader)):
                raw, label = reader.read(index)
                image = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
                samples.append(Sample(split, subset, image, label))
    return samples


Reader = Callable[[list[np.ndarray], int], list[str]]  # (RGB images, batch size) -> texts


def pp_ocrv4(threads: int) -> tuple[Reader, str]:
    """PP-OCRv4's recognizer as rapidocr-onnxruntime ships it, fed BGR crops as PaddleOCR expects. Given many
    crops it sorts them by aspect ratio and pads each batch to its widest crop (its own batching)."""
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

    return read, "PP-OCRv4 rec (rapidocr-onnxruntime 1.4.4)"


def pp_ocrv6(threads: int) -> tuple[Reader, str]:
    """PP-OCRv6's small recognizer as rapidocr 3.10 ships it (its default recognition model), alone."""
    import logging
    from importlib.metadata import version

    from rapidocr import RapidOCR
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    engine = RapidOCR(
        params={
            "Global.use_det": False,
            "Global.use_cls": False,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    recognizer = engine._load_rec_model()  # built lazily on first use otherwise

    def read(images: list[np.ndarray], batch: int) -> list[str]:
        recognizer.rec_batch_num = batch
        result = recognizer(TextRecInput(img=[cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for image in images]))
        return list(result.txts)

    return read, f"PP-OCRv6 small rec (rapidocr {version('rapidocr')})"


PEERS = {"pp-ocrv4": pp_ocrv4, "pp-ocrv6": pp_ocrv6}


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


def _score(preds: Sequence[str], labels: Sequence[str], protocol: str) -> dict[str, Any]:
    gts = [normalize_text(label, protocol) for label in labels]
    kept = [k for k, gt in enumerate(gts) if gt]  # ground truths empty under the protocol are skipped
    gts = [gts[k] for k in kept]
    guesses = [normalize_text(preds[k], protocol) for k in kept]
    return {
        "samples": len(gts),
        "word_accuracy": 100 * word_accuracy(guesses, gts) if gts else None,
        "one_minus_ned": 100 * mean_one_minus_ned(guesses, gts) if gts else None,
    }


def accuracy(preds: Sequence[str], samples: Sequence[Sample], no_case: Sequence[str]) -> dict[str, Any]:
    """Per protocol, split and subset (plus ``all`` per split): word accuracy and 1-NED."""
    out: dict[str, Any] = {}
    for protocol in PROTOCOLS:
        out[protocol] = {}
        for split in dict.fromkeys(s.split for s in samples):
            groups: dict[str, list[int]] = {}
            for i, s in enumerate(samples):
                if s.split != split or (protocol != "en36" and s.subset.split("/")[0] in no_case):
                    continue
                groups.setdefault(s.subset, []).append(i)
            groups["all"] = [i for indices in groups.values() for i in indices]
            out[protocol][split] = {
                name: _score([preds[i] for i in idx], [samples[i].label for i in idx], protocol)
                for name, idx in groups.items()
            }
    return out


def timing(read: Reader, images: list[np.ndarray], runs: int, batches: Sequence[int]) -> dict[str, Any]:
    """Batch-1 latency over the first ``runs`` images (after 5 warm-up reads), then one timed pass over the
    images per batch size."""
    for image in images[:5]:
        read([image], 1)
    latencies = []
    for image in images[:runs]:
        start = time.perf_counter()
        read([image], 1)
        latencies.append((time.perf_counter() - start) * 1000)
    throughput = {}
    for batch in batches:
        start = time.perf_counter()
        read(images, batch)
        throughput[str(batch)] = len(images) / (time.perf_counter() - start)
    return {
        "latency_ms_median": statistics.median(latencies),
        "latency_ms_p90": float(np.percentile(latencies, 90)),
        "latency_runs": len(latencies),
        "throughput_img_s": throughput,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="built-in name or artifact directory")
    parser.add_argument("--backend", default="onnx", choices=("onnx", "torch"))
    parser.add_argument("--data", type=Path, required=True, help="folder of split folders (dev/, report/)")
    parser.add_argument("--splits", default="report,dev", help="split folders to score, comma-separated")
    parser.add_argument(
        "--peers", default="pp-ocrv4,pp-ocrv6", help=f"comma-separated, of {', '.join(PEERS)}"
    )
    parser.add_argument("--no-case", default="svt", help="subsets left out of en94 (labels without case)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="throughput batch size")
    parser.add_argument("--extra-batch", type=int, default=6, help="a second batch size (rapidocr's default)")
    parser.add_argument("--runs", type=int, default=100, help="batch-1 timed reads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    splits = [s for s in args.splits.split(",") if s]
    no_case = [s for s in args.no_case.split(",") if s]
    samples = load_splits(args.data, splits)
    images = [s.image for s in samples]
    timed = [s.image for s in samples if s.split == splits[0]]
    with tempfile.TemporaryDirectory() as workdir:
        readers = {"ours": ours(args.model, args.backend, args.threads, Path(workdir))}
        for key in (p for p in args.peers.split(",") if p):
            if key not in PEERS:
                raise SystemExit(f"error: --peers: unknown peer {key!r} (known: {', '.join(PEERS)})")
            readers[key] = PEERS[key](args.threads)
        results: dict[str, Any] = {
            "data": str(args.data),
            "samples": {split: sum(s.split == split for s in samples) for split in splits},
            "threads": args.threads,
            "timed_split": splits[0],
        }
        for key, (read, name) in readers.items():
            preds = read(images, args.batch)
            measured = timing(read, timed, args.runs, [args.batch, args.extra_batch])
            results[key] = {"name": name, "accuracy": accuracy(preds, samples, no_case), **measured}
    _print(results, list(readers))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print(results: dict[str, Any], keys: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"real crops, {results['threads']} threads; word accuracy / 1-NED (%)")
    table.add_column("metric")
    for key in keys:
        table.add_column(results[key]["name"], justify="right")

    def cell(r: dict[str, Any] | None) -> str:
        if not r or r["word_accuracy"] is None:
            return "-"
        return f"{r['word_accuracy']:.1f} / {r['one_minus_ned']:.1f}"

    first = results[keys[0]]["accuracy"]
    for protocol, per_split in first.items():
        for split, subsets in per_split.items():
            for subset, scores in subsets.items():
                label = f"{protocol} {split}/{subset} (n={scores['samples']})"
                table.add_row(
                    label, *(cell(results[k]["accuracy"][protocol][split].get(subset)) for k in keys)
                )
    split = results["timed_split"]
    table.add_row(
        f"batch-1 latency median / p90 (ms, {split})",
        *(f"{results[k]['latency_ms_median']:.2f} / {results[k]['latency_ms_p90']:.2f}" for k in keys),
    )
    for batch in results[keys[0]]["throughput_img_s"]:
        table.add_row(
            f"throughput, batches of {batch} (img/s)",
            *(f"{results[k]['throughput_img_s'][batch]:.1f}" for k in keys),
        )
    Console(width=max(120, 40 + 24 * len(keys))).print(table)


if __name__ == "__main__":
    sys.exit(main())
