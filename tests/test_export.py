"""TorchScript and ONNX export of the action model: equal to eager within 1e-4 on synthetic clips,
RoIAlign (aligned, half-pixel) preserved, other sizes and box counts through the same files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_tool
from detectron2.modeling import build_model
from detectron2.modeling.poolers import convert_boxes_to_pooler_format

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.export.action_model import (
    ActionModel,
    example_inputs,
)
from ava_detector.export.exporters import (
    export_onnx,
    export_torchscript,
    max_abs_diff,
    run_onnx,
    run_torchscript,
)

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


def _cfg():
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.ZERO_INIT_FINAL_BN = False  # residual branches active: a non-trivial graph
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.MODEL.ROI_ACTION_HEAD.INIT_STD = 1.0  # spread-out probabilities, so differences show
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.TEST_SHORT_SIDE = 120
    return cfg


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model, inputs from a synthetic AVA keyframe (test mapping), and both exports."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export")
    generate_synthetic_ava(
        root / "syn", train_videos=0, val_videos=1, spec=SceneSpec(duration=3), progress=False
    )
    cfg = _cfg()
    torch.manual_seed(0)
    detector = build_model(cfg).eval()
    mapper = AVADatasetMapper(
        **{**AVADatasetMapper.from_config(cfg, is_train=False), "source": "video"}
    )
    boxes = np.array(
        [[0.05, 0.3, 0.2, 0.8], [0.5, 0.25, 0.7, 0.75], [0.3, 0.1, 0.9, 0.9]], np.float32
    )
    sample = mapper(
        {
            "video_id": "syn_val_000",
            "sec": 101,
            "start_sec": 100.0,
            "image_id": "x",
            "video_path": str(root / "syn/videos/syn_val_000.mp4"),
            "boxes": boxes,
        }
    )
    clips, proposals = detector.preprocess([sample])
    rois = convert_boxes_to_pooler_format([p.proposal_boxes for p in proposals])
    inputs = (clips["slow"], clips["fast"], rois)
    model = ActionModel(detector).eval()
    ts = export_torchscript(model, inputs, root / "m.ts")
    return model, inputs, ts, cfg, root


@pytest.fixture(scope="module")
def onnx_file(exported):
    """The ONNX export (onnx/onnxruntime come with the ``export`` extra; skipped without them)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model, inputs, _, _, root = exported
    return export_onnx(model, inputs, root / "m.onnx", input_names=model.input_names)


def test_torchscript_equals_eager(exported):
    model, inputs, ts, _, _ = exported
    out = run_torchscript(ts, inputs)
    assert out.shape == (3, 80)
    assert out.std() > 0.05  # the outputs are not a constant the check would pass trivially
    assert max_abs_diff(model, inputs, out) <= TOL


def test_onnx_equals_eager_and_keeps_aligned_roi_align(exported, onnx_file):
    import onnx

    model, inputs, *_ = exported
    assert max_abs_diff(model, inputs, run_onnx(onnx_file, inputs)) <= TOL
    graph = onnx.load(str(onnx_file)).graph
    roi = [n for n in graph.node if n.op_type == "RoiAlign"]
    assert len(roi) == 2  # one per pathway
    attrs = {a.name: a for a in roi[0].attribute}
    assert attrs["coordinate_transformation_mode"].s == b"half_pixel"
    assert attrs["spatial_scale"].f == pytest.approx(1 / 16)
    assert [i.name for i in graph.input] == ["slow", "fast", "rois"]


def test_other_sizes_and_box_counts_torchscript(exported):
    """Dynamic H, W and R: a different clip size and 5 boxes through the same traced file."""
    model, _, ts, _, _ = exported
    inputs = example_inputs(model, num_frames=8, alpha=4, height=96, width=128, num_boxes=5, seed=1)
    assert max_abs_diff(model, inputs, run_torchscript(ts, inputs)) <= TOL


def test_other_sizes_and_box_counts_onnx(exported, onnx_file):
    model, *_ = exported
    inputs = example_inputs(model, num_frames=8, alpha=4, height=96, width=128, num_boxes=5, seed=1)
    assert max_abs_diff(model, inputs, run_onnx(onnx_file, inputs)) <= TOL


def test_roi_align_moves_with_the_box(exported, onnx_file):
    """A shifted box changes the output: the exported RoIAlign reads the boxes."""
    model, inputs, *_ = exported
    shifted = (*inputs[:2], inputs[2] + torch.tensor([0.0, 3.5, 0.0, 3.5, 0.0]))
    a, b = run_onnx(onnx_file, inputs), run_onnx(onnx_file, shifted)
    assert np.abs(a - b).max() > 1e-3
    assert max_abs_diff(model, shifted, b) <= TOL


def test_old_opset_refused_for_aligned(exported, tmp_path):
    model, inputs, *_ = exported
    with pytest.raises(ValueError, match="opset >= 16"):
        export_onnx(model, inputs, tmp_path / "old.onnx", input_names=model.input_names, opset=13)
    assert not (tmp_path / "old.onnx").exists()


def test_export_tool(exported, onnx_file, tmp_path):
    model, _, _, cfg, _ = exported
    (tmp_path / "tiny.yaml").write_text(cfg.dump())
    torch.save({"model": _detector_state(cfg)}, tmp_path / "w.pth")
    tool = load_tool("export")
    rc = tool.main(
        [
            "--config",
            str(tmp_path / "tiny.yaml"),
            "--weights",
            str(tmp_path / "w.pth"),
            "--output-dir",
            str(tmp_path / "out"),
            "--height",
            "100",
            "--width",
            "130",
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "out" / "export.json").read_text())
    assert set(report) == {"torchscript", "onnx"}
    assert all(r["max_abs_diff"] <= TOL for r in report.values())
    assert (tmp_path / "out" / "action_model.ts").is_file()
    assert (tmp_path / "out" / "action_model.onnx").is_file()
    assert (
        tool.main(
            [
                "--config",
                str(tmp_path / "tiny.yaml"),
                "--weights",
                str(tmp_path / "x.pth"),
                "--output-dir",
                str(tmp_path / "out2"),
            ]
        )
        == 2
    )


def _detector_state(cfg):
    torch.manual_seed(1)
    return build_model(cfg).state_dict()
