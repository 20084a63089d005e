"""Checkpoint writes that survive ``kill -9``: a process is killed (SIGKILL, at a fixed point of the
write, not after a delay) while a checkpoint or the ``last_checkpoint`` tag is written; what is left
on disk must resume from a complete file, and the temporaries are removed at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ava_detector.checkpoint.checkpointer import (
    SafeDetectionCheckpointer,
    checkpoint_problem,
)
from ava_detector.engine.cli import remove_stray_files
from ava_detector.utils.atomic_files import (
    atomic_write_text,
    remove_stray_temporaries,
)

# Saves model_0000000 (weights = seed 0), adds 1 to the weights, then saves model_0000001 and is
# killed: "checkpoint" half-way through writing its bytes, "tag" after the checkpoint and the
# tag's temporary file are written but before the tag is renamed into place. "fvcore" is the
# "checkpoint" kill with fvcore's own (non-atomic) save, the failure these writes prevent.
_SCRIPT = textwrap.dedent("""
    import io, os, signal, sys
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from ava_detector.checkpoint.checkpointer import SafeDetectionCheckpointer

    out, mode = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    cls = DetectionCheckpointer if mode == "fvcore" else SafeDetectionCheckpointer
    checkpointer = cls(model, out)
    checkpointer.save("model_0000000")
    with torch.no_grad():
        model.weight.add_(1.0)
    if mode in ("checkpoint", "fvcore"):
        real_save = torch.save

        def killed_while_writing(obj, f):
            buf = io.BytesIO()
            real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = killed_while_writing
    else:
        real_replace = os.replace

        def killed_before_rename(src, dst):
            if str(dst).endswith("last_checkpoint"):
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)

        os.replace = killed_before_rename
    checkpointer.save("model_0000001")
""")


def _killed_run(out: Path, mode: str) -> None:
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out), mode],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _seed0_weight() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3).weight.detach().clone()


def test_fvcore_save_killed_leaves_a_truncated_checkpoint(tmp_path: Path):
    """The premise: without atomic writes the kill leaves a truncated model_0000001.pth."""
    _killed_run(tmp_path / "run", "fvcore")
    assert checkpoint_problem(str(tmp_path / "run" / "model_0000001.pth")) is not None


def test_kill_while_writing_a_checkpoint(tmp_path: Path):
    run = tmp_path / "run"
    _killed_run(run, "checkpoint")
    assert not (run / "model_0000001.pth").exists()  # never visible under its name half-written
    assert (run / "last_checkpoint").read_text() == "model_0000000.pth"
    stray = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp"))
    assert len(stray) == 1 and stray[0].startswith(".model_0000001.pth.")
    model = torch.nn.Linear(4, 3)
    checkpointer = SafeDetectionCheckpointer(model, str(run))
    assert checkpointer.find_resume_checkpoint() == str(run / "model_0000000.pth")
    checkpointer.resume_or_load("", resume=True)
    assert torch.equal(model.weight, _seed0_weight())
    assert remove_stray_temporaries(run) == [str(run / stray[0])]
    assert sorted(p.name for p in run.iterdir()) == ["last_checkpoint", "model_0000000.pth"]


def test_kill_while_writing_the_tag(tmp_path: Path):
    run = tmp_path / "run"
    _killed_run(run, "tag")
    assert (run / "last_checkpoint").read_text() == "model_0000000.pth"  # old tag, intact
    assert checkpoint_problem(str(run / "model_0000001.pth")) is None  # renamed before the tag
    stray = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert len(stray) == 1 and stray[0].startswith(".last_checkpoint.")
    model = torch.nn.Linear(4, 3)
    SafeDetectionCheckpointer(model, str(run)).resume_or_load("", resume=True)
    assert torch.equal(model.weight, _seed0_weight())


def test_save_that_fails_keeps_the_previous_files(tmp_path: Path, monkeypatch):
    model = torch.nn.Linear(4, 3)
    checkpointer = SafeDetectionCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000000")
    before = (tmp_path / "model_0000000.pth").read_bytes()

    def disk_full(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        checkpointer.save("model_0000000")
    assert (tmp_path / "model_0000000.pth").read_bytes() == before
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000000.pth"]


def test_tag_and_text_writes_are_atomic(tmp_path: Path):
    atomic_write_text(tmp_path / "t", "a")
    atomic_write_text(tmp_path / "t", "bc")
    assert (tmp_path / "t").read_text() == "bc" and os.listdir(tmp_path) == ["t"]


def test_stray_temporaries_are_removed_and_logged(tmp_path: Path, caplog):
    keep = [
        "model_0000001.pth",
        "last_checkpoint",
        "inference/ds/detections.csv",
        "notes.tmp",
        ".hidden.tmp",
        "inference/ds/.detections.csv.tmp",
    ]
    stray = [
        ".model_0000002.pth.k3j_x9a1.tmp",
        ".last_checkpoint.abcdefgh.tmp",
        "inference/ds/.detections.csv.0a1b2c3d.tmp",
        ".ava_results.json.zzzzzzzz.tmp",
    ]
    for name in keep + stray:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    with caplog.at_level("INFO", logger="ava_detector"):
        removed = remove_stray_files(str(tmp_path))
    assert sorted(removed) == sorted(str(tmp_path / s) for s in stray)
    assert all((tmp_path / k).exists() for k in keep)
    assert not any((tmp_path / s).exists() for s in stray)
    assert all(f"removed {tmp_path / s}" in caplog.text for s in stray)
    assert remove_stray_files(str(tmp_path / "missing")) == []
