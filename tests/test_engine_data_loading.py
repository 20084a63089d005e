"""Resumable, worker-independent training batches; the AVA results report."""

from __future__ import annotations

import itertools
import random

import numpy as np
import torch

from ava_detector.ava.evaluation.results import (
    format_ava_results,
    format_comparison,
    split_ava_metrics,
)
from ava_detector.engine.data_loading import (
    ResumableLoader,
    build_inference_loader,
    sample_index,
)


def _records(n: int) -> list[dict]:
    return [{"image_id": i} for i in range(n)]


def _mapper(record: dict) -> tuple[int, float, float, float]:
    """The record and one draw of each RNG the augmentations may use."""
    return record["image_id"], random.random(), float(np.random.rand()), torch.rand(()).item()


def _dropping_mapper(record: dict):
    return None if record["image_id"] == 3 else _mapper(record)


def _batches(loader, n: int) -> list[list[tuple]]:
    return list(itertools.islice(iter(loader), n))


def test_epochs_are_permutations_and_differ():
    e0 = [sample_index(7, p, 10) for p in range(10)]
    e1 = [sample_index(7, p, 10) for p in range(10, 20)]
    assert sorted(e0) == sorted(e1) == list(range(10))
    assert e0 != e1
    assert [sample_index(7, p, 10, shuffle=False) for p in range(12)] == [*range(10), 0, 1]


def test_batches_do_not_depend_on_workers_and_resume_mid_stream():
    base = _batches(ResumableLoader(_records(10), _mapper, batch_size=3, seed=5), 6)
    assert len({b[0] for batch in base for b in batch}) == 10  # 18 samples cover all 10 records
    two_workers = _batches(ResumableLoader(_records(10), _mapper, 3, 5, num_workers=2), 6)
    assert two_workers == base
    resumed = _batches(ResumableLoader(_records(10), _mapper, 3, 5, start_iter=4), 2)
    assert resumed == base[4:]
    other_seed = _batches(ResumableLoader(_records(10), _mapper, 3, 6), 6)
    assert other_seed != base


def test_dropped_samples_are_replaced_and_batches_stay_aligned():
    full = _batches(ResumableLoader(_records(10), _dropping_mapper, 2, 1), 10)
    assert all(len(b) == 2 for b in full) and all(s[0] != 3 for b in full for s in b)
    resumed = _batches(ResumableLoader(_records(10), _dropping_mapper, 2, 1, start_iter=7), 3)
    assert resumed == full[7:]


def test_test_loader_batches_every_record_once():
    loader = build_inference_loader(_records(5), lambda r: r["image_id"], batch_size=2)
    assert list(loader) == [[0, 1], [2, 3], [4]]


def test_report_reads_percent_metrics_with_slashes_in_names():
    metrics = {"ava": {"mAP@0.5IOU": 81.25, "AP/jump/leap": 62.5, "AP/hand wave": 100.0}}
    mean, per_class = split_ava_metrics(metrics)
    assert mean == 0.8125 and per_class == {"jump/leap": 0.625, "hand wave": 1.0}
    text = format_ava_results({"val": metrics}, ["val"], gt_boxes=True)
    assert "| jump/leap" in text and "0.6250" in text
    assert text.splitlines()[-1] == "val: GT-box mAP@0.5IOU = 0.8125"
    assert format_ava_results(metrics, ["val"]).splitlines()[-1] == "val: mAP@0.5IOU = 0.8125"
    assert format_ava_results(metrics, ["val"], per_class=False) == "val: mAP@0.5IOU = 0.8125"
    both = format_comparison(
        {"a": metrics, "b": {"ava": {"mAP@0.5IOU": 50.0, "AP/hand wave": 0.0}}}
    )
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in both.splitlines()[2:]}
    assert [float(x) for x in rows["hand wave"]] == [1.0, 0.0]
    assert float(rows["jump/leap"][0]) == 0.625 and rows["jump/leap"][1].strip() == "nan"
    assert [float(x) for x in rows["mAP@0.5IOU"]] == [0.8125, 0.5]


def test_trainer_evaluator_follows_gt_box_mode_and_mini_val(tmp_path):
    from detectron2.data import MetadataCatalog

    from ava_detector.ava.trainer import AVATrainer
    from ava_detector.config.defaults import get_ava_cfg

    (tmp_path / "lm.pbtxt").write_text('item {\n  name: "stand"\n  id: 12\n}\n')
    MetadataCatalog.get("ava_engine_test_evaluator").set(
        label_map_file=str(tmp_path / "lm.pbtxt"),
        groundtruth_file=str(tmp_path / "gt.csv"),
        gt_boxes_mode=False,
    )
    cfg = get_ava_cfg()
    cfg.merge_from_list(
        ["AVA.GT_BOXES", "True", "AVA.EVAL_EVERY_K_SECONDS", "4", "OUTPUT_DIR", str(tmp_path)]
    )
    ev = AVATrainer.build_evaluator(cfg, "ava_engine_test_evaluator")
    assert ev._gt_boxes_mode is True and ev._every_k_seconds == 4
    assert ev._output_dir == str(tmp_path / "inference" / "ava_engine_test_evaluator")
