#!/usr/bin/env bash
# One idempotent install step: .venv with torch, a pure-Python Detectron2 0.6 and this project.
# A second run with unchanged inputs returns at once (hash stamp in .venv/.install-stamp).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP=$VENV/.install-stamp
inputs_hash() {
  cat tools/install.sh tools/install_detectron2.py constraints.txt setup.cfg pyproject.toml \
    | sha256sum | cut -d' ' -f1
}
want=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "install: up to date ($VENV)"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
filter() { grep -v "is ignored: it is neither a file nor a directory" || true; }

echo "install: [1/3] torch, torchvision and the Python dependencies"
"${PIP[@]}" install -q -c constraints.txt torch torchvision 2>&1 | filter
"${PIP[@]}" install -q -c constraints.txt setuptools wheel 2>&1 | filter
echo "install: [2/3] Detectron2 0.6 (pure Python, from the pb1-detectron2 sdist)"
D2_STAMP=$VENV/.detectron2-stamp
d2_want=$(sha256sum tools/install_detectron2.py | cut -d' ' -f1)
if [ ! -f "$D2_STAMP" ] || [ "$(cat "$D2_STAMP")" != "$d2_want" ] \
   || ! "$VENV/bin/python" -c "import detectron2._C" 2>/dev/null; then
  "$VENV/bin/python" tools/install_detectron2.py 2>&1 | filter
  echo "$d2_want" > "$D2_STAMP"
fi
echo "install: [3/3] ava_detector (editable) and its dependencies"
"${PIP[@]}" install -q -c constraints.txt --no-build-isolation -e ".[dev,export]" 2>&1 | filter

"$VENV/bin/python" -c "import detectron2, ava_detector; print('install: detectron2', detectron2.__version__, '| ava_detector', ava_detector.__version__)"
inputs_hash > "$STAMP"
echo "install: done in $(( $(date +%s) - start )) s"
