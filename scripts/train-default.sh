#!/usr/bin/env bash
# Train the shipped default models from scratch and install them as scenetext/weights/{default,default-zh}/.
#
# usage: scripts/train-default.sh [en|en94|zh|all]      (default: all; run from the repository root)
#
# The shipped English default is the en94 chain: `en` (stages 1-2, en36), then `en94` (stages 3a-3b: case and
# punctuation, all four real sets; stage 4: street-photo renders); `all` runs en, en94 and zh in that order.
#
# Needs the real IIIT5K and ICDAR 2015 train splits (REAL, default ../shared/data/real; they are research data
# and never enter the repository). Writes everything else under WORK (default runs/default-data) and RUNS
# (default runs); runs/ is git-ignored.
#
# Resources, as measured for docs/models.md on the project's 2-core CPU machine (no GPU):
#   English: import + split ~1 min; rendering 124,000 synthetic words ~4 min (2 workers, ~550 img/s);
#            stage 1, synthetic only: 1,500 + 3,000 steps of batch 32, about an hour on one core;
#            stage 2, real + synthetic: 6,500 steps of batch 64, about 85 minutes (one training thread plus
#            one loader process, ~80 img/s).
#   Chinese: rendering 70,000 words ~5 min (1 worker); training 10,000 steps of batch 32 on one core,
#            about 80 minutes (~65 img/s).
# The two languages can train side by side on two cores (that is how the shipped weights were made).
set -euo pipefail

WHICH="${1:-all}"
REAL="${REAL:-../shared/data/real}"
WORK="${WORK:-runs/default-data}"
RUNS="${RUNS:-runs}"
# One intra-op thread per training: a second one gained ~1.2x alone and lost 5-9x when the cores were shared.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

ship_onnx() {  # $1 built-in name: its model.onnx, re-exported from the weights just installed (with attention
    # maps, for read --attention-dir), so the inference-only install reads the same model (tests/test_runtime_light.py
    # checks that the two agree). The parity check needs fonts for the language (scripts/install-fonts.sh).
    scenetext export --model "scenetext/weights/$1" --onnx "scenetext/weights/$1/model.onnx" --attention
}

install_last() {  # $1 run directory, $2 built-in name: the run's final weights as the package's artifact
    rm -rf "scenetext/weights/$2"
    python scripts/ckpt_to_artifact.py "$1" "$1/checkpoints/last.ckpt" "scenetext/weights/$2"
    ship_onnx "$2"
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
    scenetext synth --lang en --count 100000 --seed 3 --workers 2 --output "$WORK/synth/en-100k" --overwrite
    common=(run.output_dir="$RUNS" "data.train.0.roots=[$WORK/synth/en]" "data.val=[$WORK/split/val]")
    # Stage 1: synthetic only, from scratch, then 3,000 more steps with a fresh OneCycle.
    scenetext train configs/default/en-synth.yaml "${common[@]}"
    scenetext train configs/default/en-synth.yaml "${common[@]}" run.name=default-en-synth-2 \
        model.init_from="$RUNS/default-en-synth/checkpoints/last.ckpt" trainer.max_steps=3000 \
        trainer.val_check_interval=750
    # Stage 2: real + synthetic with augmentation, from stage 1's last weights.
    scenetext train configs/default/en.yaml run.output_dir="$RUNS" \
        model.init_from="$RUNS/default-en-synth-2/checkpoints/last.ckpt" \
        "data.train.0.roots=[$WORK/split/train]" "data.train.1.roots=[$WORK/synth/en,$WORK/synth/en-100k]" \
        "data.val=[$WORK/split/val]"
    install_last "$RUNS/default-en" default
fi

if [[ "$WHICH" == en94 || "$WHICH" == all ]]; then
    # Stage 3 (session 3, about 1 h 40 min on one pinned core at 70-85 img/s): the four real sets cut into
    # train/dev/report (dev picks the shipped weights, report is only reported), 150,000 en94 renders.
    scripts/real-splits.sh runs/real
    scenetext synth --lang en --charset en94 --count 150000 --seed 11 --workers 2 \
        --output "$WORK/synth/en94-150k" --overwrite
    rm -rf "$RUNS/default-en-last"   # stage 2's final weights (the en36 default it shipped) as an artifact
    python scripts/ckpt_to_artifact.py "$RUNS/default-en" "$RUNS/default-en/checkpoints/last.ckpt" \
        "$RUNS/default-en-last"
    scenetext train configs/default/en94.yaml run.output_dir="$RUNS" model.init_from="$RUNS/default-en-last"
    scenetext train configs/default/en94-all.yaml run.output_dir="$RUNS" \
        model.init_from="$RUNS/default-en94-a/best"
    # Stage 4 (session 5, about 2 h on one pinned core): 100,000 more renders on street-photo patches cut from
    # the SVT train photos of the train part (dev and report photos excluded, by their source paths).
    python -c 'import sys; from scenetext.data.lmdb_store import LmdbReader as R
print("\n".join(sorted({s.decode() for d in sys.argv[1:] for s in R(d).sources() if s})))' \
        runs/real/split/dev/svt runs/real/split/report/svt > "$WORK/svt-heldout-photos.txt"
    scenetext synth backgrounds --svt "$REAL/svt-train/train.xml" --exclude-list "$WORK/svt-heldout-photos.txt" \
        --output "$WORK/bg-svt-train" --overwrite
    scenetext synth --lang en --charset en94 --count 100000 --seed 12 --workers 2 \
        --backgrounds "$WORK/bg-svt-train" --categories general=3,incidental=3,curve,multi-oriented,artistic,contextless,salient,multi-words \
        --output "$WORK/synth/en94-photo-100k" --overwrite
    scenetext train configs/default/en94-photo.yaml run.output_dir="$RUNS" \
        model.init_from="$RUNS/default-en94/best"
    rm -rf scenetext/weights/default
    cp -r "$RUNS/default-en94-photo/best" scenetext/weights/default   # the best dev checkpoint's artifact
    ship_onnx default
fi

if [[ "$WHICH" == zh || "$WHICH" == all ]]; then
    scenetext synth --lang zh --count 10000 --seed 0 --workers 2 --output "$WORK/synth/zh" --overwrite
    scenetext synth --lang zh --count 60000 --seed 5 --workers 2 --output "$WORK/synth/zh-60k" --overwrite
    rm -rf "$WORK/split-zh"
    python scripts/split_lmdb.py "$WORK/synth/zh" "$WORK/split-zh/train/synth" "$WORK/split-zh/val/synth" \
        --val-fraction 0.05 --seed 0
    scenetext train configs/default/zh.yaml run.output_dir="$RUNS" \
        "data.train.0.roots=[$WORK/split-zh/train,$WORK/synth/zh-60k]" "data.val=[$WORK/split-zh/val]"
    install_last "$RUNS/default-zh" default-zh
fi
