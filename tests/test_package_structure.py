"""The package's structure rules (docs/interfaces.md, "Structure"), read from the import statements."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ava_detector"
CORE = ("config", "data", "modeling", "checkpoint", "engine", "utils")
TASKS = ("ava", "kinetics")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of the ava_detector modules ``path`` imports (also inside functions)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n for n in found if n.startswith("ava_detector")}


def _files(*subpackages: str) -> list[Path]:
    return sorted(p for s in subpackages for p in (PACKAGE / s).rglob("*.py"))


def test_imports_of_reads_absolute_relative_and_function_level_imports(tmp_path):
    pkg = PACKAGE / "data"  # a real location for the relative import to resolve against
    source = "from .errors import X\nimport ava_detector.utils.temp_files\ndef f():\n    from ava_detector.ava import mapper\n"
    probe = pkg / "_probe_for_test.py"
    probe.write_text(source)
    try:
        assert imports_of(probe) == {
            "ava_detector.data.errors",
            "ava_detector.utils.temp_files",
            "ava_detector.ava",
        }
    finally:
        probe.unlink()


@pytest.mark.parametrize("path", _files(*CORE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_no_task_package(path):
    bad = {
        n for n in imports_of(path) if n.split(".")[1] in TASKS + ("demo", "export", "benchmarks")
    }
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("kinetics"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_kinetics_imports_nothing_from_the_ava_package(path):
    bad = {
        n for n in imports_of(path) if n == "ava_detector.ava" or n.startswith("ava_detector.ava.")
    }
    assert not bad, f"{path} imports {sorted(bad)}"


def test_package_inits_hold_only_a_docstring():
    for init in PACKAGE.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        statements = [
            s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        if init.parent == PACKAGE:  # the top level: __version__ and one warnings filter
            assert {type(s).__name__ for s in statements} <= {"Import", "Assign", "Expr"}, init
            continue
        assert statements == [], f"{init} has code: {ast.unparse(statements[0])}"
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        assert not any(
            isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body
        ), path


def test_offline_evaluator_modules_import_no_torch():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['evaluate_ava.py', '--help']\n"
        "try:\n    runpy.run_path('tools/evaluate_ava.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'detectron2', 'cv2') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE.parent,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
