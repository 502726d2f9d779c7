"""PP-OCRv4's recognizer (rapidocr-onnxruntime) on every LMDB under a root: word accuracy, 1-NED per subset.

The counterpart of ``scenetext test --model M --data ROOT --protocol P`` for the peer, so both are scored on
the same images with the same protocol (e.g. the synthetic challenge benchmark, one LMDB per category).
Only rapidocr's recognizer runs, on the crops, with its own batching (``rec_batch_num``).

rapidocr-onnxruntime is for benchmarks only, never a dependency (see benchmarks/peer_rapidocr.py):

    pip install --no-deps rapidocr-onnxruntime pyclipper shapely six

usage: python benchmarks/peer_rapidocr_lmdb.py ROOT [--protocol en36] [--threads 2] [--json F]
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from scenetext.data.lmdb_store import LmdbReader
from scenetext.engine.metrics import mean_one_minus_ned, word_accuracy
from scenetext.engine.protocols import normalize_text


def pp_ocrv4(threads: int, batch: int) -> Any:
    """rapidocr's TextRecognizer with its shipped PP-OCRv4 recognition model and config."""
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.utils import read_yaml

    package = Path(rapidocr_onnxruntime.__file__).parent
    config = read_yaml(str(package / "config.yaml"))["Rec"]
    config.update(
        model_path=str(package / config["model_path"]),
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
        rec_batch_num=batch,
    )
    return TextRecognizer(config)


def score_subset(recognizer: Any, path: Path, protocol: str) -> dict[str, Any]:
    """Read every record of one LMDB (BGR, as PaddleOCR expects) and score it under ``protocol``."""
    reader = LmdbReader(path)
    images, labels = [], []
    for index in range(len(reader)):
        raw, label = reader.read(index)
        rgb = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
        images.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        labels.append(normalize_text(label, protocol))
    results, _ = recognizer(images)
    kept = [i for i, gt in enumerate(labels) if gt]
    gts = [labels[i] for i in kept]
    preds = [normalize_text(results[i][0], protocol) for i in kept]
    return {
        "samples": len(gts),
        "word_accuracy": 100 * word_accuracy(preds, gts),
        "one_minus_ned": 100 * mean_one_minus_ned(preds, gts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory holding one or more LMDBs (found recursively)")
    parser.add_argument("--protocol", default="en36", help="en36, case-sensitive, en94 or zh")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=6, help="rapidocr's rec_batch_num (its default is 6)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    subsets = sorted(p.parent for p in args.root.glob("**/data.mdb"))
    if not subsets:
        raise SystemExit(f"error: {args.root}: no LMDB below it")
    recognizer = pp_ocrv4(args.threads, args.batch)
    results = {str(p.relative_to(args.root)): score_subset(recognizer, p, args.protocol) for p in subsets}
    for name, r in results.items():
        print(f"{name}\t{r['samples']}\t{r['word_accuracy']:.2f}\t{r['one_minus_ned']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"protocol": args.protocol, "subsets": results}, indent=2))


if __name__ == "__main__":
    main()
