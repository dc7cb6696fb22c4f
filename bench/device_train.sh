#!/usr/bin/env bash
# The one training run on a lent CUDA machine (the `device` tool): fine-tune U²-Netp for MINUTES
# (default 5) on the packed sets, then score the result and U²-Netp on every set's val part.
# Everything is written under $OUT:
#   cutout-product.safetensors  the best weights by val score (the product's U²-Netp layout)
#   cutout-product.json         config, base weights, training/val files, val history, images/s
#   cutout-product.ckpt/        the last state, to continue with `train --resume`
#   eval_val_cutout-product.json, eval_val_u2netp.json, log.txt, nvidia-smi.txt
# It expects, carried beside the checkout (carry: [".gpu"]):
#   .gpu/whl/    wheels of the pure-Python packages the device image lacks (platformdirs, pymatting, pysodmetrics)
#   .gpu/home/   a CUTOUT_STUDIO_HOME with the installed u2netp weights (models/u2netp.safetensors + .json)
#   .gpu/train/  the packed sets + backgrounds: python bench/pack_training_data.py --out .gpu/train
# Locally, the script itself is checked with:
#   DEVICE=cpu MINUTES=1 BATCH=4 SIZE=64 OUT=/tmp/out bash bench/device_train.sh
set -uo pipefail
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/device-out}
PY=${PY:-python3}
MINUTES=${MINUTES:-5}
BATCH=${BATCH:-32}
SIZE=${SIZE:-320}
DATA=${DATA:-.gpu/train}
WORKERS=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}
HOME_SRC=${HOME_SRC:-.gpu/home}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
step() { echo "=== $1 ($(date +%T))"; }
{
  if ! $PY -c "import platformdirs, py_sod_metrics, pymatting" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
  fi
  # a scratch home: the installed u2netp, and the trained weights registered as cutout-product below
  rm -rf /tmp/train-home && mkdir -p /tmp/train-home && cp -r "$HOME_SRC/models" /tmp/train-home/
  export CUTOUT_STUDIO_HOME=/tmp/train-home
  step "versions"
  $PY -c "import torch, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0)); print('cv2', cv2.__version__)"
  echo "cores $(nproc), loader workers $WORKERS, shm $(df -h /dev/shm | tail -1 | awk '{print $4}') free"
  [ "$DEVICE" = cuda ] && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  SETS=$(for d in "$DATA"/*/; do [ -d "$d/images" ] && printf '%s ' "${d%/}"; done)
  echo "sets: $SETS"
  step "train ($MINUTES min on $DEVICE)"
  # the time limit covers start-up, val passes and the last checkpoint; `timeout` is only the safety net
  timeout $(( MINUTES * 60 + 90 )) $PY -m cutout_studio train "$DATA" --device "$DEVICE" --base u2netp \
    --time-limit "$MINUTES" --steps 100000 --batch-size "$BATCH" --size "$SIZE" --workers "$WORKERS" \
    --val-every ${VAL_EVERY:-300} --val-limit 64 --output "$OUT/cutout-product.safetensors" ${TRAIN_ARGS:-}
  echo "train exit $?"
  $PY -c "import json; r = json.load(open('$OUT/cutout-product.json')); print('steps', r['step'], 'images/s', r['images_per_second'], 'best', r['best'])"
  step "eval on the val parts"
  cp "$OUT/cutout-product.safetensors" /tmp/train-home/models/cutout-product.safetensors
  cp "$OUT/cutout-product.json" /tmp/train-home/models/cutout-product.json  # carries the sha256 the loader checks
  for model in cutout-product u2netp; do
    timeout 150 $PY -m cutout_studio eval $SETS --split val --model "$model" --method cutout --method u2netp-plain \
      --device "$DEVICE" --json "$OUT/eval_val_$model.json"
    echo "eval $model exit $?"
  done
  step "end"
} 2>&1 | tee "$OUT/log.txt"
