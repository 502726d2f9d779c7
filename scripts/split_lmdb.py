"""Hold out part of an LMDB for validation; kept for old command lines, ``scenetext data split`` is the same.

usage: python scripts/split_lmdb.py INPUT TRAIN_OUT VAL_OUT [--val-fraction 0.1] [--seed 0]

Same selection as ``scenetext data split`` (scenetext/data/split.py), which is the one implementation.
"""

from __future__ import annotations

import argparse
import sys

from scenetext.data.split import split_lmdb
from scenetext.errors import ScenetextError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("train_output")
    parser.add_argument("val_output")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        result = split_lmdb(args.input, args.train_output, args.val_output, args.val_fraction, args.seed)
    except ScenetextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.input}: {result.train} records -> {args.train_output}, {result.val} -> {args.val_output}")


if __name__ == "__main__":
    main()
