"""Tracking end to end: a rendered video of crossing persons through tools/demo.py; the CSV's person ids
are the track ids, identities match the true ones (IDF1), and tracks.json / tracks.csv hold each
person's timeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_tool
from detectron2.modeling import build_model

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.synthetic_scene import (
    SceneSpec,
    make_background,
    person_box,
)
from ava_detector.demo.crossing_scene import (
    CrossingSpec,
    crossing_persons,
    render_crossing,
)
from ava_detector.demo.tracking_metrics import identity_metrics
from ava_detector.utils.video_writer import write_mp4

pytest.importorskip("motmetrics")
REPO = Path(__file__).resolve().parents[1]
VID = "crossing"
SECONDS = 10


def tiny_model(root: Path) -> tuple[Path, Path]:
    """A tiny SlowFast config and random weights under ``root``."""
    torch.set_num_threads(1)
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.TEST_SHORT_SIDE = 120
    (root / "tiny.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, root / "model.pth")
    return root / "tiny.yaml", root / "model.pth"


@pytest.fixture(scope="module")
def crossing_run(tmp_path_factory):
    """3 persons crossing for 10 s (person 1 out of view 4.5-5.5 s: no box at keyframe 5), their true boxes as a
    ground-truth CSV (true ids in column 8), and the demo run on it."""
    root = tmp_path_factory.mktemp("crossing")
    spec = CrossingSpec(scene=SceneSpec(duration=SECONDS, persons=(3, 3)), absent=((1, 4.5, 5.5),))
    rng = np.random.default_rng(3)
    persons = crossing_persons(rng, spec)
    background = make_background(rng, spec.scene)
    order = np.argsort(np.stack([p.cx for p in persons]), axis=0)
    assert (np.diff(order, axis=1) != 0).any(axis=0).sum() >= 2  # persons swap sides
    write_mp4(
        root / f"{VID}.mp4",
        [render_crossing(background, spec, persons, t) for t in range(spec.scene.num_frames)],
        spec.scene.fps,
    )
    rows = []
    for sec in range(SECONDS):
        for pid, p in enumerate(persons):
            if not any(q == pid and a <= sec <= b for q, a, b in spec.absent):
                x1, y1, x2, y2 = person_box(p, sec * spec.scene.fps, spec.scene)
                rows.append(f"{VID},{sec:04d},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},14,{pid}")
    (root / "gt.csv").write_text("\n".join(rows) + "\n")
    config, weights = tiny_model(root)
    rc = load_tool("demo").main(
        [
            "--config",
            str(config),
            "--weights",
            str(weights),
            "--input",
            str(root / f"{VID}.mp4"),
            "--output",
            str(root / "out" / "demo.mp4"),
            "--boxes",
            str(root / "gt.csv"),
            "--no-progress",
            "--smooth",
            "3",
            "--action-threshold",
            "0.0",
        ]
    )
    assert rc == 0
    return root


def _detections(root: Path) -> pd.DataFrame:
    det = pd.read_csv(
        root / "out" / "demo.csv",
        header=None,
        dtype={1: str},
        names=["vid", "sec", "x1", "y1", "x2", "y2", "action", "score", "person_id"],
    )
    return det.drop_duplicates(["sec", "x1", "y1", "x2", "y2"])


def test_csv_person_ids_are_identities(crossing_run):
    gt = pd.read_csv(
        crossing_run / "gt.csv",
        header=None,
        dtype={1: str},
        names=["vid", "sec", "x1", "y1", "x2", "y2", "action", "pid"],
    )
    det = _detections(crossing_run)
    assert len(det) == len(gt)
    cols = ["x1", "y1", "x2", "y2"]
    frames = []
    for sec, g in gt.groupby("sec"):
        d = det[det["sec"] == sec]
        frames.append(
            (g["pid"].to_numpy(), g[cols].to_numpy(), d["person_id"].to_numpy(), d[cols].to_numpy())
        )
    m = identity_metrics(frames)
    # measured 1.0: every person keeps one id through the crossings and its keyframe out of view
    assert m["idf1"] >= 0.9, m
    assert det["person_id"].nunique() == 3


def test_tracks_json_and_csv_are_the_csv_ids_timelines(crossing_run):
    det = _detections(crossing_run)
    payload = json.loads((crossing_run / "out" / "tracks.json").read_text())["tracks"]
    assert {t["track_id"] for t in payload} == set(det["person_id"])
    for t in payload:
        mine = det[det["person_id"] == t["track_id"]].sort_values("sec")
        assert [k["timestamp"] for k in t["keyframes"]] == mine["sec"].tolist()
        assert t["first"] == mine["sec"].iloc[0] and t["last"] == mine["sec"].iloc[-1]
        np.testing.assert_allclose(
            [k["box"] for k in t["keyframes"]], mine[["x1", "y1", "x2", "y2"]].to_numpy(), atol=2e-6
        )
        assert all(len(k["actions"]) == 3 for k in t["keyframes"])
        for s in t["segments"]:  # threshold 0: every named action is on for the whole track
            assert (s["start"], s["end"]) == (t["first"], t["last"])
    with open(crossing_run / "out" / "tracks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keyframe_rows = [r for r in rows if r["kind"] == "keyframe"]
    assert len(keyframe_rows) == len(det)
    assert {int(r["track_id"]) for r in rows} == set(det["person_id"])


def test_official_csv_has_the_evaluator_columns(crossing_run):
    """--official-csv: the 8 columns the project's evaluator reads, same rows as the tracked CSV."""
    from ava_detector.ava.evaluation.csv_io import read_ava_csv

    out = crossing_run / "official" / "demo.mp4"
    rc = load_tool("demo").main(
        [
            "--config",
            str(crossing_run / "tiny.yaml"),
            "--weights",
            str(crossing_run / "model.pth"),
            "--input",
            str(crossing_run / f"{VID}.mp4"),
            "--output",
            str(out),
            "--boxes",
            str(crossing_run / "gt.csv"),
            "--no-progress",
            "--official-csv",
        ]
    )
    assert rc == 0
    table = read_ava_csv(out.with_suffix(".csv"), "detections")
    tracked = pd.read_csv(crossing_run / "out" / "demo.csv", header=None)
    assert len(table) == len(tracked)
    np.testing.assert_allclose(table.score, tracked[7].to_numpy())
