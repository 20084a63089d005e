# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both install what they need first (tools/install.sh: idempotent, a no-op when nothing changed).
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-all lint clean-venv

install:
	@bash tools/install.sh

demo: install
	@bash tools/run_demo.sh

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m ""

# ruff (lint rules and formatting) over every Python file, mypy over the package (pyproject.toml).
lint: install
	$(PY) -m ruff check ava_detector tools data_prep tests
	$(PY) -m ruff format --check ava_detector tools data_prep tests
	$(PY) -m mypy

clean-venv:
	rm -rf .venv
