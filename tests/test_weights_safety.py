"""No code runs from a weights file: crafted pickles whose ``__reduce__`` would create a marker file,
through every path that reads weights (loader, checkpointers, person detector, demo, export,
conversion, training, evaluation, resume, Kinetics pretraining). Each refusal is a one-line error
that names the file (exit code 2 for the tools), and the marker is never created."""

from __future__ import annotations

import io
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import load_tool
from detectron2.modeling import build_model

from ava_detector.checkpoint.checkpointer import (
    SafeDetectionCheckpointer,
    VideoCheckpointer,
)
from ava_detector.checkpoint.safe_load import (
    CheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
)
from ava_detector.config.defaults import get_ava_cfg

REPO = Path(__file__).resolve().parents[1]
TINY_AVA = REPO / "configs/synthetic/tiny_slowfast.yaml"
TINY_KINETICS = REPO / "configs/synthetic/tiny_kinetics.yaml"
ZOO = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"


class _Marker:
    """Unpickling this calls ``open(path, "w")``: the marker file appears if code runs."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> tuple[dict[str, Path], Path]:
    """Five crafted files (Caffe2 blobs .pkl, model-zoo .pkl, bare pickle, torch zip .pth, PySlowFast
    .pyth) sharing one marker path."""
    root = tmp_path_factory.mktemp("crafted")
    marker = root / "MARKER"
    evil = _Marker(marker)
    files = {
        "caffe2.pkl": pickle.dumps({"blobs": {"conv1_w": evil}}, protocol=2),
        "zoo.pkl": pickle.dumps(
            {"model": {"w": evil}, "__author__": "Detectron2 Model Zoo"}, protocol=4
        ),
        "bare.pkl": pickle.dumps(evil, protocol=5),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = root / name
        paths[name].write_bytes(data)
    for name, obj in {
        "model.pth": {"model": {"w": evil}},
        "model.pyth": {"model_state": {"w": evil}, "cfg": "MODEL: {}"},
    }.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        paths[name] = root / name
        paths[name].write_bytes(buf.getvalue())
    return paths, marker


def _one_line_error(text: str, path: Path) -> str:
    """The tool's one error line (``[prog: ]error: ...``) naming ``path``; no traceback of the
    refusal (other stderr lines, e.g. a logging handler left by another test, are ignored)."""
    lines = [ln for ln in text.splitlines() if re.match(r"^(\S+: )?error: ", ln)]
    assert len(lines) == 1, text
    assert str(path) in lines[0], text
    assert "CheckpointError" not in text and "UnpicklingError" not in text, text
    return lines[0]


def test_the_crafted_files_do_run_code_under_plain_pickle(tmp_path):
    """The test's premise: unpickled without restriction, the payload creates the marker."""
    marker = tmp_path / "m"
    pickle.loads(pickle.dumps(_Marker(marker), protocol=2)).close()
    assert marker.exists()


