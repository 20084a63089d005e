#!/usr/bin/env python
"""Wheels to install ava_detector on a machine without internet access that has torch already.

Run in this checkout's environment (``make install`` first), on a machine that reaches the package
registries::

    python tools/build_wheelhouse.py --out wheels --python-version 3.12 --have target-freeze.txt

It writes into ``--out``: the patched Detectron2 (``tools/install_detectron2.py --wheel-dir``),
ava_detector itself, and every package ava_detector needs, as installed here (same versions),
except torch and torchvision (and what only they need) and the names a ``pip freeze`` of the
target lists (``--have``) or ``--skip`` names. Pure-Python packages are built or fetched as ``py3-none-any`` wheels;
compiled ones are fetched for ``--python-version`` and ``--platform``. On the target, with this
checkout and the folder copied over::

    python -m pip install --no-index --find-links wheels ava_detector detectron2

(with ``--skip``: ``python -m pip install --no-index --no-deps wheels/*.whl``).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ava_detector.utils.atomic_files import folder_beside, replace_folder

ROOT = "ava_detector"
# On the target already: the wheels are GBs and must match its CUDA driver.
ON_TARGET = ("torch", "torchvision")
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def runtime_requirements(dist: md.Distribution) -> list[str]:
    """The canonical names ``dist`` needs at run time on this machine (extras and requirements
    whose environment markers do not hold left out)."""
    names = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(canonicalize_name(req.name))
    return names


def closure(
    roots: Iterable[str], requires: Callable[[str], list[str]], exclude: Iterable[str] = ()
) -> list[str]:
    """Every name reachable from ``roots`` through ``requires`` (sorted; roots included), without
    going into or listing an ``exclude``d name.

    Args:
        roots: canonical package names to start from.
        requires: a name's direct requirements (canonical names).
        exclude: names left out together with what only they reach.
    """
    skip = {canonicalize_name(n) for n in exclude}
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in roots]
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        seen.add(name)
        todo.extend(canonicalize_name(n) for n in requires(name))
    return sorted(seen)


def is_pure(wheel_metadata: str | None) -> bool:
    """Whether an installed distribution's ``WHEEL`` file says it is pure Python (every tag
    ``*-none-any``); False when there is none."""
    if not wheel_metadata:
        return False
    tags = re.findall(r"^Tag:\s*(\S+)\s*$", wheel_metadata, flags=re.M)
    return bool(tags) and all(t.endswith("-none-any") for t in tags)


def freeze_names(text: str) -> set[str]:
    """The canonical names a ``pip freeze`` (or ``pip list --format=freeze``) output lists;
    ``-e`` lines, options and comments skipped."""
    names = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.add(canonicalize_name(match.group(0)))
    return names


def _requires(name: str) -> list[str]:
    try:
        return runtime_requirements(md.distribution(name))
    except md.PackageNotFoundError:
        raise SystemExit(
            f"build_wheelhouse: {name} is required but not installed here (run `make install`)"
        ) from None


def plan(have: set[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(pure, compiled)``: ``(name, version)`` of the packages to put in the wheelhouse."""
    names = closure([ROOT], _requires, exclude=ON_TARGET)
    pure, compiled = [], []
    for name in names:
        if name in (canonicalize_name(ROOT), "detectron2") or name in have:
            continue
        dist = md.distribution(name)
        entry = (dist.metadata["Name"], dist.version)
        (pure if is_pure(dist.read_text("WHEEL")) else compiled).append(entry)
    return pure, compiled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", required=True, help="folder for the wheels (written whole, or not at all)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--python-version",
        default=f"{sys.version_info.major}.{sys.version_info.minor}",
        help="the target's Python (compiled wheels are fetched for it; default: this one's)",
    )
    parser.add_argument(
        "--platform",
        action="append",
        help=f"a wheel platform tag of the target (repeatable; default: {', '.join(PLATFORMS)})",
    )
    parser.add_argument(
        "--have",
        help="a `pip freeze` of the target: the packages it lists are left out, whatever version",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="NAME",
        help="leave this package out too (repeatable), e.g. opencv-python, whose cv2 the "
        "opencv-python-headless wheel provides; the target then installs with --no-deps",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    have: set[str] = set()
    if args.have:
        try:
            have = freeze_names(Path(args.have).read_text())
        except OSError as err:
            print(f"build_wheelhouse: error: --have {args.have}: {err.strerror}", file=sys.stderr)
            return 2
    skipped = {canonicalize_name(n) for n in args.skip}
    pure, compiled = plan(have | skipped)
    try:
        tmp = folder_beside(out, force=args.force)
    except FileExistsError as err:
        print(f"build_wheelhouse: error: {err}", file=sys.stderr)
        return 2
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    repo = Path(__file__).resolve().parent.parent
    detectron2 = [sys.executable, str(repo / "tools" / "install_detectron2.py")]
    steps: list[tuple[str, list[str]]] = [
        ("Detectron2 (patched)", detectron2 + ["--wheel-dir", str(tmp)]),
        (
            ROOT,
            pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(repo)],
        ),
    ]
    if pure:
        steps.append(
            (
                f"{len(pure)} pure-Python packages",
                pip + ["wheel", "-q", "--no-deps", "-w", str(tmp)] + [f"{n}=={v}" for n, v in pure],
            )
        )
    if compiled:
        platforms = [a for p in (args.platform or PLATFORMS) for a in ("--platform", p)]
        steps.append(
            (
                f"{len(compiled)} compiled packages for Python {args.python_version}",
                pip
                + ["download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(tmp)]
                + ["--python-version", args.python_version, "--implementation", "cp"]
                + platforms
                + [f"{n}=={v}" for n, v in compiled],
            )
        )
    for what, cmd in steps:
        print(f"build_wheelhouse: {what}", flush=True)
        if subprocess.run(cmd).returncode:
            print(f"build_wheelhouse: error: {what}: {' '.join(cmd)} failed", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            return 1
    replace_folder(tmp, out)
    wheels = sorted(out.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels)
    print(f"build_wheelhouse: {len(wheels)} wheels, {total / 2**20:.1f} MiB in {out}")
    if have:
        print(
            f"  left out as on the target: {len(have & set(closure([ROOT], _requires)))} packages"
        )
    if skipped:  # pip's resolver would look for the skipped packages
        print(f"  on the target: python -m pip install --no-index --no-deps {out}/*.whl")
    else:
        print(
            f"  on the target: python -m pip install --no-index --find-links {out} {ROOT} detectron2"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
