#!/usr/bin/env bash
# The one prepared script for a lent CUDA machine (the `device` tool): CUDA-marked tests, the CUDA
# mask quality against the CPU's on the same photos, a CUDA batch through the CLI, and bench_gpu.py.
# Everything it measures is written under $OUT. It expects, carried beside the checkout in .gpu/:
#   .gpu/whl/    wheels of the pure-Python packages the device image lacks (platformdirs, pymatting, pysodmetrics)
#   .gpu/home/   a CUTOUT_STUDIO_HOME with the installed u2netp weights (never committed: third-party)
#   .gpu/data/   a few image/mask pairs per set (subset of ../shared/data)
# Locally, `DEVICE=cpu OUT=/tmp/out bash bench/device_check.sh` checks the script itself.
set -uo pipefail
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/device-out}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 CUTOUT_STUDIO_HOME="$PWD/.gpu/home" QT_QPA_PLATFORM=offscreen
if [ "$DEVICE" = cuda ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
fi
step() { echo "=== $1 ($(date +%T))"; }
{
  step "versions"
  $PY -c "import torch, numpy, cv2, PIL; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0)); print('numpy', numpy.__version__, 'cv2', cv2.__version__, 'PIL', PIL.__version__)"
  nproc
  step "gpu-marked tests"
  timeout 120 $PY -m pytest -p no:cacheprovider -q -m gpu tests/unit/test_segmenter.py -rA
  step "mask quality: $DEVICE vs cpu on the same photos"
  for dev in "$DEVICE" cpu; do
    timeout 100 $PY -m cutout_studio eval .gpu/data/objects-coco .gpu/data/people-ccp .gpu/data/davis \
      --method cutout --device "$dev" --json "$OUT/eval_$dev.json" | tail -8
    [ "$DEVICE" = cpu ] && break
  done
  # the device's CPU has native bf16 (AMX): the same photos in exact float32, to see what bf16 costs
  timeout 100 $PY -m cutout_studio eval .gpu/data/objects-coco .gpu/data/people-ccp .gpu/data/davis \
    --method cutout --device cpu --precision float32 --json "$OUT/eval_cpu_float32.json" | tail -5
  step "CLI batch on $DEVICE"
  rm -rf /tmp/gpu-batch
  /usr/bin/time -v timeout 90 $PY -m cutout_studio batch .gpu/data -o /tmp/gpu-batch --device "$DEVICE" 2> "$OUT/batch_time.txt" | tail -5
  echo "exit $? ; outputs: $(find /tmp/gpu-batch -name '*.png' | wc -l)"
  grep -E "Elapsed|Maximum resident" "$OUT/batch_time.txt"
  step "bench_gpu.py"
  timeout 200 $PY bench/bench_gpu.py --device "$DEVICE" --data .gpu/data --json "$OUT/gpu.json" ${BENCH_ARGS:-}
  step "end"
} 2>&1 | tee "$OUT/log.txt"
