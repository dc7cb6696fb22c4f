#!/usr/bin/env bash
# Run every benchmark in sequence on this machine; results go to bench/results/*.json.
#
#   bench/run_all.sh            # the full run (~40 min on 2 CPU cores)
#   QUICK=1 bench/run_all.sh    # tiny settings: checks that every script works (~5 min)
#
# Environment: PYTHON (default .venv/bin/python), CUTOUT_STUDIO_HOME (where the model is
# installed), U2NET_HOME (a folder with the official u2netp.onnx, for rembg) or
# REMBG_ONNX=/path/to/u2netp.onnx, CUTOUT_BENCH_DATA (default ../shared/data),
# WAIT_QUIET=1.5: before each benchmark, wait (up to WAIT_MAX seconds, default 1200) until the
# 1-minute load average is below this (a shared machine: other people's jobs skew the times).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
RESULTS=bench/results
mkdir -p "$RESULTS"

rembg_args=()
if [[ -n "${REMBG_ONNX:-}" ]]; then
    rembg_args=(--rembg-onnx "$REMBG_ONNX")
elif [[ -z "${U2NET_HOME:-}" ]]; then
    echo "run_all.sh: set U2NET_HOME (folder with u2netp.onnx) or REMBG_ONNX for the rembg comparisons" >&2
    exit 2
fi

wait_quiet() {
    [[ -n "${WAIT_QUIET:-}" ]] || return 0
    local waited=0
    while awk -v max="$WAIT_QUIET" '{ exit !($1 >= max) }' /proc/loadavg; do
        if (( waited >= ${WAIT_MAX:-1200} )); then
            echo "--- still loaded after ${waited}s ($(cut -d' ' -f1-3 /proc/loadavg)): running anyway" >&2
            return 0
        fi
        sleep 20
        waited=$((waited + 20))
    done
}

run() {
    wait_quiet
    echo
    echo "=== $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$PYTHON" "$@"
}

if [[ -n "${QUICK:-}" ]]; then
    run bench/bench_model.py --runs 2 "${rembg_args[@]}"
    run bench/bench_single.py --sizes 1 3 --repeat 1 "${rembg_args[@]}"
    run bench/bench_batch.py --count 4 --factor 1 "${rembg_args[@]}"
    run bench/bench_refine.py --sizes 2 --strokes 3 --json "$RESULTS/refine.json"
    run bench/bench_memory.py --sizes 2 --rembg-sizes 2 "${rembg_args[@]}"
    run bench/bench_quality.py --limit 2 --rembg-check 1 "${rembg_args[@]}"
    gpu_args=(--batch-sizes 1 8 --runs 2 --pipeline-batch-sizes 8 --count 8)
else
    run bench/bench_model.py --runs 10 "${rembg_args[@]}"
    run bench/bench_single.py --sizes 3 12 24 --repeat 3 --profile "${rembg_args[@]}"
    run bench/bench_batch.py --count 30 --repeat 3 --webp-quality 90 "${rembg_args[@]}"
    run bench/bench_refine.py --sizes 12 24 48 --strokes 20 --json "$RESULTS/refine.json"
    run bench/bench_memory.py --sizes 24 100 --rembg-sizes 24 "${rembg_args[@]}"
    run bench/bench_quality.py --limit 100 --rembg-check 20 "${rembg_args[@]}"
    gpu_args=()
fi

# 77: no CUDA GPU here (the script says so); anything else is a failure.
status=0
run bench/bench_gpu.py "${gpu_args[@]}" || status=$?
if [[ $status -ne 0 && $status -ne 77 ]]; then
    exit "$status"
fi
echo
echo "results: $RESULTS/"
