"""Benchmark evaluation: every LMDB under a root is one subset, scored under a normalisation protocol.

Used by ``scenetext test``. Decoding is greedy (argmax, cut at the first EOS) over the model's own
``max_length + 1`` positions, as in both papers' test scripts. Ground truths are taken raw from the LMDB and
normalised together with the predictions, so the protocol alone decides what counts (spec-nastr §6.1,
spec-lpv §5); ``max_label_length`` optionally drops long ground truths first (LPV drops raw length > 25).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from scenetext.engine.metrics import RecognitionMetrics, SubsetTable
from scenetext.engine.protocols import normalize_text
from scenetext.errors import ScenetextError
from scenetext.runtime.decode import decode_probs


def discover_subsets(roots: list[str] | tuple[str, ...]) -> list[tuple[str, Path]]:
    """(name, LMDB path) for every LMDB below each root, named by its path relative to the root.

    A root that is itself an LMDB is named after its directory. With several roots, names are prefixed by
    the root's directory name so they stay unique.
    """
    from scenetext.data.lmdb_store import find_lmdbs

    subsets: list[tuple[str, Path]] = []
    for root in roots:
        root_path = Path(root)
        found = find_lmdbs(root_path)
        if not found:
            raise ScenetextError(f"{root}: no LMDB found (no data.mdb in it or below it)")
        for path in found:
            relative = path.relative_to(root_path).as_posix()
            name = root_path.name if relative == "." else relative
            if len(roots) > 1 and relative != ".":
                name = f"{root_path.name}/{relative}"
            subsets.append((name, path))
    names = [name for name, _ in subsets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenetextError(f"validation subsets with the same name: {', '.join(duplicates)}")
    return subsets


class MaxLengthFilter:
    """Keeps raw labels of at most ``max_length`` characters (a LabelFilter-compatible callable)."""

    def __init__(self, max_length: int | None) -> None:
        self.max_length = max_length

    def __call__(self, label: str) -> str | None:
        return label if self.max_length is None or len(label) <= self.max_length else None


@dataclass
class SubsetResult:
    """Scores of one subset and, optionally, its per-sample predictions."""

    name: str
    path: Path
    metrics: RecognitionMetrics
    filtered: int = 0
    skipped: int = 0
    predictions: list[tuple[int, str, str, float]] = field(default_factory=list)


@dataclass
class Evaluation:
    subsets: list[SubsetResult]
    protocol: str
    char_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def table(self) -> SubsetTable:
        return SubsetTable({s.name: s.metrics for s in self.subsets})

    def to_json(self) -> dict[str, Any]:
        """``{"subsets": {NAME: {"n", "accuracy", "ned", ...}}, "average": {"weighted", "unweighted"}}``."""
        return {**self.table().to_json(), "protocol": self.protocol}

    def top_word_confusions(self, k: int) -> list[tuple[str, str, int]]:
        pooled: Counter[tuple[str, str]] = Counter()
        for subset in self.subsets:
            pooled.update(subset.metrics.confusions)
        return [(gt, pred, n) for (gt, pred), n in pooled.most_common(k)]

    def top_char_confusions(self, k: int) -> list[tuple[str, str, int]]:
        """Most frequent character edits (expected -> read; '' is a missing or an extra character)."""
        return [(gt, pred, n) for (gt, pred), n in self.char_confusions.most_common(k)]

    def write_predictions(self, path: str | Path) -> None:
        """CSV with one row per sample: subset, LMDB index, ground truth, prediction, correct, confidence."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subset", "index", "label", "prediction", "correct", "confidence"])
            for subset in self.subsets:
                for index, label, text, confidence in subset.predictions:
                    correct = normalize_text(label, self.protocol) == normalize_text(text, self.protocol)
                    writer.writerow([subset.name, index, label, text, int(correct), f"{confidence:.4f}"])


class _WithRecordIndex:
    """Map-style view of a dataset whose samples carry their LMDB record index (for the predictions CSV)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, str, int] | None:
        sample = self.dataset[i]
        return None if sample is None else (sample[0], sample[1], self.dataset.record_index(i))


def _collate_with_index(samples: list[tuple[Any, str, int] | None]) -> tuple[Any, list[int]]:
    from scenetext.data.dataset import collate_batch

    kept = [s for s in samples if s is not None]
    batch = collate_batch([(image, label) for image, label, _ in kept])
    batch.skipped = len(samples) - len(kept)
    return batch, [index for _, _, index in kept]


def _char_edits(gt: str, pred: str) -> list[tuple[str, str]]:
    edits = []
    for op in Levenshtein.editops(gt, pred):
        if op.tag == "replace":
            edits.append((gt[op.src_pos], pred[op.dest_pos]))
        elif op.tag == "delete":
            edits.append((gt[op.src_pos], ""))
        else:
            edits.append(("", pred[op.dest_pos]))
    return edits


def evaluate(
    model: Any,
    tokenizer: Any,
    preprocess: Any,
    subsets: list[tuple[str, Path]],
    protocol: str,
    batch_size: int = 64,
    num_workers: int = 0,
    max_label_length: int | None = None,
    device: str = "cpu",
    keep_predictions: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
) -> Evaluation:
    """Score ``model`` on each subset; ``on_batch(subset, n_images)`` reports progress."""
    import torch
    from torch.utils.data import DataLoader

    from scenetext.data.dataset import TextRecognitionDataset
    from scenetext.runtime.preprocess import ImagePreprocessor

    preprocessor = ImagePreprocessor(preprocess)
    model.eval().to(device)
    evaluation = Evaluation([], protocol)
    for name, path in subsets:
        dataset = TextRecognitionDataset(path, preprocessor, MaxLengthFilter(max_label_length))
        metrics = RecognitionMetrics(protocol=protocol, keep_confusions=True)
        result = SubsetResult(name, Path(path), metrics, filtered=dataset.num_filtered)
        loader = DataLoader(
            _WithRecordIndex(dataset),
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=_collate_with_index,
            pin_memory=device != "cpu",
        )
        with torch.inference_mode():
            for batch, indices in loader:
                result.skipped += batch.skipped
                if len(batch) == 0:
                    continue
                probs = model(batch.images.to(device)).logits.float().softmax(-1).cpu().numpy()
                decoded = decode_probs(tokenizer, probs)
                predictions = [text for text, _, _ in decoded]
                metrics.update(predictions, batch.labels)
                for label, prediction in zip(batch.labels, predictions, strict=True):
                    gt, pred = normalize_text(label, protocol), normalize_text(prediction, protocol)
                    if gt != pred:
                        evaluation.char_confusions.update(_char_edits(gt, pred))
                if keep_predictions:
                    rows = zip(indices, batch.labels, decoded, strict=True)
                    result.predictions += [(i, label, text, conf) for i, label, (text, conf, _) in rows]
                if on_batch is not None:
                    on_batch(name, len(batch) + batch.skipped)
        evaluation.subsets.append(result)
    return evaluation
