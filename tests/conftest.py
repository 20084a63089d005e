"""Shared test fixtures: paths of the repository and of ../shared (read by path, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The tests build models and load datasets by their registered names, as the tools do.
import ava_detector.builtin_datasets  # noqa: F401
import ava_detector.builtin_models  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared: required under CI=true, skipped with a reason elsewhere (a user's clone has none)."""
    if not SHARED.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared reference folder {SHARED} is missing")
        pytest.skip(
            f"reference data folder {SHARED} not present (only in the developers' checkout)"
        )
    return SHARED


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for the module (the 2-core CI machine is shared; OpenMP spinning
    thrashes otherwise). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_cfg(config_file: str | None = None, **overrides):
    """The project's config (defaults, then ``config_file`` relative to the repository, then
    ``overrides`` given as ``KEY__SUB=value`` for ``KEY.SUB``), e.g.
    ``make_cfg("configs/synthetic/tiny_slowfast.yaml", INPUT__DECODE_DEVICE="cpu:bytes")``."""
    from ava_detector.config.defaults import get_ava_cfg

    cfg = get_ava_cfg()
    if config_file is not None:
        cfg.merge_from_file(str(REPO / config_file))
    for key, value in overrides.items():
        node, *path = key.split("__")
        target = cfg[node]
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return cfg


@pytest.fixture(scope="session")
def cfg_factory():
    """:func:`make_cfg` as a fixture."""
    return make_cfg


def load_script(relative_path: str):
    """A repository script (``tools/demo.py``, ``data_prep/check_ava.py`` ...) imported as a module,
    so a test calls its ``main`` / ``cli`` in-process."""
    import importlib.util

    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(name: str):
    """``tools/<name>.py`` as a module (see :func:`load_script`)."""
    return load_script(f"tools/{name}.py")


def grey_video(path, n: int, fps) -> None:
    """A 32x32 H.264 video (lossless) whose frame k is a flat grey of level 20 + 4k: its levels
    survive H.264 and JPEG re-encoding almost exactly, so a test can tell which frame it got."""
    from fractions import Fraction

    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.options = {"crf": "0"}
        for k in range(n):
            img = np.full((32, 32, 3), 20 + 4 * k, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())
