"""Holding out part of an LMDB: a seeded, deterministic split into two new LMDBs.

The selection is the one the shipped default models were trained with: ``numpy.random.default_rng(seed)``
permutes the records and the first ``max(1, round(n * val_fraction))`` of the permutation are held out.
Crops cut out of whole photos carry their photo's path (``source-%09d``); then whole photos are permuted
instead of records, and photos are held out in permutation order until the held-out part reaches that size,
so no photo has words on both sides. A record without a source counts as a photo of its own, so an LMDB
without sources gets exactly the record-level selection.

Records (image, label, source) are copied byte for byte; both outputs are written atomically by LmdbWriter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenetext.data.lmdb_store import LmdbReader, LmdbWriter, find_lmdbs
from scenetext.errors import ScenetextError


@dataclass(frozen=True)
class SplitResult:
    """One LMDB split: where its two parts went and their sizes."""

    source: Path
    train_output: Path
    val_output: Path
    train: int
    val: int
    photos: int | None  # distinct source photos, None when the records carry no source


def _check_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise ScenetextError(f"--val-fraction {val_fraction}: must be between 0 and 1")


def select_held_out(sources: Sequence[bytes | None], val_fraction: float, seed: int) -> list[int]:
    """The sorted 0-based indices of the held-out records (see the module docstring for the rule)."""
    _check_fraction(val_fraction)
    total = len(sources)
    groups: dict[object, list[int]] = {}
    for index, source in enumerate(sources):
        groups.setdefault(index if source is None else source, []).append(index)
    if len(groups) < 2:
        what = "photo" if total > 1 else "record"
        raise ScenetextError(f"{total} records from {len(groups)} {what}: too few to split")
    members = list(groups.values())
    target = max(1, round(total * val_fraction))
    held_out: list[int] = []
    for group in np.random.default_rng(seed).permutation(len(members)).tolist():
        if len(held_out) >= target:
            break
        held_out += members[group]
    if len(held_out) >= total:
        raise ScenetextError(f"--val-fraction {val_fraction}: would leave no record for training")
    return sorted(held_out)


def split_lmdb(
    source: str | Path,
    train_output: str | Path,
    val_output: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    overwrite: bool = False,
) -> SplitResult:
    """Copy the held-out records of the LMDB ``source`` to ``val_output`` and the rest to ``train_output``."""
    reader = LmdbReader(source)
    sources = reader.sources()
    held_out = set(select_held_out(sources, val_fraction, seed))
    with (
        LmdbWriter(train_output, overwrite=overwrite) as train_writer,
        LmdbWriter(val_output, overwrite=overwrite) as val_writer,
    ):
        for index in range(len(reader)):
            image, label = reader.read(index)
            (val_writer if index in held_out else train_writer).add(image, label, sources[index])
    with_source = {s for s in sources if s is not None}
    return SplitResult(
        Path(source),
        Path(train_output),
        Path(val_output),
        len(reader) - len(held_out),
        len(held_out),
        len(with_source) if with_source else None,
    )


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def split_root(
    root: str | Path,
    train_output: str | Path,
    val_output: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    overwrite: bool = False,
) -> list[SplitResult]:
    """Split every LMDB under ``root`` on its own, with the same seed.

    An LMDB at ``root/REL`` goes to ``train_output/REL`` and ``val_output/REL``; when ``root`` is itself the
    LMDB, to the two outputs themselves. Every destination is checked before anything is written.
    """
    _check_fraction(val_fraction)
    root, train_output, val_output = Path(root), Path(train_output), Path(val_output)
    lmdbs = find_lmdbs(root)
    if not lmdbs:
        raise ScenetextError(f"{root}: no LMDB found (no data.mdb in it or below it)")
    for output in (train_output, val_output):
        if _inside(output, root):
            raise ScenetextError(f"{output}: lies inside the input {root}; choose an output outside it")
    if train_output.resolve() == val_output.resolve():
        raise ScenetextError(f"{train_output}: the two outputs must differ")
    plan = [(lmdb, lmdb.relative_to(root)) for lmdb in lmdbs]
    if not overwrite:
        for _, relative in plan:
            for output in (train_output / relative, val_output / relative):
                if output.is_file() or (output.is_dir() and any(output.iterdir())):
                    raise ScenetextError(f"{output}: already exists (replace it with --overwrite)")
    return [
        split_lmdb(lmdb, train_output / rel, val_output / rel, val_fraction, seed, overwrite)
        for lmdb, rel in plan
    ]
