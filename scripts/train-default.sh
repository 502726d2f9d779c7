#!/usr/bin/env bash
# Train the shipped default models from scratch and install them as scenetext/weights/{default,default-zh}/.
#
# usage: scripts/train-default.sh [en|zh|all]      (default: all; run from the repository root)
#
# Needs the real IIIT5K and ICDAR 2015 train splits (REAL, default ../shared/data/real; they are research data
# and never enter the repository). Writes everything else under WORK (default runs/default-data; runs/ is git-ignored).
#
# Resources, as measured for docs/models.md on 2 CPU cores shared with other jobs (no GPU):
#   English: import + split ~1 min, rendering 24,000 synthetic words ~4 min unshared (~116 img/s on 2 cores),
#            training 1,200 steps of batch 32 ~1 h or more (the step time depends on the load).
#   Chinese: rendering 10,000 words ~6 min (shared), training 300 steps of batch 32 at 32x128.
# On a GPU the same recipes run in minutes; a GPU run should instead raise trainer.max_steps (tens of
# thousands), the synthetic counts (or use `kind: synth` on the fly with many workers) and the model size
# (e.g. model.options.encoder=svtr-tiny), see docs/models.md.
set -euo pipefail

WHICH="${1:-all}"
REAL="${REAL:-../shared/data/real}"
WORK="${WORK:-runs/default-data}"
RUNS="${RUNS:-runs}"
# One intra-op thread: on the shared 2-core machine two threads spent ~5x more CPU time per step (spinning).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

install_best() {  # $1 run directory, $2 built-in name: copy the best artifact into the package
    rm -rf "scenetext/weights/$2"
    mkdir -p "scenetext/weights/$2"
    cp "$1/best/model.safetensors" "$1/best/config.json" "scenetext/weights/$2/"
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
    install_best "$RUNS/default-en" default
fi

if [[ "$WHICH" == zh || "$WHICH" == all ]]; then
    scenetext synth --lang zh --count 10000 --seed 0 --workers 2 --output "$WORK/synth/zh" --overwrite
    rm -rf "$WORK/split-zh"
    python scripts/split_lmdb.py "$WORK/synth/zh" "$WORK/split-zh/train/synth" "$WORK/split-zh/val/synth" \
        --val-fraction 0.05 --seed 0
    scenetext train configs/default/zh.yaml run.output_dir="$RUNS" \
        "data.train.0.roots=[$WORK/split-zh/train]" "data.val=[$WORK/split-zh/val]"
    # Its synthetic validation accuracy stays 0 in so short a run, so the final weights are shipped, not the
    # (first) "best" ones.
    rm -rf "scenetext/weights/default-zh"
    python scripts/ckpt_to_artifact.py "$RUNS/default-zh" "$RUNS/default-zh/checkpoints/last.ckpt" \
        scenetext/weights/default-zh
fi
