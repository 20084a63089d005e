"""Config values checked before any work: the pure ``config_problems`` (one message per key) and
the tools' behaviour on them (one line naming the key, exit code 2, nothing started), including the
weights checks: --eval-only without weights, heads of another class count, expected initialisation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import load_tool
from detectron2.modeling import build_model

from ava_detector.ava.config_checks import PROTOCOL_NAMES, ava_config_problems
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.engine.config_checks import config_problems
from ava_detector.kinetics.config_checks import kinetics_config_problems

REPO = Path(__file__).resolve().parents[1]
TINY_AVA = REPO / "configs/synthetic/tiny_slowfast.yaml"
ARCHS = ("AVADetector", "VideoClassifier", "GeneralizedRCNN")


def _problems(overrides: dict, **kw) -> list:
    cfg = get_ava_cfg()
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    kw.setdefault("task_checks", [ava_config_problems, kinetics_config_problems])
    return config_problems(cfg, meta_architectures=ARCHS, **kw)


def test_defaults_have_no_problem():
    assert _problems({}) == []
    assert set(PROTOCOL_NAMES) == {"official", "activitynet-2019", "pyslowfast", "mmaction2"}


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("AVA.EVAL_PROTOCOL", "offical", "unknown protocol 'offical'"),
        ("INPUT.SOURCE", "jpegs", "unknown frame source 'jpegs'"),
        ("INPUT.TRAIN_CROP_GRID", "scaled", "'scaled' is not one of source, resized"),
        ("SOLVER.IMS_PER_BATCH", 0, "positive integer, got 0"),
        ("SOLVER.IMS_PER_BATCH", -8, "positive integer, got -8"),
        ("SOLVER.CHECKPOINT_PERIOD", 0, "positive integer (iterations), got 0"),
        ("SOLVER.MAX_ITER", 0, "positive integer, got 0"),
        ("SOLVER.BASE_LR", 0.0, "must be > 0, got 0.0"),
        ("SOLVER.BASE_LR", -0.1, "must be > 0, got -0.1"),
        ("DATALOADER.NUM_WORKERS", -1, "integer >= 0, got -1"),
        ("TEST.IMS_PER_BATCH", 0, "integer >= 1, got 0"),
        ("MODEL.SLOWFAST.ALPHA", 0, "positive integer, got 0"),
        ("MODEL.SLOWFAST.ALPHA", 5, "5 must divide INPUT.NUM_FRAMES 32"),
        ("MODEL.SLOWFAST.ALPHA", 64, "64 must divide INPUT.NUM_FRAMES 32"),
        ("INPUT.NUM_FRAMES", 0, "positive integer, got 0"),
        ("MODEL.META_ARCHITECTURE", "AVADetectr", "unknown architecture 'AVADetectr'"),
        ("SOLVER.AMP.DTYPE", "float8", "'float8' is not one of"),
        ("KINETICS.ENSEMBLE", "mean", "'mean' is not one of sum, max"),
    ],
)
def test_each_bad_value_is_one_error_naming_its_key(key, value, words):
    problems = _problems({key: value})
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.level == "error" and problem.key == key
    assert problem.message.startswith(f"{key}: ") and words in problem.message
    assert "\n" not in problem.message


def test_batch_must_split_over_the_processes():
    (problem,) = _problems({"SOLVER.IMS_PER_BATCH": 6}, world_size=4)
    assert problem.key == "SOLVER.IMS_PER_BATCH" and "not divisible by the 4 processes" in str(
        problem
    )
    assert _problems({"SOLVER.IMS_PER_BATCH": 8}, world_size=4) == []


def test_solver_keys_are_not_checked_for_evaluation():
    bad_solver = {
        "SOLVER.IMS_PER_BATCH": 0,
        "SOLVER.CHECKPOINT_PERIOD": 0,
        "SOLVER.BASE_LR": 0.0,
        "MODEL.WEIGHTS": "model.pth",
    }
    assert _problems(bad_solver, eval_only=True) == []
    assert len(_problems(bad_solver)) == 3


def test_alpha_is_free_for_fast_only():
    assert _problems({"MODEL.SLOWFAST.ARCH": "fast", "MODEL.SLOWFAST.ALPHA": 5}) == []


def test_eval_only_needs_weights_unless_random_is_asked_for():
    (problem,) = _problems({}, eval_only=True)
    assert problem.key == "MODEL.WEIGHTS" and "MODEL.ALLOW_RANDOM_WEIGHTS" in problem.message
    assert _problems({"MODEL.ALLOW_RANDOM_WEIGHTS": True}, eval_only=True) == []
    assert _problems({}, eval_only=True, resume=True) == []  # OUTPUT_DIR's checkpoint


def test_expected_init_without_weights_warns():
    (problem,) = _problems({"MODEL.EXPECTED_INIT": "a Kinetics-600 R101"})
    assert problem.level == "warning" and problem.key == "MODEL.WEIGHTS"
    assert "training from scratch" in problem.message and "a Kinetics-600 R101" in problem.message
    assert _problems({"MODEL.EXPECTED_INIT": "x", "MODEL.WEIGHTS": "k.pth"}) == []
    (problem,) = _problems({"MODEL.WEIGHTS_BACKBONE_ONLY": True})
    assert problem.level == "warning" and "from scratch" in problem.message


def test_tool_expectation():
    (problem,) = _problems({}, expected_meta_architecture="VideoClassifier")
    assert problem.key == "MODEL.META_ARCHITECTURE" and "'VideoClassifier'" in problem.message


# ---------------------------------------------------------------- through the tools
def _error_line(err: str) -> str:
    """The tool's one ``prog: error: ...`` line (other stderr lines are ignored)."""
    lines = [ln for ln in err.splitlines() if re.match(r"^\S+: error: ", ln)]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "flags, opts, key",
    [
        ([], ["AVA.EVAL_PROTOCOL", "offical"], "AVA.EVAL_PROTOCOL"),
        ([], ["INPUT.SOURCE", "jpegs"], "INPUT.SOURCE"),
        ([], ["SOLVER.CHECKPOINT_PERIOD", "0"], "SOLVER.CHECKPOINT_PERIOD"),
        (["--num-gpus", "2"], ["SOLVER.IMS_PER_BATCH", "3"], "SOLVER.IMS_PER_BATCH"),
        ([], ["MODEL.META_ARCHITECTURE", "Nope"], "MODEL.META_ARCHITECTURE"),
    ],
)
def test_train_ava_refuses_before_anything_starts(tmp_path, capsys, flags, opts, key):
    out = tmp_path / "out"
    rc = load_tool("train_ava").cli(
        ["--config", str(TINY_AVA), *flags, *opts, "OUTPUT_DIR", str(out)]
    )
    assert rc == 2
    assert f"error: {key}: " in _error_line(capsys.readouterr().err)
    assert not out.exists()  # no log, no config dump, nothing


