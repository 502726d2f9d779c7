#!/usr/bin/env bash
# The one-command GPU training kit (scripts/gpu_kit.py holds the steps; docs/benchmarks.md the figures).
#
# usage: scripts/gpu-kit.sh build [--real DIR] [--recipe YAML] [--weights ARTIFACT] [...]   (here; needs PyPI)
#        scripts/gpu-kit.sh run [--set key=value ...]          (on the GPU machine: the device tool's command)
#        scripts/gpu-kit.sh run --dry                          (the same chain on this CPU, about a minute)
#
# build writes kit/ (carried to the GPU machine: name it in the device tool's `carry`) and kit-dry/ (the
# dry run's cp311 wheels); both are git-ignored. run installs the kit's wheels into a fresh temporary target
# (PYTHONPATH, nothing else touched), trains, writes $OUT/{checkpoint,artifact}/, $OUT/stats.json and
# $OUT/log.txt (six files: the device tool returns at most eight), then reads a few rendered samples back
# with `scenetext read --model $OUT/artifact`. On the GPU machine:
#   device run: command "scripts/gpu-kit.sh run", carry ["kit"], timeout_s 540
set -euo pipefail
cd "$(dirname "$0")/.."
command="${1:-}"
shift || true

case "$command" in
build)
    exec "${PYTHON:-python}" scripts/gpu_kit.py build "$@"
    ;;
run)
    start=$SECONDS
    dry=0
    for arg in "$@"; do [[ "$arg" == --dry ]] && dry=1; done
    kit="${KIT:-kit}"
    if ((dry)); then
        python="${PYTHON:-python}"
        wheels="${KIT_DRY:-kit-dry}/wheels"
        export OUT="${OUT:-runs/gpu-kit-dry}"
    else
        python="${PYTHON:-python3}"
        wheels="$kit/wheels"
        export OUT="${OUT:-runs/gpu-kit}"
        nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv ||
            { echo "gpu-kit error: nvidia-smi failed (no GPU here? use --dry)" >&2; exit 1; }
    fi
    ls "$wheels"/*.whl >/dev/null 2>&1 || { echo "gpu-kit error: no wheels in $wheels (run build first)" >&2; exit 1; }
    work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-kit.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    site="$work/site"
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
    echo "[gpu-kit] wheels installed into $site ($((SECONDS - start)) s so far)"
    export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
    mkdir -p "$OUT"
    "$python" scripts/gpu_kit.py run --kit "$kit" --site "$site" --samples "$work/samples" "$@" 2>&1 |
        tee "$OUT/log.txt"
    echo "[gpu-kit] scenetext read --model $OUT/artifact (the rendered samples; their labels are logged above):"
    "$python" -m scenetext.cli.main read --model "$OUT/artifact" "$work/samples"
    echo "[gpu-kit] finished in $((SECONDS - start)) s"
    ;;
*)
    echo "usage: scripts/gpu-kit.sh build [options] | run [--dry] [options]  (see scripts/gpu_kit.py --help)" >&2
    exit 2
    ;;
esac