def test_loader_refuses_every_crafted_file_in_one_line(crafted):
    paths, marker = crafted
    for path in paths.values():
        with pytest.raises(UnsafeCheckpointError) as info:
            load_checkpoint_file(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message and "refusing" in message, message
        assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
    assert not marker.exists()


def test_checkpointers_refuse(crafted):
    paths, marker = crafted
    model = torch.nn.Linear(2, 2)
    for path in paths.values():
        for checkpointer in (VideoCheckpointer(model), SafeDetectionCheckpointer(model)):
            with pytest.raises(UnsafeCheckpointError, match="refusing"):
                checkpointer.load(str(path))
    assert not marker.exists()


def test_damaged_files_are_one_line_errors_too(tmp_path):
    buf = io.BytesIO()
    torch.save({"model": {"w": torch.ones(3)}}, buf)
    cases = {
        "empty.pth": b"",
        "half.pth": buf.getvalue()[: len(buf.getvalue()) // 2],
        "text.pkl": b"not a pickle at all",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint_file(tmp_path / name)
        assert "\n" not in str(info.value) and str(tmp_path / name) in str(info.value)
        assert not isinstance(info.value, UnsafeCheckpointError)
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint_file(tmp_path)


def test_model_zoo_pkl_of_arrays_still_loads(tmp_path):
    """The restricted unpickler keeps the Detectron2 model-zoo format (numpy arrays, protocol 5
    included) working through the person detector's checkpointer."""
    import numpy as np

    model = torch.nn.Linear(3, 2)
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    for protocol in (2, 5):
        path = tmp_path / f"zoo{protocol}.pkl"
        path.write_bytes(
            pickle.dumps(
                {"model": {"weight": weight, "bias": np.ones(2, np.float32)}, "__author__": "test"},
                protocol=protocol,
            )
        )
        with torch.no_grad():
            model.weight.zero_()
        SafeDetectionCheckpointer(model).load(str(path))
        assert torch.equal(model.weight, torch.from_numpy(weight))


def test_person_detector_refuses(crafted):
    from ava_detector.demo.person_detector import (
        PersonDetector,
        build_person_detector_cfg,
    )

    paths, marker = crafted
    torch.set_num_threads(1)
    for name in ("zoo.pkl", "model.pth"):
        cfg = build_person_detector_cfg(ZOO, str(paths[name]), 0.7)
        with pytest.raises(UnsafeCheckpointError):
            PersonDetector(cfg)
    assert not marker.exists()


def test_person_detector_config_is_not_unsafe_yaml(tmp_path):
    from ava_detector.demo.person_detector import build_person_detector_cfg

    marker = tmp_path / "yaml_marker"
    config = tmp_path / "det.yaml"
    config.write_text(f"MODEL: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    weights = tmp_path / "w.pth"
    torch.save({"model": {}}, weights)
    with pytest.raises(ValueError, match="not a plain YAML config"):
        build_person_detector_cfg(str(config), str(weights), 0.5)
    assert not marker.exists()


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory):
    """A 2 s synthetic video, a tiny config and good random weights."""
    from ava_detector.ava.data.synthetic import generate_synthetic_ava
    from ava_detector.data.synthetic_scene import SceneSpec

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("demo_safety")
    generate_synthetic_ava(
        root / "syn", train_videos=0, val_videos=1, spec=SceneSpec(duration=3), progress=False
    )
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.TEST_SHORT_SIDE = 120
    (root / "tiny.yaml").write_text(cfg.dump())
    torch.save({"model": build_model(cfg).state_dict()}, root / "good.pth")
    return root


def test_demo_refuses_action_and_detector_weights(crafted, demo_inputs, capsys):
    paths, marker = crafted
    demo = load_tool("demo")
    common = [
        "--config",
        str(demo_inputs / "tiny.yaml"),
        "--input",
        str(demo_inputs / "syn/videos/syn_val_000.mp4"),
        "--output",
        str(demo_inputs / "out.mp4"),
        "--no-progress",
    ]
    rc = demo.main(
        [
            *common,
            "--weights",
            str(paths["model.pth"]),
            "--boxes",
            str(demo_inputs / "syn/annotations/ava_val_v2.2.csv"),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["model.pth"])
    rc = demo.main(
        [
            *common,
            "--weights",
            str(demo_inputs / "good.pth"),
            "--detector-config",
            ZOO,
            "--detector-weights",
            str(paths["zoo.pkl"]),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["zoo.pkl"])
    assert not marker.exists() and not (demo_inputs / "out.mp4").exists()


def test_export_refuses(crafted, demo_inputs, tmp_path, capsys):
    paths, marker = crafted
    rc = load_tool("export").main(
        [
            "--config",
            str(demo_inputs / "tiny.yaml"),
            "--weights",
            str(paths["caffe2.pkl"]),
            "--output-dir",
            str(tmp_path / "x"),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["caffe2.pkl"])
    assert not marker.exists() and not (tmp_path / "x" / "export.json").exists()


def test_convert_refuses(crafted, tmp_path, capsys):
    paths, marker = crafted
    convert = load_tool("convert_pyslowfast")
    psf = tmp_path / "psf.yaml"
    psf.write_text("MODEL:\n  ARCH: slowfast\n")
    for name in ("model.pyth", "caffe2.pkl", "bare.pkl"):
        out = tmp_path / f"{name}.out.pth"
        rc = convert.main(
            [
                str(paths[name]),
                "--output",
                str(out),
                "--config-out",
                str(tmp_path / "c.yaml"),
                "--pyslowfast-config",
                str(psf),
            ]
        )
        assert rc == 2
        _one_line_error(capsys.readouterr().err, paths[name])
        assert not out.exists()
    assert not marker.exists()


def test_training_evaluation_and_resume_refuse(crafted, tmp_path, capsys):
    """MODEL.WEIGHTS for --eval-only and for training, and the checkpoint --resume would continue
    from: refused before any data is read (the data root does not even exist)."""
    paths, marker = crafted
    train = load_tool("train_ava")
    base = ["--config", str(TINY_AVA), "AVA.SYNTHETIC_ROOT", str(tmp_path / "nowhere")]
    rc = train.cli(
        [
            *base,
            "--eval-only",
            "MODEL.WEIGHTS",
            str(paths["model.pth"]),
            "OUTPUT_DIR",
            str(tmp_path / "eval"),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["model.pth"])
    rc = train.cli(
        [*base, "MODEL.WEIGHTS", str(paths["caffe2.pkl"]), "OUTPUT_DIR", str(tmp_path / "train")]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["caffe2.pkl"])
    run = tmp_path / "resume"
    run.mkdir()
    (run / "model_0000001.pth").write_bytes(paths["model.pth"].read_bytes())
    (run / "last_checkpoint").write_text("model_0000001.pth")
    rc = train.cli(["--resume", *base, "OUTPUT_DIR", str(run)])
    assert rc == 2
    _one_line_error(capsys.readouterr().err, run / "model_0000001.pth")
    assert not marker.exists() and not (tmp_path / "train" / "metrics.json").exists()


def test_kinetics_pretraining_refuses(crafted, tmp_path, capsys):
    paths, marker = crafted
    rc = load_tool("pretrain_kinetics").cli(
        [
            "--config",
            str(TINY_KINETICS),
            "MODEL.WEIGHTS",
            str(paths["bare.pkl"]),
            "KINETICS.SYNTHETIC_ROOT",
            str(tmp_path / "nowhere"),
            "OUTPUT_DIR",
            str(tmp_path),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, paths["bare.pkl"])
    assert not marker.exists()


def test_train_ava_process_exits_2_with_one_line(crafted, tmp_path):
    paths, marker = crafted
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/train_ava.py"),
            "--config",
            str(TINY_AVA),
            "--eval-only",
            "MODEL.WEIGHTS",
            str(paths["zoo.pkl"]),
            "OUTPUT_DIR",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert _one_line_error(proc.stderr, paths["zoo.pkl"]).startswith("train_ava.py: error:")
    assert not marker.exists()


def test_configs_that_are_not_plain_yaml_are_refused(demo_inputs, tmp_path, capsys):
    """A config's ``!!python`` tag would run code under Detectron2's ``yaml.unsafe_load`` fallback:
    train_ava, demo and export refuse it (also through ``_BASE_``) in one line."""
    marker = tmp_path / "yaml_marker"
    base = tmp_path / "base.yaml"
    base.write_text(f"MODEL:\n  WEIGHTS: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"_BASE_: {base}\n")
    rc = load_tool("train_ava").cli(["--config", str(child), "OUTPUT_DIR", str(tmp_path / "o")])
    assert rc == 2
    assert "python/object/apply" in _one_line_error(capsys.readouterr().err, child)
    common = ["--weights", str(demo_inputs / "good.pth")]
    rc = load_tool("demo").main(
        [
            "--config",
            str(base),
            *common,
            "--input",
            str(demo_inputs / "syn/videos/syn_val_000.mp4"),
            "--output",
            str(tmp_path / "out.mp4"),
            "--boxes",
            str(base),
        ]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, base)
    rc = load_tool("export").main(
        ["--config", str(child), *common, "--output-dir", str(tmp_path / "x")]
    )
    assert rc == 2
    _one_line_error(capsys.readouterr().err, child)
    assert not marker.exists()