def test_pretrain_kinetics_refuses_an_ava_config(tmp_path, capsys):
    rc = load_tool("pretrain_kinetics").cli(
        ["--config", str(TINY_AVA), "OUTPUT_DIR", str(tmp_path / "o")]
    )
    assert rc == 2
    assert "MODEL.META_ARCHITECTURE: 'AVADetector'" in _error_line(capsys.readouterr().err)


def test_eval_only_without_weights_refuses(tmp_path, capsys):
    train = load_tool("train_ava")
    base = [
        "--config",
        str(TINY_AVA),
        "--eval-only",
        "AVA.SYNTHETIC_ROOT",
        str(tmp_path / "none"),
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    ]
    assert train.cli(base) == 2
    assert "error: MODEL.WEIGHTS: empty" in _error_line(capsys.readouterr().err)
    # --resume with nothing complete to resume from is no way around it either
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "last_checkpoint").write_text("")
    assert train.cli(["--resume", *base]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "MODEL.WEIGHTS: empty and --resume found no complete checkpoint" in line
    # asked for on purpose: the weights check passes and the run goes on to the data check
    assert train.cli([*base, "MODEL.ALLOW_RANDOM_WEIGHTS", "True"]) == 2
    assert "dataset" in _error_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def other_head(tmp_path_factory) -> tuple[Path, dict]:
    """A checkpoint of the tiny config with a 60-class head (the model has 80)."""
    from ava_detector.config.defaults import get_ava_cfg as fresh

    cfg = fresh()
    cfg.merge_from_file(str(TINY_AVA))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 60
    torch.manual_seed(0)
    state = build_model(cfg).state_dict()
    path = tmp_path_factory.mktemp("heads") / "head60.pth"
    torch.save({"model": state}, path)
    return path, state


@pytest.mark.parametrize("eval_only", [True, False])
def test_head_of_another_class_count_is_an_error(other_head, tmp_path, capsys, eval_only):
    path, _ = other_head
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(TINY_AVA),
            *(["--eval-only"] if eval_only else []),
            "MODEL.WEIGHTS",
            str(path),
            "AVA.SYNTHETIC_ROOT",
            str(tmp_path / "none"),
            "OUTPUT_DIR",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    line = _error_line(capsys.readouterr().err)
    assert str(path) in line and "roi_heads.predictor.weight: (60, " in line
    assert "MODEL.WEIGHTS_BACKBONE_ONLY" in line


def test_backbone_only_init_takes_the_other_head(other_head, tmp_path, capsys):
    """With MODEL.WEIGHTS_BACKBONE_ONLY the head is skipped and the backbone loads; the run then
    reaches the data check (the data root does not exist)."""
    from ava_detector.checkpoint.checkpointer import VideoCheckpointer
    from ava_detector.engine.cli import (
        check_weights,
        load_cfg,
    )

    path, state = other_head
    train = load_tool("train_ava")
    rc = train.cli(
        [
            "--config",
            str(TINY_AVA),
            "MODEL.WEIGHTS",
            str(path),
            "MODEL.WEIGHTS_BACKBONE_ONLY",
            "True",
            "AVA.SYNTHETIC_ROOT",
            str(tmp_path / "x"),
            "OUTPUT_DIR",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "dataset" in _error_line(capsys.readouterr().err)
    args = train.argument_parser().parse_args(
        [
            "--config",
            str(TINY_AVA),
            "MODEL.WEIGHTS",
            str(path),
            "MODEL.WEIGHTS_BACKBONE_ONLY",
            "True",
        ]
    )
    cfg = load_cfg(args)
    assert check_weights(cfg, args, VideoCheckpointer) == str(path)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    VideoCheckpointer(model, backbone_only=True).load(str(path))
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if k.startswith("backbone."))


def test_eval_only_with_a_backbone_only_file_is_an_error(other_head, tmp_path, capsys):
    """A Kinetics-style file (backbone, no action head) cannot be evaluated: its head would be
    random."""
    _, state = other_head
    path = tmp_path / "backbone.pth"
    torch.save({"model": {k: v for k, v in state.items() if k.startswith("backbone.")}}, path)
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(TINY_AVA),
            "--eval-only",
            "MODEL.WEIGHTS",
            str(path),
            "OUTPUT_DIR",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    line = _error_line(capsys.readouterr().err)
    assert str(path) in line and "roi_heads.predictor" in line and "random weights" in line


def test_declared_init_missing_is_said_loudly(tmp_path, capsys):
    rc = load_tool("train_ava").cli(
        [
            "--config",
            str(REPO / "configs/ava_slowfast_r101.yaml"),
            "AVA.ROOT",
            str(tmp_path / "none"),
            "OUTPUT_DIR",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2  # no data here; the warning comes first
    err = capsys.readouterr().err
    assert "WARNING: MODEL.WEIGHTS: empty: training from scratch" in err
    assert "Kinetics-600" in err and "MODEL.EXPECTED_INIT" in err


def test_weights_with_a_non_tensor_entry_are_one_line(tmp_path, capsys):
    path = tmp_path / "odd.pth"
    torch.save({"model": {"backbone.slow_stem.conv1.weight": "not a tensor"}}, path)
    rc = load_tool("train_ava").cli(
        ["--config", str(TINY_AVA), "MODEL.WEIGHTS", str(path), "OUTPUT_DIR", str(tmp_path / "o")]
    )
    assert rc == 2
    line = _error_line(capsys.readouterr().err)
    assert str(path) in line and "MODEL.WEIGHTS" in line
