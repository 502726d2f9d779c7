#!/usr/bin/env bash
# Import the four real training sets and cut each into train, dev and report parts (the default-model splits).
#
# usage: scripts/real-splits.sh [OUT]          (default OUT: runs/real; REAL defaults to ../shared/data/real)
#
# Writes OUT/real/<set> (whole sets), OUT/split/{train,dev,report}/<set>, and OUT/heldout/<set> (dev + report).
# - IIIT5K (train-punct.tags: case and punctuation as printed) and IC15 keep the held-out records of
#   `data split --val-fraction 0.1 --seed 0` that the earlier shipped defaults never trained on; SVT holds out
#   0.3 (it has only 257 words) and IC13 born-digital 0.1, both by photo (no photo's words on both sides).
# - Each held-out part is then halved with seed 1: `data split HELDOUT DEV REPORT --val-fraction 0.5 --seed 1`
#   (the second output, "report", is the seeded half; whole-photo sets again by photo).
# Dev chooses models, checkpoints and what ships; report is only reported. The sets are research data: OUT must
# stay outside the repository (runs/ is git-ignored).
set -euo pipefail

OUT="${1:-runs/real}"
REAL="${REAL:-../shared/data/real}"

create() {  # $1 set name, then the data create arguments
    local name="$1"; shift
    scenetext data create "$@" --output "$OUT/real/$name" --overwrite
}
create iiit5k-punct --format tags --input "$REAL/iiit5k-train/train-punct.tags"
create ic15 --format icdar --input "$REAL/ic15-train/gt.txt"
create svt --format svt --input "$REAL/svt-train/train.xml"
create ic13-bd --format icdar13-boxes --input "$REAL/ic13-borndigital-train/gt" \
    --images "$REAL/ic13-borndigital-train/images"

rm -rf "$OUT/split" "$OUT/heldout"
for spec in iiit5k-punct:0.1 ic15:0.1 svt:0.3 ic13-bd:0.1; do
    name="${spec%%:*}" fraction="${spec##*:}"
    scenetext data split "$OUT/real/$name" "$OUT/split/train/$name" "$OUT/heldout/$name" \
        --val-fraction "$fraction" --seed 0
    scenetext data split "$OUT/heldout/$name" "$OUT/split/dev/$name" "$OUT/split/report/$name" \
        --val-fraction 0.5 --seed 1
done
