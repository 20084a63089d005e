"""The tiny classifier reaches >= 90% top-1 (30 views per video) on the synthetic Kinetics-format val set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.data.synthetic import generate_synthetic_kinetics
from ava_detector.kinetics.trainer import KineticsTrainer

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_classifier_reaches_90_percent_top1(tmp_path: Path):
    root = tmp_path / "kinetics_synthetic"
    generate_synthetic_kinetics(root, train_per_class=16, val_per_class=4, progress=False)
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_kinetics.yaml"))
    cfg.merge_from_list(["KINETICS.SYNTHETIC_ROOT", str(root), "OUTPUT_DIR", str(tmp_path / "out")])
    torch.set_num_threads(2)
    trainer = KineticsTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    res = trainer._last_eval_results["classification"]
    assert res["videos"] == 20 and res["views"] == 600 and res["left_out_videos"] == 0
    assert res["top1"] >= 90.0
