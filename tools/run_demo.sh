#!/usr/bin/env bash
# The embedded main job (what `make demo` runs after the install):
#   synthetic AVA-format dataset (generated once) -> train the tiny SlowFast on CPU -> evaluate on
#   the synthetic val split -> per-class AP table and mAP@0.5IOU.
# DEMO_COMPARE=1 also trains the tiny Slow-only on the same data and prints both per-class tables
# side by side (the Fast pathway should win on "hand wave", which aliases for the Slow sampling).
# Extra arguments go to tools/train_ava.py as config overrides (e.g. SOLVER.MAX_ITER 100).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONUNBUFFERED=1  # progress lines through the filter below as they come
export AVA_SYNTHETIC_DATASETS="${AVA_SYNTHETIC_DATASETS:-datasets/ava_synthetic}"
OUT="${DEMO_OUTPUT:-output/demo}"
start=$(date +%s)

if [ ! -f "$AVA_SYNTHETIC_DATASETS/dataset.json" ]; then
  echo "== generating the synthetic AVA dataset in $AVA_SYNTHETIC_DATASETS"
  $PY data_prep/make_synthetic_ava.py --out "$AVA_SYNTHETIC_DATASETS"
else
  echo "== synthetic AVA dataset: $AVA_SYNTHETIC_DATASETS (exists)"
fi

run() {  # run NAME CONFIG [opts...]: train from scratch, evaluate, print the table
  local name=$1 config=$2
  shift 2
  echo "== training $name ($config) on CPU; log: $OUT/$name/log.txt"
  # progress (ETA) and results only; the full log is in log.txt
  $PY tools/train_ava.py --config "$config" OUTPUT_DIR "$OUT/$name" "$@" 2>&1 \
    | grep --line-buffered -E 'eta:|AVA frame mAP on|Starting training|Total training time|Total inference|: (GT-box )?mAP@|^\||data \[|Error|Traceback' \
    | grep --line-buffered -v copypaste || true
  [ -f "$OUT/$name/ava_results.json" ] || { echo "demo: $name produced no results" >&2; exit 1; }
}

run tiny_slowfast configs/synthetic/tiny_slowfast.yaml "$@"
if [ "${DEMO_COMPARE:-0}" = "1" ]; then
  run tiny_slow configs/synthetic/tiny_slow.yaml "$@"
  echo "== per-class AP, SlowFast vs Slow-only (synthetic val)"
  $PY - "$OUT" <<'PY'
import sys
from ava_detector.ava.evaluation.results import format_comparison, load_results
out = sys.argv[1]
print(format_comparison({name: load_results(f"{out}/{name}/ava_results.json")["ava_synthetic_val"]
                         for name in ("tiny_slowfast", "tiny_slow")}))
PY
fi
echo "demo: done in $(( $(date +%s) - start )) s (results and logs in $OUT)"
