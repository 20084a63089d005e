#!/usr/bin/env bash
# The training figures a GPU machine gives, in one run (about 10 minutes on one GPU):
#   - training-step clips/s and peak memory of R50 and R101 32x2 at batch 8 and 16 with AMP (bf16),
#     on decoded clips and with INPUT.DECODE_DEVICE cuda (JPEG bytes decoded in every step);
#   - whether the trainer's loader keeps the GPU busy with 8 workers (R50, the faster model).
# Usage: bash tools/gpu_figures.sh [PYTHON]   (default .venv/bin/python)
# Overrides for a quick check: CONFIGS, BATCHES, DECODE ("cpu cuda"), FEED_WORKERS, ITERS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
CONFIGS=${CONFIGS:-configs/ava_slowfast_r50.yaml configs/ava_slowfast_r101.yaml}
BATCHES=${BATCHES:-8 16}
DECODE=${DECODE:-cpu cuda}
FEED_WORKERS=${FEED_WORKERS:-8}
ITERS=${ITERS:-20}

for config in $CONFIGS; do
  for batch in $BATCHES; do
    for decode in $DECODE; do
      echo "== train: $config, batch $batch, INPUT.DECODE_DEVICE $decode"
      "$PY" tools/benchmark.py train --config "$config" --batch "$batch" --amp on \
        --iters "$ITERS" --decode-device "$decode"
    done
  done
done
first=${CONFIGS%% *}
echo "== feed: $first, $FEED_WORKERS workers, INPUT.DECODE_DEVICE $DECODE"
# shellcheck disable=SC2086  # FEED_WORKERS and DECODE may list several values
"$PY" tools/benchmark.py feed --config "$first" --workers $FEED_WORKERS --batch 8 \
  --iters "$ITERS" --decode-device $DECODE
