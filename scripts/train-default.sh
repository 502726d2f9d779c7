#!/usr/bin/env bash
# Train the shipped default models from scratch and install them as scenetext/weights/{default,default-zh}/.
#
# usage: scripts/train-default.sh [en|zh|all]      (default: all; run from the repository root)
#
# Needs the real IIIT5K and ICDAR 2015 train splits (REAL, default ../shared/data/real; they are research data
# and never enter the repository). Writes everything else under WORK (default runs/default-data; runs/ is git-ignored).
#
# Resources, as measured for docs/models.md on the project's 2-core CPU machine shared with other jobs (no GPU):
#   English: import + split ~1 min; rendering 24,000 synthetic words ~3.5 min (~116 img/s, 2 workers);
#            training 800 steps of batch 32: 25 min (10 to 72 img/s depending on the load).
#   Chinese: rendering 10,000 words 6 min (30 img/s, 1 worker, shared); training 300 steps: 17 min.
# These runs are far too short to read (both models score 0% word accuracy, see docs/models.md). On a GPU,
# raise trainer.max_steps to tens of thousands, render more (or use `kind: synth` on the fly with many
# workers), and consider model.options.encoder=svtr-tiny; nothing else in this script changes.
set -euo pipefail

WHICH="${1:-all}"
REAL="${REAL:-../shared/data/real}"
WORK="${WORK:-runs/default-data}"
RUNS="${RUNS:-runs}"
# One intra-op thread: on the shared 2-core machine two threads spent ~10x more CPU time per step (spinning) and ran 5-6x slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

install_last() {  # $1 run directory, $2 built-in name: the run's final weights as the package's artifact
    rm -rf "scenetext/weights/$2"
    python scripts/ckpt_to_artifact.py "$1" "$1/checkpoints/last.ckpt" "scenetext/weights/$2"
}

if [[ "$WHICH" == en || "$WHICH" == all ]]; then
    scenetext data create --format tags --input "$REAL/iiit5k-train/train.tags" --output "$WORK/real/iiit5k" --overwrite
    scenetext data create --format icdar --input "$REAL/ic15-train/gt.txt" --output "$WORK/real/ic15" --overwrite
    # The same held-out split as benchmarks/peer_rapidocr.py (fraction 0.1, seed 0).
    for set in iiit5k ic15; do
        rm -rf "$WORK/split/train/$set" "$WORK/split/val/$set"
        python scripts/split_lmdb.py "$WORK/real/$set" "$WORK/split/train/$set" "$WORK/split/val/$set" \
            --val-fraction 0.1 --seed 0
    done
    scenetext synth --lang en --count 24000 --seed 1 --workers 2 --output "$WORK/synth/en" --overwrite
    scenetext train configs/default/en.yaml run.output_dir="$RUNS" \
        "data.train.0.roots=[$WORK/split/train]" "data.train.1.roots=[$WORK/synth/en]" "data.val=[$WORK/split/val]"
    # Validation accuracy stays 0 in so short a run, so the final weights are shipped, not the (first) "best".
    install_last "$RUNS/default-en" default
fi

if [[ "$WHICH" == zh || "$WHICH" == all ]]; then
    scenetext synth --lang zh --count 10000 --seed 0 --workers 2 --output "$WORK/synth/zh" --overwrite
    rm -rf "$WORK/split-zh"
    python scripts/split_lmdb.py "$WORK/synth/zh" "$WORK/split-zh/train/synth" "$WORK/split-zh/val/synth" \
        --val-fraction 0.05 --seed 0
    scenetext train configs/default/zh.yaml run.output_dir="$RUNS" \
        "data.train.0.roots=[$WORK/split-zh/train]" "data.val=[$WORK/split-zh/val]"
    install_last "$RUNS/default-zh" default-zh
fi
