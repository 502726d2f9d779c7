"""Hold out part of an LMDB for validation: a seeded random split into two new LMDBs.

usage: python scripts/split_lmdb.py INPUT TRAIN_OUT VAL_OUT [--val-fraction 0.1] [--seed 0]

Records are copied byte for byte (images are not re-encoded); the same seed gives the same split. Both outputs
are written atomically by LmdbWriter, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from scenetext.data.lmdb_store import LmdbReader, LmdbWriter
from scenetext.errors import ScenetextError


def split_lmdb(source: str, train_out: str, val_out: str, val_fraction: float, seed: int) -> tuple[int, int]:
    """Copy a ``val_fraction`` share of ``source`` (at least one record) to ``val_out``, the rest to train."""
    if not 0 < val_fraction < 1:
        raise ScenetextError(f"--val-fraction {val_fraction}: must be between 0 and 1")
    reader = LmdbReader(source)
    total = len(reader)
    if total < 2:
        raise ScenetextError(f"{source}: {total} records, too few to split")
    order = np.random.default_rng(seed).permutation(total)
    n_val = max(1, round(total * val_fraction))
    val = set(order[:n_val].tolist())
    with LmdbWriter(train_out) as train_writer, LmdbWriter(val_out) as val_writer:
        for index in range(total):
            image, label = reader.read(index)
            (val_writer if index in val else train_writer).add(image, label)
    return total - n_val, n_val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("train_output")
    parser.add_argument("val_output")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        n_train, n_val = split_lmdb(
            args.input, args.train_output, args.val_output, args.val_fraction, args.seed
        )
    except ScenetextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.input}: {n_train} records -> {args.train_output}, {n_val} -> {args.val_output}")


if __name__ == "__main__":
    main()
