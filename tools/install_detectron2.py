"""Install Detectron2 0.6 as a pure-Python package from the `pb1-detectron2==0.6` sdist.

The only Detectron2 on the package registries is that sdist: Detectron2 v0.6's Python sources without
its C++ sources, so its own setup.py cannot build. This script downloads it, writes a minimal
pure-Python setup in its place, stands in a `detectron2._C` module whose attributes raise a clear
ImportError (only deformable convolution and rotated-box ops need it; RoIAlign and NMS come from
torchvision), applies upstream's later compatibility fixes (``Image.LINEAR`` -> ``Image.BILINEAR`` for
current Pillow, removed NumPy aliases ``np.bool/np.int/np.float``) and pip-installs the result into
the running interpreter. Nothing of Detectron2 is committed to this repository.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "pb1-detectron2==0.6"

C_STUB = '''"""Stand-in for Detectron2's compiled extension, which this installation does not build.

The pb1-detectron2 sdist ships no C++/CUDA sources. Everything ava_detector uses runs without it
(RoIAlign and NMS come from torchvision); only deformable convolution, rotated-box ops
(IoU, NMS, RoIAlign of rotated boxes) and the C++ COCO evaluator need it.
"""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(
        f"detectron2._C.{name} is a compiled op (deformable convolution, rotated boxes or the fast "
        "COCO evaluator) and this Detectron2 was installed without its C++ extension "
        "(pb1-detectron2 ships no C++ sources). Use torchvision's ops or a source build of Detectron2."
    )


def get_compiler_version():
    return "not built (pure-Python install of pb1-detectron2 0.6)"


def get_cuda_version():
    return "not built"


def has_cuda():
    return False
'''

SETUP_PY = """from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="0.6",
    description="Detectron2 0.6 (pure-Python install from the pb1-detectron2 sdist, no C++ extension)",
    packages=find_packages(include=["detectron2", "detectron2.*"]),
    package_data={"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]},
    include_package_data=False,
    python_requires=">=3.7",
)
"""

NUMPY_ALIASES = {r"\bnp\.bool\b": "bool", r"\bnp\.int\b": "int", r"\bnp\.float\b": "float"}
# setuptools >= 81 no longer ships pkg_resources; the model zoo only used it to find its own files.
PKG_RESOURCES = {
    "import pkg_resources\n": "",
    'pkg_resources.resource_filename(\n        "detectron2.model_zoo", os.path.join("configs", config_path)\n    )': 'os.path.join(os.path.dirname(__file__), "configs", config_path)',
    # Python >= 3.11: random.sample needs a sequence (MapDataset's retry after a mapper returns None).
    "self._rng.sample(self._fallback_candidates, k=1)": "self._rng.sample(sorted(self._fallback_candidates), k=1)",
}


def patch_sources(root: Path) -> list[str]:
    """Apply the compatibility fixes in place; return the files changed."""
    changed = []
    pkg = root / "detectron2"
    (pkg / "_C.py").write_text(C_STUB)
    for path in sorted(pkg.rglob("*.py")):
        text = path.read_text()
        new = text.replace("Image.LINEAR", "Image.BILINEAR")
        for pattern, repl in NUMPY_ALIASES.items():
            new = re.sub(pattern, repl, new)
        for old, repl in PKG_RESOURCES.items():
            new = new.replace(old, repl)
        if new != text:
            path.write_text(new)
            changed.append(str(path.relative_to(root)))
    (root / "setup.py").write_text(SETUP_PY)
    for leftover in ("setup.cfg", "pyproject.toml"):
        (root / leftover).unlink(missing_ok=True)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", help="use this pb1-detectron2 .tar.gz instead of downloading it")
    parser.add_argument(
        "--wheel-dir",
        help="build the patched Detectron2 as a wheel into this folder instead of installing it "
        "(to install on a machine without internet access: README, 'Installing offline')",
    )
    args = parser.parse_args(argv)
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory(prefix="d2-install-") as tmp:
        tmpdir = Path(tmp)
        if args.sdist:
            archive = Path(args.sdist)
        else:
            subprocess.run(
                pip
                + [
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-build-isolation",
                    "--no-binary",
                    ":all:",
                    "-d",
                    str(tmpdir),
                    SDIST,
                ],
                check=True,
            )
            archive = next(tmpdir.glob("pb1[-_]detectron2-*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(tmpdir, filter="data")
        src = next(p for p in tmpdir.iterdir() if p.is_dir() and (p / "detectron2").is_dir())
        changed = patch_sources(src)
        print(f"patched {len(changed)} Detectron2 files for torch 2.x / Pillow 10+ / NumPy 2")
        if args.wheel_dir:
            Path(args.wheel_dir).mkdir(parents=True, exist_ok=True)
            subprocess.run(
                pip
                + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", args.wheel_dir]
                + [str(src)],
                check=True,
            )
            print(f"wrote {next(Path(args.wheel_dir).glob('detectron2-0.6-*.whl'))}")
            return 0
        subprocess.run(
            pip
            + ["install", "-q", "--no-deps", "--no-build-isolation", "--force-reinstall", str(src)],
            check=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
