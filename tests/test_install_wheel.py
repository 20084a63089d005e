"""``tools/install_detectron2.py --wheel-dir``: the patched Detectron2 as a wheel, for a machine
without internet access (README, "Installing offline"), built from a stand-in sdist."""

from __future__ import annotations

import importlib.metadata
import subprocess
import tarfile
import zipfile
from pathlib import Path

from conftest import load_tool


def _stand_in_sdist(tmp_path):
    """A pb1-detectron2-shaped archive: its own setup files, NumPy aliases, ``Image.LINEAR`` and a
    ``pkg_resources`` import, as the real sdist has them."""
    root = tmp_path / "pb1-detectron2-0.6"
    pkg = root / "detectron2"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "0.6"\n')
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "resize.py").write_text(
        "import numpy as np\nfrom PIL import Image\nINTERP = Image.LINEAR\nKIND = np.float\n"
    )
    (pkg / "zoo.py").write_text("import os\nimport pkg_resources\n")
    (root / "setup.py").write_text("raise SystemExit('needs the C++ sources')\n")
    (root / "setup.cfg").write_text("[metadata]\nname = pb1-detectron2\n")
    archive = tmp_path / "pb1_detectron2-0.6.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return archive


def test_wheel_dir_writes_the_patched_pure_python_wheel_and_installs_nothing(tmp_path, capsys):
    out = tmp_path / "wheels"
    tool = load_tool("install_detectron2")
    assert tool.main(["--sdist", str(_stand_in_sdist(tmp_path)), "--wheel-dir", str(out)]) == 0
    wheels = list(out.glob("*.whl"))
    assert [w.name for w in wheels] == ["detectron2-0.6-py3-none-any.whl"]
    assert str(wheels[0]) in capsys.readouterr().out
    with zipfile.ZipFile(wheels[0]) as whl:
        names = set(whl.namelist())
        assert {"detectron2/__init__.py", "detectron2/data/resize.py", "detectron2/_C.py"} <= names
        resize = whl.read("detectron2/data/resize.py").decode()
        assert "Image.BILINEAR" in resize and "KIND = float" in resize
        assert "pkg_resources" not in whl.read("detectron2/zoo.py").decode()
        assert "raise ImportError" in whl.read("detectron2/_C.py").decode()
    import detectron2  # the environment's own Detectron2, not the stand-in

    assert Path(detectron2.__file__).read_text() != '__version__ = "0.6"\n'


def _wheelhouse():
    return load_tool("build_wheelhouse")


def test_closure_leaves_out_what_only_the_excluded_reach():
    graph = {
        "app": ["lib-a", "Torch"],
        "lib-a": ["lib-b", "app"],  # a cycle is walked once
        "lib-b": [],
        "torch": ["nvidia-cublas", "lib-b"],
        "nvidia-cublas": [],
    }
    closure = _wheelhouse().closure(["app"], lambda n: graph[n], exclude=["torch"])
    assert closure == ["app", "lib-a", "lib-b"]  # lib-b stays: lib-a needs it as well


def test_runtime_requirements_skip_extras_and_markers_that_do_not_hold():
    class Dist(importlib.metadata.Distribution):
        def read_text(self, filename):
            if filename != "METADATA":
                return None
            return (
                "Name: app\nVersion: 1\n"
                "Requires-Dist: NumPy>=1.0\n"
                "Requires-Dist: ruff; extra == 'dev'\n"
                "Requires-Dist: pywin32; sys_platform == 'win32'\n"
                "Requires-Dist: typing_extensions; python_version >= '3.0'\n"
            )

        def locate_file(self, path):
            return Path(path)

    assert _wheelhouse().runtime_requirements(Dist()) == ["numpy", "typing-extensions"]


def test_is_pure_reads_the_wheel_tags():
    tool = _wheelhouse()
    assert tool.is_pure("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    assert tool.is_pure("Tag: py2-none-any\nTag: py3-none-any\n")
    assert not tool.is_pure("Root-Is-Purelib: false\nTag: cp311-abi3-manylinux_2_28_x86_64\n")
    assert not tool.is_pure(None)  # no WHEEL file: fetched as a compiled package


def test_freeze_names_reads_pip_freeze_output():
    text = (
        "# a comment\nNumPy==2.5.2\ntorch==2.11.0+cu130\nPyYAML @ file:///tmp/pyyaml.whl\n"
        "-e git+https://example.org/x.git#egg=x\n--index-url https://example.org\n\n"
        "typing_extensions==4.14.0  # pinned\n"
    )
    assert _wheelhouse().freeze_names(text) == {"numpy", "torch", "pyyaml", "typing-extensions"}


def test_plan_over_this_environment_splits_pure_from_compiled_and_leaves_torch_out():
    pure, compiled = _wheelhouse().plan(have={"simplejpeg"})
    pure_names = {n.lower() for n, _ in pure}
    compiled_names = {n.lower() for n, _ in compiled}
    assert {"fvcore", "iopath", "yacs"} <= pure_names
    assert "av" in compiled_names and "simplejpeg" not in compiled_names  # on the target
    everything = pure_names | compiled_names
    assert not {"torch", "torchvision", "ava_detector", "ava-detector", "detectron2"} & everything
    assert not any(n.startswith("nvidia") or n == "triton" for n in everything)
    assert dict(pure)["fvcore"] == importlib.metadata.version("fvcore")  # the versions used here


def test_wheelhouse_names_a_missing_freeze_file(tmp_path, capsys):
    missing = tmp_path / "freeze.txt"
    assert _wheelhouse().main(["--out", str(tmp_path / "w"), "--have", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "w").exists()  # nothing written


def test_wheelhouse_keeps_an_existing_folder_unless_forced(tmp_path, capsys):
    out = tmp_path / "wheels"
    out.mkdir()
    (out / "old-1.0-py3-none-any.whl").write_text("")
    assert _wheelhouse().main(["--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["old-1.0-py3-none-any.whl"]
    assert not (tmp_path / "wheels.tmp").exists()


def test_a_failed_step_leaves_no_wheel_folder(tmp_path, monkeypatch, capsys):
    tool = _wheelhouse()
    calls = []

    def fail(cmd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(tool.subprocess, "run", fail)
    out = tmp_path / "wheels"
    assert tool.main(["--out", str(out)]) == 1
    assert len(calls) == 1 and "--wheel-dir" in calls[0]  # stopped at the first step
    assert "Detectron2 (patched)" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "wheels.tmp").exists()
