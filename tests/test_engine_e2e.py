"""tools/train_ava.py end to end on a small synthetic dataset made by the project's generator:
train -> checkpoint -> eval-only, GT-box mode, fail-fast errors, and the 2-process gloo run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_tool

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.synthetic_scene import SceneSpec

pytestmark = pytest.mark.usefixtures("one_thread")


REPO = Path(__file__).resolve().parents[1]
TINY = [
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


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "ava_synthetic"
    spec = SceneSpec(duration=4, persons=(2, 2))
    generate_synthetic_ava(root, train_videos=2, val_videos=2, spec=spec, seed=1, progress=False)
    return root


@pytest.fixture(scope="module")
def trained(synthetic_root: Path, tmp_path_factory) -> Path:
    """Output dir of a 2-iteration run of the tiny SlowFast (model_final.pth inside)."""
    out = tmp_path_factory.mktemp("run")
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(out),
            *TINY,
        ]
    )
    assert rc == 0
    return out


def _gt(root: Path) -> pd.DataFrame:
    cols = ["video", "sec", "x1", "y1", "x2", "y2", "action", "person"]
    return pd.read_csv(root / "annotations" / "ava_val_v2.2.csv", header=None, names=cols)


def _test_proposals(root: Path) -> pd.DataFrame:
    """The detector boxes used at test (score >= AVA.TEST_PROPOSAL_SCORE_THRESH = 0.8)."""
    cols = ["video", "sec", "x1", "y1", "x2", "y2", "action", "score"]
    df = pd.read_csv(
        root / "annotations" / "ava_detection_val_boxes_and_labels.csv", header=None, names=cols
    )
    return df[df.score >= 0.8]


def _detections(path: Path) -> pd.DataFrame:
    cols = ["video", "sec", "x1", "y1", "x2", "y2", "action", "score"]
    return pd.read_csv(path, header=None, names=cols)


def _box_set(df: pd.DataFrame) -> set[tuple]:
    return {(r.video, int(r.sec), *np.round([r.x1, r.y1, r.x2, r.y2], 3)) for r in df.itertuples()}


def test_train_then_eval_only_reports_map(trained: Path, synthetic_root: Path, capsys):
    assert (trained / "model_final.pth").is_file()
    assert (trained / "metrics.json").is_file()
    out = trained / "eval"
    rc = load_tool("train_ava").cli(
        [
            "--config-file",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "--eval-only",
            "MODEL.WEIGHTS",
            str(trained / "model_final.pth"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(out),
            *TINY,
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "ava_synthetic_val: mAP@0.5IOU = " in text and "hand wave" in text
    det = _detections(out / "inference" / "ava_synthetic_val" / "detections.csv")
    assert _box_set(det) == _box_set(_test_proposals(synthetic_root))  # boxes mapped back exactly
    assert det.score.between(0, 1).all()


def test_gt_box_mode_scores_exactly_the_ground_truth_boxes(
    trained: Path, synthetic_root: Path, capsys
):
    out = trained / "eval_gt"
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "--eval-only",
            "--gt-boxes",
            "MODEL.WEIGHTS",
            str(trained / "model_final.pth"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(out),
            *TINY,
        ]
    )
    assert rc == 0
    assert "GT-box mAP@0.5IOU = " in capsys.readouterr().out
    det = _detections(out / "inference" / "ava_synthetic_val" / "detections.csv")
    assert _box_set(det) == _box_set(_gt(synthetic_root))
    # every GT box is scored for every evaluated class exactly once
    assert len(det) == len(_box_set(det)) * det.action.nunique()


@pytest.mark.parametrize(
    "opts, message",
    [
        (["DATASETS.TRAIN", "('ava_nonexistent_train',)"], "unknown dataset name"),
        (["MODEL.SLOWFAST.DEPHT", "50"], "bad configuration.*DEPHT"),
    ],
)
def test_bad_input_fails_before_training(
    synthetic_root: Path, tmp_path: Path, capsys, opts, message
):
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(tmp_path),
            *opts,
        ]
    )
    assert rc == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "metrics.json").exists()


def test_missing_data_files_fail_before_training(tmp_path: Path, capsys):
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "AVA.SYNTHETIC_ROOT",
            str(tmp_path / "nowhere"),
            "OUTPUT_DIR",
            str(tmp_path),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "ava_synthetic_train" in err and "nowhere" in err


def test_stray_temporaries_of_a_killed_run_are_removed_at_start(
    trained: Path, synthetic_root: Path, tmp_path: Path
):
    out = tmp_path / "run"
    stray = [
        out / ".model_0000001.pth.k3j_x9a1.tmp",
        out / ".last_checkpoint.abcdefgh.tmp",
        out / "inference" / "ava_synthetic_val" / ".detections.csv.0a1b2c3d.tmp",
    ]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "--eval-only",
            "MODEL.WEIGHTS",
            str(trained / "model_final.pth"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(out),
            *TINY,
        ]
    )
    assert rc == 0
    assert not any(p.exists() for p in stray)
    log = (out / "log.txt").read_text()
    assert all(f"removed {p}, left by an interrupted write" in log for p in stray)
    assert (out / "inference" / "ava_synthetic_val" / "detections.csv").is_file()


def _gather_test_ids(root: str, out_file: str) -> None:
    """One rank: its share of the test loader's keyframes; rank 0 writes everyone's, in rank order."""
    from detectron2.utils import comm

    from ava_detector.ava.trainer import load_records
    from ava_detector.config.defaults import get_ava_cfg
    from ava_detector.engine.data_loading import build_inference_loader

    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_slowfast.yaml"))
    cfg.AVA.SYNTHETIC_ROOT = root
    records = load_records(cfg, cfg.DATASETS.TEST, is_train=False)
    loader = build_inference_loader(records, lambda r: r["image_id"], batch_size=2)
    mine = [i for batch in loader for i in batch]
    everyone = comm.gather(mine, dst=0)
    if comm.is_main_process():
        Path(out_file).write_text(
            "\n".join(f"{r}:{i}" for r, ids in enumerate(everyone) for i in ids)
        )


def test_two_process_test_loader_covers_every_keyframe_once(synthetic_root: Path, tmp_path: Path):
    from ava_detector.engine.launch import launch

    out = tmp_path / "ids.txt"
    launch(
        _gather_test_ids, 2, dist_url="auto", args=(str(synthetic_root), str(out)), use_cuda=False
    )
    rows = [line.split(":", 1) for line in out.read_text().splitlines()]
    ids = [i for _, i in rows]
    proposals = _test_proposals(synthetic_root)
    expected = {f"{v},{int(s):04d}" for v, s in zip(proposals.video, proposals.sec)}
    assert sorted(ids) == sorted(expected)  # every keyframe, none twice
    assert {r for r, _ in rows} == {"0", "1"}  # both ranks did part of the work


def test_two_process_gloo_run_trains_and_evaluates_every_keyframe_once(
    synthetic_root: Path, tmp_path: Path
):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "train_ava.py"),
            "--num-gpus",
            "2",
            "--dist-url",
            "auto",
            "--config",
            str(REPO / "configs/synthetic/tiny_slowfast.yaml"),
            "AVA.SYNTHETIC_ROOT",
            str(synthetic_root),
            "OUTPUT_DIR",
            str(tmp_path),
            *TINY,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ava_synthetic_val: mAP@0.5IOU = " in proc.stdout
    assert "World size: 2" in proc.stdout + proc.stderr
    det = _detections(tmp_path / "inference" / "ava_synthetic_val" / "detections.csv")
    kept = _test_proposals(synthetic_root)
    assert _box_set(det) == _box_set(kept)
    assert len(det) == len(_box_set(kept)) * det.action.nunique()
