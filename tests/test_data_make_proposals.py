"""data_prep/make_proposals.py: person proposals on every keyframe, batched, resumable, safe weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog

from ava_detector.ava.data.csv_formats import parse_proposals
from ava_detector.ava.data.proposals import (
    format_proposal_rows,
    make_proposals,
)
from ava_detector.ava.data.register import register_ava
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.synthetic_scene import SceneSpec

SPEC = SceneSpec(duration=4, start_sec=0, width=96, height=80)
DETECTOR = "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
# A one-class (person) detector on small inputs: with random weights every detection is a person.
SMALL = [
    "INPUT.MIN_SIZE_TEST",
    "96",
    "INPUT.MAX_SIZE_TEST",
    "128",
    "MODEL.RPN.POST_NMS_TOPK_TEST",
    "50",
    "MODEL.ROI_HEADS.NUM_CLASSES",
    "1",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("proposals") / "syn"
    generate_synthetic_ava(out, train_videos=2, val_videos=1, spec=SPEC, progress=False)
    return out


def _records(root, split="train"):
    register_ava(f"mkprop_{split}", root=root, split=split, start_sec=None, fps=None)
    return DatasetCatalog.get(f"mkprop_{split}")


def _fake_detector(calls: list):
    """Boxes from the frame itself (its mean colour), so results depend on the keyframe read."""

    def detect(frames):
        calls.append(len(frames))
        out = []
        for f in frames:
            m = float(f.mean()) / 255
            out.append(
                (np.array([[0.1, 0.2, 0.1 + m / 2, 0.9]], np.float32), np.array([m], np.float32))
            )
        return out

    return detect


def test_rows_are_ava_detection_csv():
    rows = format_proposal_rows("vid", 3, np.array([[0.1, 0.25, 0.5, 1.0]]), np.array([0.875]))
    assert rows == ["vid,0003,0.1000,0.2500,0.5000,1.0000,,0.875000"]
    squeezed = format_proposal_rows(
        "vid", 3, np.array([[0.1, 0.99999, 0.5, 1.2], [0, 0, 1, 1]]), np.array([0.9, 0.8])
    )
    assert squeezed == ["vid,0003,0.0000,0.0000,1.0000,1.0000,,0.800000"]
    table = parse_proposals("\n".join(rows) + "\n").table
    assert table["score"].tolist() == [0.875]


def test_every_keyframe_once_in_order_and_a_stopped_run_resumes(root, tmp_path):
    records = _records(root)
    clean = tmp_path / "clean.csv"
    calls: list = []
    summary = make_proposals(records, _fake_detector(calls), clean, batch_size=2, progress=False)
    assert summary == {
        "keyframes": len(records),
        "boxes": len(records),
        "videos": 2,
        "resumed_videos": 0,
    }
    assert sum(calls) == len(records) and max(calls) == 2
    table = parse_proposals(clean.read_text()).table
    assert list(zip(table["video_id"], table["sec"])) == [
        (r["video_id"], r["sec"]) for r in records
    ]
    assert not (tmp_path / "clean.csv.partial").exists()

    # Stop during the second video: the first is kept, the rerun does only the second.
    out = tmp_path / "resumed.csv"
    first = records[0]["video_id"]
    n_first = sum(r["video_id"] == first for r in records)

    def dies_on_second_video(frames, seen=[]):  # noqa: B006 - counts calls across the run
        seen.append(len(frames))
        if sum(seen) > n_first:
            raise KeyboardInterrupt
        return _fake_detector([])(frames)

    with pytest.raises(KeyboardInterrupt):
        make_proposals(records, dies_on_second_video, out, batch_size=1, progress=False)
    assert [p.name for p in (tmp_path / "resumed.csv.partial").glob("*.csv")] == [f"{first}.csv"]
    assert not out.exists()
    calls = []
    summary = make_proposals(records, _fake_detector(calls), out, batch_size=2, progress=False)
    assert summary["resumed_videos"] == 1 and sum(calls) == len(records) - n_first
    assert out.read_text() == clean.read_text()


def _random_detector_weights(path):
    from detectron2 import model_zoo
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(DETECTOR))
    cfg.merge_from_list(SMALL)
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    model = build_model(cfg)
    # Random backbone and RPN; the box head made neutral (boxes = RPN proposals, person score
    # e / (e + 1)), since an untrained head scores everything as background.
    predictor = model.roi_heads.box_predictor
    with torch.no_grad():
        predictor.cls_score.weight.zero_()
        predictor.cls_score.bias.copy_(torch.tensor([1.0, 0.0]))
        predictor.bbox_pred.weight.zero_()
        predictor.bbox_pred.bias.zero_()
    torch.save({"model": model.state_dict()}, path)


def test_cli_with_a_detectron2_detector_of_random_weights(root, tmp_path, repo_root):
    weights = tmp_path / "random_detector.pth"
    _random_detector_weights(weights)
    out = tmp_path / "val_proposals.csv"
    cmd = [
        sys.executable,
        str(repo_root / "data_prep/make_proposals.py"),
        "--root",
        str(root),
        "--split",
        "val",
        "--detector-config",
        DETECTOR,
        "--detector-weights",
        str(weights),
        "--out",
        str(out),
        "--threshold",
        "0",
        "--batch-size",
        "3",
        "--device",
        "cpu",
        *SMALL,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "person boxes on" in done.stdout and "(cpu)" in done.stdout
    table = parse_proposals(out.read_text()).table
    keyframes = {(r["video_id"], r["sec"]) for r in _records(root, "val")}
    assert set(zip(table["video_id"], table["sec"])) <= keyframes and len(table) > 0
    assert ((table["x2"] > table["x1"]) & (table["y2"] > table["y1"])).all()
    assert np.allclose(table["score"], np.e / (np.e + 1), atol=1e-5)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)
    assert again.returncode == 2 and again.stderr.strip().endswith("exists (--force to replace it)")
    missing = subprocess.run(
        [*cmd[: -len(SMALL)], "--force", "--detector-weights", str(tmp_path / "nope.pkl")],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "detector weights not found" in missing.stderr


def test_batched_detection_equals_one_frame_at_a_time(tmp_path):
    from ava_detector.demo.person_detector import (
        PersonDetector,
        build_person_detector_cfg,
    )

    weights = tmp_path / "random_detector.pth"
    _random_detector_weights(weights)
    cfg = build_person_detector_cfg(DETECTOR, str(weights), 0.0, "cpu")
    cfg.defrost()
    cfg.merge_from_list(SMALL)
    cfg.freeze()
    detector = PersonDetector(cfg)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (80, 96, 3), dtype=np.uint8) for _ in range(2)]
    batched = detector.detect_batch(frames)
    for frame, (boxes, scores) in zip(frames, batched):
        one_boxes, one_scores = detector(0.0, frame)
        np.testing.assert_allclose(boxes, one_boxes, atol=1e-4)  # batched BLAS: float noise
        np.testing.assert_allclose(scores, one_scores, atol=1e-5)
