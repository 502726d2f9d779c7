"""Torch datasets over text-recognition LMDBs, and the batch format every training and evaluation loop uses.

An unreadable record is never swapped for a random other sample (the NASTR code does that, spec-nastr §4.1;
LPV substitutes a blank image, spec-lpv §3.2): ``__getitem__`` returns None for it and logs a warning naming
the LMDB and the index, and :func:`collate_batch` drops the Nones and counts them in ``Batch.skipped``. The
count travels inside the batch because collation runs in the DataLoader workers, whose counters the main
process never sees; the engine sums ``batch.skipped`` and logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from scenetext.data.charset import LabelFilter
from scenetext.data.lmdb_store import CorruptRecordError, LmdbReader, find_lmdbs
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import ImagePreprocessor, load_image

logger = logging.getLogger(__name__)

Transform = Callable[[np.ndarray], np.ndarray]
"""Augmentation hook: uint8 H x W x 3 RGB array (the decoded image, before resizing) -> the same kind."""

Sample = tuple[torch.Tensor, str]


class TextRecognitionDataset(Dataset):
    """One LMDB as ``(image 3 x H x W float32, label)`` samples, labels filtered once at construction.

    Labels are kept as one UTF-8 buffer plus offsets rather than a list of Python strings, so DataLoader
    workers do not duplicate millions of refcounted objects (copy-on-write) for MJ/ST-sized sets.
    ``skipped`` counts unreadable records in this process only; use ``Batch.skipped`` for the global count.
    """

    def __init__(
        self,
        path: str | Path,
        preprocessor: ImagePreprocessor,
        label_filter: LabelFilter | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.reader = LmdbReader(path)
        self.preprocessor = preprocessor
        self.transform = transform
        indices: list[int] = []
        encoded: list[bytes] = []
        raw_labels = self.reader.labels(skip_unreadable=True)
        self.num_unreadable_labels = 0
        for index, raw in enumerate(raw_labels):
            if raw is None:
                self.num_unreadable_labels += 1
                continue
            label = label_filter(raw) if label_filter is not None else raw
            if label is not None:
                indices.append(index)
                encoded.append(label.encode("utf-8"))
        if self.num_unreadable_labels:
            first = raw_labels.index(None)
            logger.warning(
                "%s: skipping %d records with a missing or invalid label (first: record %d)",
                self.path,
                self.num_unreadable_labels,
                first,
            )
        self.num_records = len(raw_labels)
        self._indices = np.asarray(indices, dtype=np.int64)
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self._offsets[1:])
        self._label_buffer = b"".join(encoded)
        self.skipped = 0

    @property
    def path(self) -> Path:
        return self.reader.path

    @property
    def num_filtered(self) -> int:
        """Records whose label the filter dropped."""
        return self.num_records - self.num_unreadable_labels - len(self)

    def __len__(self) -> int:
        return len(self._indices)

    def label(self, i: int) -> str:
        """The filtered label of sample ``i`` (no image decoding)."""
        start, end = self._offsets[i], self._offsets[i + 1]
        return self._label_buffer[start:end].decode("utf-8")

    def record_index(self, i: int) -> int:
        """The 0-based LMDB record behind sample ``i``."""
        return int(self._indices[i])

    def _skip(self, reason: ScenetextError) -> None:
        self.skipped += 1
        logger.warning("skipping unreadable sample: %s", reason)
        return None

    def __getitem__(self, i: int) -> Sample | None:
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.path}: sample {i} out of range (size {len(self)})")
        i %= len(self)
        record = self.record_index(i)
        try:
            data = self.reader.read_image(record)
        except CorruptRecordError as exc:  # only this record; failing to open the LMDB at all still raises
            return self._skip(exc)
        try:
            image = load_image(data, name=f"{self.path} record {record}")
        except ScenetextError as exc:
            return self._skip(exc)
        array = np.asarray(image)
        if self.transform is not None:
            array = self.transform(array)
        return torch.from_numpy(self.preprocessor(array)), self.label(i)


@dataclass
class Batch:
    """A collated batch. Unpacks as ``images, labels = batch``; ``skipped`` counts dropped unreadable samples.

    ``images`` is N x 3 x H x W float32; N can be 0 when every sample of the batch was unreadable (skip such a
    batch, ``len(batch) == 0``). ``pin_memory``/``to`` let DataLoader and Lightning move it like a tensor.
    """

    images: torch.Tensor
    labels: list[str]
    skipped: int = 0

    def __iter__(self) -> Iterator[torch.Tensor | list[str]]:
        yield self.images
        yield self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def pin_memory(self) -> Batch:
        return Batch(self.images.pin_memory(), self.labels, self.skipped)

    def to(self, *args, **kwargs) -> Batch:
        return Batch(self.images.to(*args, **kwargs), self.labels, self.skipped)


def collate_batch(samples: Sequence[Sample | None]) -> Batch:
    """Stack ``(image, label)`` samples into a :class:`Batch`, dropping (and counting) None samples."""
    kept = [s for s in samples if s is not None]
    skipped = len(samples) - len(kept)
    if not kept:
        return Batch(torch.empty(0, 3, 0, 0), [], skipped)
    return Batch(torch.stack([image for image, _ in kept]), [label for _, label in kept], skipped)


def _expand(root_or_paths: str | Path | Sequence[str | Path]) -> list[Path]:
    roots = [root_or_paths] if isinstance(root_or_paths, str | Path) else list(root_or_paths)
    if not roots:
        raise ScenetextError("no dataset path given")
    paths: list[Path] = []
    for root in roots:
        found = find_lmdbs(root)
        if not found:
            raise ScenetextError(f"{root}: no LMDB found (no data.mdb in it or below it)")
        paths += [p for p in found if p not in paths]
    return paths


def build_dataset(
    root_or_paths: str | Path | Sequence[str | Path],
    preprocessor: ImagePreprocessor,
    label_filter: LabelFilter | None = None,
    transform: Transform | None = None,
) -> ConcatDataset:
    """Every LMDB found (recursively) under the given roots, concatenated in path order.

    Logs one line per LMDB (records, kept, filtered out) and the label filter's report. Nest two results in a
    ``ConcatDataset`` to mix them by ratio with :class:`scenetext.data.mixing.RatioBatchSampler`.
    """
    datasets = [
        TextRecognitionDataset(p, preprocessor, label_filter, transform) for p in _expand(root_or_paths)
    ]
    for ds in datasets:
        logger.info(
            "%s: %d records, %d kept, %d filtered out", ds.path, ds.num_records, len(ds), ds.num_filtered
        )
    if label_filter is not None:
        logger.info("%s", label_filter.report())
    concat = ConcatDataset(datasets)
    if len(concat) == 0:
        where = ", ".join(str(ds.path) for ds in datasets)
        raise ScenetextError(f"{where}: every sample was filtered out (check the charset and max length)")
    return concat


def lmdb_datasets(dataset: Dataset) -> list[TextRecognitionDataset]:
    """The per-LMDB datasets inside a (possibly nested) ConcatDataset, in order, for per-LMDB reports."""
    if isinstance(dataset, TextRecognitionDataset):
        return [dataset]
    if isinstance(dataset, ConcatDataset):
        return [leaf for child in dataset.datasets for leaf in lmdb_datasets(child)]
    return []
