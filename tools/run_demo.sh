#!/usr/bin/env bash
# The embedded main job: what `make demo` runs after the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m detectron2.utils.collect_env 2>/dev/null | head -12
$PY -c "import ava_detector; from ava_detector.config import get_ava_cfg; cfg = get_ava_cfg(); cfg.merge_from_file('configs/Base-SlowFast.yaml'); print('ava_detector', ava_detector.__version__, '| config OK:', cfg.MODEL.META_ARCHITECTURE)"
echo "demo: the environment is ready. The synthetic-data train/evaluate job is not built yet (issues 3-6)."
