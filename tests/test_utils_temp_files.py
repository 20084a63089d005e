"""Outputs renamed into place from temporary files keep the permissions ``open`` would give."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_io import write_ava_csv
from ava_detector.utils.atomic_files import atomic_open
from ava_detector.utils.temp_files import temp_beside


@pytest.fixture(params=[0o022, 0o077])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_temporary_files_and_the_outputs_follow_the_umask(tmp_path, mask):
    fd, tmp = temp_beside(tmp_path / "x.csv")
    os.close(fd)
    assert _mode(tmp) == 0o666 & ~mask and os.path.basename(tmp).startswith(".x.csv.")
    with atomic_open(tmp_path / "model.pth") as f:
        f.write(b"weights")
    table = AVABoxes(
        ("v",),
        np.zeros(1, np.int32),
        np.array([902.0]),
        np.array([[0.1, 0.2, 0.3, 0.4]]),
        np.array([12]),
        np.array([0.5]),
    )
    write_ava_csv(tmp_path / "detections.csv", table)
    for name in ("model.pth", "detections.csv"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, (
            name
        )  # 0o644 with the usual umask, not 0o600
