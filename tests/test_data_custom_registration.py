"""Own datasets registered from the config (AVA.DATASETS) and one class count from their label map."""

from __future__ import annotations

from pathlib import Path

import pytest
from detectron2.data import DatasetCatalog

from ava_detector.ava.data.builtin import (
    parse_dataset_spec,
    register_ava_from_cfg,
)
from ava_detector.ava.data.classes import resolve_num_classes
from ava_detector.ava.data.frame_lists import format_frame_list
from ava_detector.ava.data.register import ava_metadata
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.errors import InputFileError

LABEL_MAP = "".join(
    f'label {{\n  name: "{n}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
    for i, n in enumerate(["wave", "sit", "fall", "point"], start=1)
)


def _custom_root(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "frame_lists").mkdir()
    for split, vid in (("train", "clipA"), ("val", "clipB")):
        (root / "annotations" / f"ava_{split}_v2.2.csv").write_text(
            f"{vid},0001,0.1,0.1,0.5,0.9,4,0\n{vid},0001,0.1,0.1,0.5,0.9,2,0\n{vid},0002,0.2,0.1,0.6,0.9,1,0\n"
        )
        (root / "frame_lists" / f"{split}.csv").write_text(
            format_frame_list({vid: [f"{vid}/{vid}_{i:06d}.jpg" for i in range(1, 76)]})
        )
    (root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(LABEL_MAP)
    (root / "dataset.json").write_text('{"start_sec": 0, "fps": 25, "keyframe_secs": [1, 2]}')
    return root


def test_dataset_spec_forms():
    assert parse_dataset_spec("mine=/data/x") == ("mine", Path("/data/x"))
    assert parse_dataset_spec("/data/my_set") == ("my_set", Path("/data/my_set"))
    with pytest.raises(ValueError, match="AVA.DATASETS: expected 'NAME=ROOT'"):
        parse_dataset_spec("=/data/x")


def test_a_custom_dataset_registers_from_the_config_with_its_class_count(tmp_path):
    root = _custom_root(tmp_path / "mine")
    cfg = get_ava_cfg()
    cfg.AVA.DATASETS = (f"mine={root}",)
    register_ava_from_cfg(cfg)
    records = DatasetCatalog.get("mine_train")
    assert [r["image_id"] for r in records] == ["clipA,0001", "clipA,0002"]
    assert records[0]["labels"].shape == (1, 4) and records[0]["labels"][0].tolist() == [0, 1, 0, 1]
    assert records[1]["keyframe_index"] == 50  # second 2 at 25 fps (dataset.json)
    assert ava_metadata("mine_val").action_names[3] == "fall"
    assert resolve_num_classes(0, ["mine_train", "mine_val"]) == 4
    assert resolve_num_classes(4, ["mine_train", "mine_val"]) == 4
    with pytest.raises(
        ValueError,
        match=r"NUM_CLASSES is 80 but the label map of mine_train \(.*\.pbtxt\) "
        r"has ids up to 4: set it to 4, or to 0",
    ):
        resolve_num_classes(80, ["mine_train", "mine_val"])


def test_a_custom_root_without_dataset_json_is_named(tmp_path):
    cfg = get_ava_cfg()
    cfg.AVA.DATASETS = (str(tmp_path / "nothing"),)
    with pytest.raises(
        InputFileError, match=r"nothing/dataset.json: dataset 'nothing': no dataset.json"
    ):
        register_ava_from_cfg(cfg)


def test_builtin_ava_keeps_its_80_outputs():
    assert resolve_num_classes(80, ["ava_v2.2_train", "ava_synthetic_val"]) == 80
    assert resolve_num_classes(0, ["ava_v2.2_val"]) == 80


def test_train_tool_takes_the_class_count_from_the_label_map_or_names_the_mismatch(
    tmp_path, repo_root
):
    import subprocess
    import sys

    from ava_detector.ava.trainer import resolve_classes

    root = _custom_root(tmp_path / "mine")
    cfg = get_ava_cfg()
    cfg.AVA.DATASETS = (f"mine={root}",)
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = ("mine_train",), ("mine_val",)
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 0
    resolve_classes(cfg)
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 4
    done = subprocess.run(
        [
            sys.executable,
            str(repo_root / "tools/train_ava.py"),
            "--config",
            str(repo_root / "configs/synthetic/tiny_slowfast.yaml"),
            "AVA.DATASETS",
            f"('mine={root}',)",
            "DATASETS.TRAIN",
            "('mine_train',)",
            "DATASETS.TEST",
            "('mine_val',)",
            "OUTPUT_DIR",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "error: MODEL.ROI_HEADS.NUM_CLASSES is 80 but the label map of mine_train" in last
    assert not (tmp_path / "out").exists()


def test_two_keyframes_a_second_through_records_and_evaluation(tmp_path):
    """keyframe_rate 2: timestamps 1, 1.5, 2 (written 0001, 0001.5, 0002) are three keyframes; 1.25 is
    off the grid; the evaluator keys them as decimals, so perfect detections give AP 1."""
    from ava_detector.ava.evaluation.evaluate_files import evaluate_files

    root = _custom_root(tmp_path / "half")
    gt = (
        "clipA,0001,0.1,0.1,0.5,0.9,4,0\nclipA,0001.5,0.2,0.1,0.6,0.9,4,0\n"
        "clipA,0002,0.3,0.1,0.7,0.9,1,0\n"
    )
    (root / "annotations" / "ava_train_v2.2.csv").write_text(gt)
    (root / "dataset.json").write_text('{"start_sec": 0, "fps": 25, "keyframe_rate": 2}')
    cfg = get_ava_cfg()
    cfg.AVA.DATASETS = (f"half={root}",)
    register_ava_from_cfg(cfg)
    records = DatasetCatalog.get("half_train")
    assert [r["image_id"] for r in records] == ["clipA,0001", "clipA,0001.5", "clipA,0002"]
    assert [r["sec"] for r in records] == [1, 1.5, 2] and type(records[0]["sec"]) is int
    assert [r["keyframe_index"] for r in records] == [25, 38, 50]  # round(1.5 * 25) = 38
    (root / "annotations" / "ava_train_v2.2.csv").write_text(
        gt + "clipA,0001.25,0.3,0.1,0.7,0.9,1,0\n"
    )
    with pytest.raises(
        InputFileError,
        match=r"ava_train_v2.2.csv:4: timestamp is not on the keyframe "
        r"grid of 2 per second",
    ):
        DatasetCatalog.get("half_train")
    (root / "annotations" / "ava_train_v2.2.csv").write_text(gt)
    detections = tmp_path / "det.csv"
    detections.write_text(
        "clipA,1.0,0.1,0.1,0.5,0.9,4,0.9\nclipA,1.5,0.2,0.1,0.6,0.9,4,0.8\n"
        "clipA,2,0.3,0.1,0.7,0.9,1,0.7\nclipA,1.5,0.3,0.1,0.7,0.9,1,0.95\n"
    )
    label_map = root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    result = evaluate_files(label_map, root / "annotations" / "ava_train_v2.2.csv", detections)
    # class 4: two true positives; class 1: the 1.5 s box is a false positive ranked first (AP 0.5)
    assert result.result.per_class[4] == 1.0 and result.result.per_class[1] == 0.5
