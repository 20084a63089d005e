"""Training and evaluating on a subset of the classes (AVA.CLASS_SUBSET): one output per listed id,
targets and detections remapped consistently, the class count checked before anything starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_tool

from ava_detector.ava.data.classes import resolve_num_classes
from ava_detector.ava.data.split_records import select_classes
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.ava.evaluation.evaluator import merge_keyframe_predictions
from ava_detector.data.synthetic_scene import SceneSpec

REPO = Path(__file__).resolve().parents[1]
SUBSET = (69, 12)  # hand wave, stand: the head's outputs 0 and 1


def test_targets_keep_the_listed_columns_in_order():
    labels = np.zeros((2, 80), np.uint8)
    labels[0, [11, 68]] = 1  # stand, hand wave
    labels[1, 13] = 1  # walk only: a negative for the subset
    out = select_classes([{"labels": labels, "boxes": np.zeros((2, 4))}], SUBSET)
    assert out[0]["labels"].tolist() == [[1, 1], [0, 0]]
    assert out[0]["boxes"].shape == (2, 4)


def test_class_count_follows_the_subset():
    names = ["ava_synthetic_train", "ava_synthetic_val"]
    assert resolve_num_classes(0, names, SUBSET) == 2
    assert resolve_num_classes(2, names, SUBSET) == 2
    with pytest.raises(ValueError, match="NUM_CLASSES is 80 but AVA.CLASS_SUBSET lists 2 classes"):
        resolve_num_classes(80, names, SUBSET)
    with pytest.raises(ValueError, match=r"AVA.CLASS_SUBSET: ids \[81\] are not classes of"):
        resolve_num_classes(0, names, (12, 81))
    with pytest.raises(ValueError, match="lists an id twice"):
        resolve_num_classes(0, names, (12, 12))


def test_subset_scores_go_to_their_action_ids():
    from ava_detector.demo.predictor import scores_by_action_id

    out = scores_by_action_id(torch.tensor([[0.7, 0.2]]), list(SUBSET)).numpy()
    assert out.shape == (1, 69) and out[0, 68] == np.float32(0.7) and out[0, 11] == np.float32(0.2)
    assert np.isnan(out[0, [0, 13, 67]]).all()


def test_detections_carry_the_ids_of_the_outputs():
    boxes = np.array([[0.1, 0.1, 0.5, 0.9]])
    scores = np.array([[0.7, 0.2]])  # output 0 = id 69, output 1 = id 12
    table = merge_keyframe_predictions([[("v", 902, boxes, scores)]], [12, 14, 69], list(SUBSET))
    assert sorted(zip(table.label.tolist(), table.score.tolist())) == [(12, 0.2), (69, 0.7)]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("subset") / "ava_synthetic"
    generate_synthetic_ava(
        root, train_videos=2, val_videos=1, spec=SceneSpec(duration=4), seed=2, progress=False
    )
    return root


def test_a_subset_run_trains_a_two_output_head_and_writes_only_its_ids(synthetic_root, tmp_path):
    tool = load_tool("train_ava")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = tool.cli(
            [
                "--config",
                str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
                "AVA.SYNTHETIC_ROOT",
                str(synthetic_root),
                "OUTPUT_DIR",
                str(tmp_path),
                "AVA.CLASS_SUBSET",
                str(SUBSET),
                "MODEL.ROI_HEADS.NUM_CLASSES",
                "0",
                "SOLVER.IMS_PER_BATCH",
                "2",
                "SOLVER.MAX_ITER",
                "2",
                "SOLVER.WARMUP_ITERS",
                "1",
                "SOLVER.CHECKPOINT_PERIOD",
                "1000",
                "INPUT.TRAIN_JITTER_SCALES",
                "[64, 64]",
                "INPUT.TRAIN_CROP_SIZE",
                "64",
                "INPUT.TEST_SHORT_SIDE",
                "64",
                "TEST.IMS_PER_BATCH",
                "2",
                "DATALOADER.NUM_WORKERS",
                "0",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    state = torch.load(tmp_path / "model_final.pth", weights_only=True)["model"]
    head = [v for k, v in state.items() if k.endswith("predictor.weight")]
    assert len(head) == 1 and head[0].shape[0] == 2
    det = pd.read_csv(tmp_path / "inference" / "ava_synthetic_val" / "detections.csv", header=None)
    assert set(det[6]) == set(SUBSET)

    # The demo's predictor puts the two outputs at their ids; the others are never written.
    from ava_detector.config.defaults import get_ava_cfg
    from ava_detector.demo.api import VideoActionPredictor
    from ava_detector.demo.outputs import detections_table

    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_slowfast.yaml"))
    cfg.merge_from_list(
        [
            "AVA.CLASS_SUBSET",
            str(SUBSET),
            "MODEL.ROI_HEADS.NUM_CLASSES",
            "2",
            "INPUT.TEST_SHORT_SIDE",
            "64",
            "MODEL.DEVICE",
            "cpu",
        ]
    )
    predictor = VideoActionPredictor(cfg, tmp_path / "model_final.pth", tracker=None)
    boxes = {1.0: np.array([[0.1, 0.2, 0.4, 0.9]], np.float32)}
    results = list(predictor(synthetic_root / "videos" / "syn_val_000.mp4", boxes=boxes))
    scores = next(r.action_scores for r in results if len(r.boxes))
    assert scores.shape == (1, 69) and np.isfinite(scores[0]).nonzero()[0].tolist() == [11, 68]
    assert sorted(set(detections_table(results).label.tolist())) == [12, 69]
