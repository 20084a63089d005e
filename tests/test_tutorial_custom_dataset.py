"""docs/custom_dataset.md's end-to-end steps, run as the document writes them: generated videos and
their CVAT exports -> the training encoding -> import -> data doctor -> train (and the error without --gt-boxes) -> evaluate
-> demo -> export back to CVAT."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    """The shell commands of the document's end-to-end block (continuation lines joined)."""
    text = (REPO / "docs" / "custom_dataset.md").read_text()
    block = text.split("## End to end", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")
    ]


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    args = shlex.split(command)
    assert args[0] == "python"
    script = REPO / args[1] if not Path(args[1]).is_absolute() else Path(args[1])
    args = [sys.executable, str(script), *args[2:]]
    args = [str(REPO / a) if a.startswith("configs/") else a for a in args]
    if "cvat_export/*.xml" in args:  # the shell's glob
        i = args.index("cvat_export/*.xml")
        args[i : i + 1] = sorted(
            str(p.relative_to(cwd)) for p in (cwd / "cvat_export").glob("*.xml")
        )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)


def test_the_documented_steps_run_end_to_end(tmp_path):
    commands = _commands()
    assert [shlex.split(c)[1] for c in commands] == [
        "data_prep/make_synthetic_ava.py",
        "data_prep/export_annotations.py",
        "data_prep/transcode_videos.py",
        "data_prep/import_annotations.py",
        "data_prep/check_ava.py",
        "tools/train_ava.py",
        "tools/train_ava.py",
        "tools/demo.py",
        "data_prep/export_annotations.py",
    ]
    outputs = []
    for i, command in enumerate(commands):
        if i == 5:  # first as a user who forgot --gt-boxes: stopped before training, one line
            early = _run(command.replace(" --gt-boxes", ""), tmp_path)
            assert early.returncode == 2 and not (tmp_path / "out").exists()
            assert (
                "kitchen_val: none of 3 keyframes has a box for testing"
                in early.stderr.strip().splitlines()[-1]
            )
        done = _run(command, tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    kitchen = tmp_path / "kitchen"
    label_map = (
        kitchen / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    ).read_text()
    assert label_map.count("label_id") == 6
    assert "wrote 4 video(s)" in outputs[2]
    assert "warn" in outputs[4] and "make_proposals.py" in outputs[4]
    assert (tmp_path / "out" / "model_final.pth").is_file()
    assert re.search(r"kitchen_val: GT-box mAP@0\.5IOU = [01]\.\d{4}", outputs[6])
    detections = tmp_path / "out" / "eval" / "inference" / "kitchen_val" / "detections.csv"
    assert {line.split(",")[6] for line in detections.read_text().splitlines()} == {
        str(i) for i in range(1, 7)
    }
    rows = [line.split(",") for line in (tmp_path / "demo" / "out.csv").read_text().splitlines()]
    assert rows and {len(r) for r in rows} == {9}  # the 8 official columns, then the track id
    assert (tmp_path / "demo" / "out.mp4").is_file() and (
        tmp_path / "demo" / "tracks.json"
    ).is_file()
    back = ET.parse(tmp_path / "back" / "syn_val_000.xml").getroot()
    assert back.find("version").text == "1.1" and back.findall("track")
