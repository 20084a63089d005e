"""End to end at tiny scale: KineticsTrainer on the synthetic Kinetics-format set (with a corrupt
video in each list), its test report, ``--eval-only`` on the checkpoint, and the hand-off to the AVA
trainer (backbone loaded, classifier skipped with a logged list, iteration 0)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, Instances

from ava_detector.ava.trainer import AVATrainer
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.data.synthetic import generate_synthetic_kinetics
from ava_detector.kinetics.trainer import KineticsTrainer

REPO = Path(__file__).resolve().parents[1]
AVA_TRAIN = "_kinetics_handoff_ava_train"
SIZE = 32


def kinetics_cfg(root: Path, out: Path):
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_kinetics.yaml"))
    cfg.merge_from_list(
        [
            "KINETICS.SYNTHETIC_ROOT",
            str(root),
            "OUTPUT_DIR",
            str(out),
            "SOLVER.MAX_ITER",
            "2",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "SOLVER.WARMUP_ITERS",
            "1",
            "DATALOADER.NUM_WORKERS",
            "0",
            "KINETICS.TEST_NUM_CLIPS",
            "2",
            "INPUT.NUM_FRAMES",
            "8",
            "INPUT.TRAIN_JITTER_SCALES",
            "[32, 40]",
            "INPUT.TRAIN_CROP_SIZE",
            "32",
            "INPUT.TEST_SHORT_SIDE",
            "32",
        ]
    )
    return cfg


@pytest.fixture(scope="module")
def kinetics_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kin") / "kinetics_synthetic"
    generate_synthetic_kinetics(root, train_per_class=1, val_per_class=1, seconds=2, progress=False)
    (root / "videos" / "broken.mp4").write_bytes(b"not a video at all")
    for split in ("train", "val"):
        with open(root / f"{split}.csv", "a") as f:
            f.write("videos/broken.mp4 2\n")
    return root


def _ava_records() -> list[dict]:
    return [
        {
            "video_id": "v",
            "sec": 902 + i,
            "image_id": f"v,{902 + i:04d}",
            "height": SIZE,
            "width": SIZE,
            "boxes": np.array([[0, 0, 0.5, 0.5]], np.float32),
            "labels": np.eye(80, dtype=np.float32)[[i]],
            "scores": np.ones(1, np.float32),
            "is_gt": np.ones(1, bool),
        }
        for i in range(2)
    ]


if AVA_TRAIN not in DatasetCatalog.list():
    DatasetCatalog.register(AVA_TRAIN, _ava_records)


class _AVATrainer(AVATrainer):
    """AVA trainer on two in-memory keyframes with random clips (the data are not under test)."""

    @classmethod
    def build_mapper(cls, cfg, is_train):
        def mapper(record):
            fast = torch.randint(0, 256, (3, 8, SIZE, SIZE), dtype=torch.uint8)
            inst = Instances(
                (SIZE, SIZE),
                proposal_boxes=Boxes(torch.tensor([[0.0, 0, 16, 16]])),
                gt_actions=torch.as_tensor(record["labels"]),
            )
            return {
                "clips": {"slow": fast[:, ::4], "fast": fast},
                "instances": inst,
                "height": SIZE,
                "width": SIZE,
                "image_id": record["image_id"],
            }

        return mapper


def test_pretrain_evaluate_and_hand_off_to_ava(kinetics_root: Path, tmp_path: Path, caplog):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = kinetics_cfg(kinetics_root, tmp_path / "kinetics")
    trainer = KineticsTrainer(cfg)
    trainer.resume_or_load(resume=False)
    with caplog.at_level(logging.WARNING):
        trainer.train()  # the corrupt training video is skipped, not a crash
    res = trainer._last_eval_results["classification"]
    # 5 val videos scored over 2 clips x 3 crops; the corrupt one is listed as left out
    assert (res["videos"], res["views"], res["left_out_videos"], res["failed_views"]) == (
        5,
        36,
        1,
        6,
    )
    assert "left out videos/broken.mp4" in caplog.text
    final = tmp_path / "kinetics" / "model_final.pth"
    kinetics_state = torch.load(final, weights_only=False)["model"]
    assert any(k.startswith("cls_head.predictor.") for k in kinetics_state)

    # --eval-only loads the whole classifier (head included) and reproduces the final test
    sys.path.insert(0, str(REPO / "tools"))
    import pretrain_kinetics

    args = pretrain_kinetics.argument_parser().parse_args(
        ["--config", str(REPO / "configs/synthetic/tiny_kinetics.yaml"), "--eval-only"]
        + _opts(cfg, MODEL__WEIGHTS=str(final), OUTPUT_DIR=str(tmp_path / "eval"))
    )
    again = pretrain_kinetics.main(args)["classification"]
    logging.getLogger("ava_detector").propagate = True  # main's setup_logger stops it (for caplog)
    assert again["top1"] == res["top1"] and again["videos"] == 5

    # the AVA trainer: same backbone shape (detection strides), weights from the Kinetics run
    ava = get_ava_cfg()
    ava.merge_from_list(
        [
            "MODEL.DEVICE",
            "cpu",
            "MODEL.SLOWFAST.WIDTH_PER_GROUP",
            "8",
            "MODEL.SLOWFAST.ALPHA",
            "4",
            "MODEL.SLOWFAST.BETA_INV",
            "4",
            "INPUT.NUM_FRAMES",
            "8",
            "MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION",
            "2",
            "DATASETS.TRAIN",
            f"('{AVA_TRAIN}',)",
            "DATASETS.TEST",
            "()",
            "DATALOADER.NUM_WORKERS",
            "0",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "SOLVER.MAX_ITER",
            "1",
            "SOLVER.STEPS",
            "()",
            "TEST.EVAL_PERIOD",
            "0",
            "MODEL.WEIGHTS",
            str(final),
            "OUTPUT_DIR",
            str(tmp_path / "ava"),
        ]
    )
    ava_trainer = _AVATrainer(ava)
    head_before = {k: v.clone() for k, v in ava_trainer.model.roi_heads.state_dict().items()}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ava_trainer.resume_or_load(resume=True)  # empty OUTPUT_DIR: weights only, iteration 0
    assert ava_trainer.start_iter == 0
    for k, v in ava_trainer.model.backbone.state_dict().items():
        assert torch.equal(v, kinetics_state[f"backbone.{k}"]), k
    for k, v in ava_trainer.model.roi_heads.state_dict().items():
        assert torch.equal(v, head_before[k])
    assert "cls_head.predictor.weight" in caplog.text
    ava_trainer.train()
    assert ava_trainer.iter == 1  # iterations [0, MAX_ITER=1) ran: none were "resumed"


def _opts(cfg, **extra) -> list[str]:
    """KEY VALUE pairs reproducing the test overrides of ``kinetics_cfg`` plus ``extra``."""
    keys = [
        "KINETICS.SYNTHETIC_ROOT",
        "KINETICS.TEST_NUM_CLIPS",
        "INPUT.NUM_FRAMES",
        "INPUT.TRAIN_JITTER_SCALES",
        "INPUT.TRAIN_CROP_SIZE",
        "INPUT.TEST_SHORT_SIDE",
        "DATALOADER.NUM_WORKERS",
    ]
    out = []
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node[part]
        out += [key, str(list(node)) if isinstance(node, (list, tuple)) else str(node)]
    for key, value in extra.items():
        out += [key.replace("__", "."), value]
    return out


def test_kinetics_trainer_loads_its_own_checkpoint_whole(kinetics_root: Path, tmp_path: Path):
    torch.set_num_threads(1)
    first = KineticsTrainer(kinetics_cfg(kinetics_root, tmp_path / "a"))
    with torch.no_grad():
        first.model.cls_head.predictor.weight.fill_(0.5)
    first.checkpointer.save("seeded")
    cfg = kinetics_cfg(kinetics_root, tmp_path / "b")
    cfg.MODEL.WEIGHTS = str(tmp_path / "a" / "seeded.pth")
    second = KineticsTrainer(cfg)
    second.resume_or_load(resume=False)
    # unlike the AVA trainer (backbone only), the classifier head comes along
    assert torch.equal(
        second.model.cls_head.predictor.weight,
        torch.full_like(second.model.cls_head.predictor.weight, 0.5),
    )
    assert second.start_iter == 0
