"""CSV reading/writing errors, the CLI, the chunked pruning, and AVAEvaluator over two simulated
processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, Instances

from ava_detector.ava.evaluation import evaluator as ava_evaluation
from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_io import (
    read_ava_csv,
    write_ava_csv,
)
from ava_detector.ava.evaluation.evaluate_files import evaluate_files
from ava_detector.data.errors import InputFileError

LABELS = "".join(
    f'label {{\n  name: "{n}"\n  label_id: {i}\n  label_type: {t}\n}}\n'
    for n, i, t in [
        ("stand", 1, "PERSON_MOVEMENT"),
        ("sit", 2, "PERSON_MOVEMENT"),
        ("talk", 3, "PERSON_INTERACTION"),
    ]
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "lm.pbtxt").write_text(LABELS)
    (tmp_path / "gt.csv").write_text(
        "v1,0902,0.1,0.1,0.5,0.5,1,0\nv1,0902,0.1,0.1,0.5,0.5,3,0\nv1,0903\nv2,902,0.2,0.2,0.6,0.6,2,1\n"
    )
    (tmp_path / "det.csv").write_text(
        "v1,0902,0.1,0.1,0.5,0.5,1,0.9\nv1,0902,0.1,0.1,0.5,0.5,3,0.2\nv1,0903,0.1,0.1,0.5,0.5,1,0.95\n"
        "v2,0902,0.6,0.6,0.9,0.9,2,0.3\nv2,0902,0.2,0.2,0.6,0.6,2\n"
    )
    (tmp_path / "ex.csv").write_text("")
    return {
        k: tmp_path / f
        for k, f in [("lm", "lm.pbtxt"), ("gt", "gt.csv"), ("det", "det.csv"), ("ex", "ex.csv")]
    }


def _cli(*args: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, str(root / "tools" / "evaluate_ava.py"), *args],
        capture_output=True,
        text=True,
        cwd=root,
    )


def test_reader_parses_rows_and_key_only_rows(files):
    gt = read_ava_csv(files["gt"], "groundtruth")
    assert gt.videos == ("v1", "v2") and gt.label.tolist() == [1, 3, 0, 2]
    assert gt.time.tolist() == [902.0, 902.0, 903.0, 902.0]
    det = read_ava_csv(files["det"], "detections", chunk_rows=2)
    assert det.score.tolist() == [0.9, 0.2, 0.95, 0.3, 1.0]  # 7-column row scores 1.0
    assert det.row.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "text,line,problem",
    [
        ("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,0.1,0.5\n", 2, "expected 2 or 7 or 8"),
        ("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,abc,0.5,0.5,1,0.9\n", 2, "y1 must be a number"),
        ("v,0902,0.1,0.1,0.5,0.5,1,0.9,7,7\n", 1, "got 10"),
        ("v,0902,0.1,0.1,0.5,0.5,1.5,0.9\n", 1, "action_id must be an integer"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        read_ava_csv(path, "detections")
    assert err.value.line == line and problem in err.value.problem and err.value.path == str(path)


def test_write_then_read_round_trip(tmp_path):
    t = AVABoxes.from_rows(
        [("a", 902, 0.1, 0.2, 0.3, 0.4, 5, 0.123456), ("b", 1001, 0, 0, 1, 1, 80, 1.0)]
    )
    write_ava_csv(tmp_path / "d.csv", t)
    assert (tmp_path / "d.csv").read_text().splitlines()[
        0
    ] == "a,0902,0.100000,0.200000,0.300000,0.400000,5,0.123456"
    back = read_ava_csv(tmp_path / "d.csv", "detections")
    assert back.videos == ("a", "b") and np.array_equal(back.boxes, t.boxes)
    assert not list(tmp_path.glob(".*tmp"))


def test_chunked_pruning_equals_unpruned(shared_dir):
    d = shared_dir / "ava" / "eval_reference" / "11_top50_cap_per_keyframe"
    from ava_detector.ava.data.label_map import read_label_map
    from ava_detector.ava.evaluation.frame_map import frame_map

    ids = read_label_map(shared_dir / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").ids
    from ava_detector.ava.evaluation.pruning import DetectionPruner

    gt = read_ava_csv(d / "groundtruth.csv", "groundtruth")
    whole = frame_map(gt, read_ava_csv(d / "detections.csv", "detections"), ids)
    files = evaluate_files(
        shared_dir / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        d / "groundtruth.csv",
        d / "detections.csv",
    ).result
    assert whole.mAP == files.mAP
    # Pruned in chunks of 100 rows (ids not evaluated, keyframes not annotated): same result.
    pruned = read_ava_csv(
        d / "detections.csv",
        "detections",
        chunk_rows=100,
        prune=DetectionPruner(gt.keyframes(), ids, None),
    )
    got = frame_map(gt, pruned, ids).per_class
    assert got.keys() == whole.per_class.keys()
    assert np.array_equal(list(got.values()), list(whole.per_class.values()), equal_nan=True)


def test_cli_output_json_plot(files, tmp_path):
    out = _cli(
        "--labelmap",
        str(files["lm"]),
        "--groundtruth",
        str(files["gt"]),
        "--detections",
        str(files["det"]),
        "--exclusions",
        str(files["ex"]),
        "--json",
        str(tmp_path / "r.json"),
        "--plot",
        str(tmp_path / "r.png"),
    )
    assert out.returncode == 0, out.stderr
    # Class 1: 0903 FP (0.95) then 0902 TP -> 0.5; class 2: TP (1.0) then FP -> 1; class 3: 1.
    assert out.stdout.strip().splitlines()[-1] == "mAP@0.5IOU: 0.833333"
    assert "PERSON_MOVEMENT" in out.stdout and "group mAP" in out.stdout
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["per_class"] == {"1": 0.5, "2": 1.0, "3": 1.0}
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_malformed_file_exit_code(files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("v1,0902,0.1,0.1,0.5,0.5,1,0.9\nv1,0902,x\n")
    out = _cli(
        "--labelmap", str(files["lm"]), "--groundtruth", str(files["gt"]), "--detections", str(bad)
    )
    assert out.returncode == 2
    assert f"{bad}:2:" in out.stderr


def test_evaluator_two_processes_gather_without_loss_or_duplication(files, tmp_path, monkeypatch):
    name = "ava_eval_test_two_procs"
    MetadataCatalog.get(name).set(
        label_map_file=str(files["lm"]),
        groundtruth_file=str(files["gt"]),
        exclusions_file="",
        evaluated_ids=[1, 2, 3],
        gt_boxes_mode=True,
    )

    def inst(boxes, cls_scores):
        i = Instances((100, 200))
        i.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        s = torch.zeros(len(boxes), 80)
        for k, row in enumerate(cls_scores):
            for c, v in row.items():
                s[k, c - 1] = v
        i.scores = s
        return i

    # Pixel boxes on a 200x100 frame: (0.1,0.1,0.5,0.5) normalised = (20,10,100,50).
    a = (
        {"video_id": "v1", "sec": 902, "height": 100, "width": 200},
        {"instances": inst([[20, 10, 100, 50]], [{1: 0.9, 3: 0.2}])},
    )
    b = (
        {"video_id": "v2", "sec": 902, "height": 100, "width": 200},
        {"instances": inst([[40, 20, 120, 60]], [{2: 0.8}])},
    )
    c = (
        {"video_id": "v1", "sec": 903, "height": 100, "width": 200},
        {"instances": inst([[20, 10, 100, 50]], [{1: 0.95}])},
    )
    procs = [ava_evaluation.AVAEvaluator(name, str(tmp_path / "out")) for _ in range(2)]
    for ev in procs:
        ev.reset()
    procs[0].process([a[0], c[0]], [a[1], c[1]])
    procs[1].process([b[0], a[0]], [b[1], a[1]])  # a again: padding duplicates a keyframe
    gathered = [p._predictions for p in procs]
    monkeypatch.setattr(ava_evaluation.comm, "synchronize", lambda: None)
    monkeypatch.setattr(ava_evaluation.comm, "gather", lambda data, dst=0: gathered)
    monkeypatch.setattr(ava_evaluation.comm, "is_main_process", lambda: False)
    assert procs[1].evaluate() == {}
    monkeypatch.setattr(ava_evaluation.comm, "is_main_process", lambda: True)
    res = procs[0].evaluate()["ava"]
    rows = (tmp_path / "out" / "detections.csv").read_text().splitlines()
    assert len(rows) == 3 * 3  # 3 keyframes x 1 box x 3 evaluated ids: no loss, no duplicate
    assert rows[0] == "v1,0902,0.100000,0.100000,0.500000,0.500000,1,0.900000"
    # Class 1: FP 0.95 (0903) then TP 0.9 -> 0.5; class 2 and 3: 1 -> mean 0.8333 -> percent.
    assert res["mAP@0.5IOU"] == pytest.approx(100 * 2.5 / 3)
    assert res["AP/stand"] == pytest.approx(50.0) and res["AP/talk"] == pytest.approx(100.0)
    assert (tmp_path / "out" / "per_class_ap.png").exists()


def test_mini_val_restricts_ground_truth_and_report_names_gt_box_mode(tmp_path, caplog):
    (tmp_path / "lm.pbtxt").write_text(LABELS)
    gt = tmp_path / "gt.csv"
    gt.write_text(
        "v1,0902,0.1,0.1,0.5,0.5,1,0\nv1,0903,0.1,0.1,0.5,0.5,1,0\nv1,0904,0.2,0.2,0.6,0.6,1,0\n"
    )
    name = "ava_eval_test_mini_val"
    MetadataCatalog.get(name).set(
        label_map_file=str(tmp_path / "lm.pbtxt"),
        groundtruth_file=str(gt),
        exclusions_file="",
        evaluated_ids=[1],
        gt_boxes_mode=False,
    )
    # Perfect predictions on the even seconds only, as a mini-val with k = 2 makes them.
    i902, i904 = Instances((100, 200)), Instances((100, 200))
    i902.pred_boxes = Boxes(torch.tensor([[20.0, 10.0, 100.0, 50.0]]))
    i904.pred_boxes = Boxes(torch.tensor([[40.0, 20.0, 120.0, 60.0]]))
    i902.scores = i904.scores = torch.zeros(1, 80).index_fill_(1, torch.tensor([0]), 0.9)
    inputs = [{"video_id": "v1", "sec": s, "height": 100, "width": 200} for s in (902, 904)]
    outputs = [{"instances": i902}, {"instances": i904}]

    def run(**kw):
        ev = ava_evaluation.AVAEvaluator(name, distributed=False, **kw)
        ev.reset()
        ev.process(inputs, outputs)
        with caplog.at_level("INFO", logger=ava_evaluation.__name__):
            return ev.evaluate()["ava"]["mAP@0.5IOU"]

    # all seconds: 2 TP of 3 ground-truth boxes -> AP 2/3; every 2nd second: 2 of 2 -> 1
    assert run() == pytest.approx(100 * 2 / 3)
    assert "detector proposals" in caplog.text and "mini-val" not in caplog.text
    caplog.clear()
    assert run(every_k_seconds=2, gt_boxes=True) == pytest.approx(100.0)
    assert (
        "ground-truth boxes (GT-box mode)" in caplog.text
        and "mini-val: seconds divisible by 2" in caplog.text
    )
    assert evaluate_files(
        tmp_path / "lm.pbtxt", gt, _write_det(tmp_path), every_k_seconds=2
    ).result.mAP == pytest.approx(1.0)


def _write_det(tmp_path: Path) -> Path:
    det = tmp_path / "det.csv"
    det.write_text("v1,0902,0.1,0.1,0.5,0.5,1,0.9\nv1,0904,0.2,0.2,0.6,0.6,1,0.9\n")
    return det
