"""PySlowFast / Caffe2 checkpoint import: names, safe loading, config translation, parity with the references."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from ava_detector.checkpoint.checkpointer import VideoCheckpointer
from ava_detector.checkpoint.names import (
    caffe2_to_pyslowfast,
    pyslowfast_to_ours,
)
from ava_detector.checkpoint.pyslowfast_config import translate_pyslowfast_cfg
from ava_detector.checkpoint.safe_load import (
    load_checkpoint_file,
    safe_unpickle,
)
from ava_detector.checkpoint.verify import (
    ReferenceModel,
    build_reference_cfg,
    verify_reference,
)
from ava_detector.config.defaults import get_ava_cfg

REFS = ["ava_slowfast_r50_w8", "ava_slowfast_r50_c2_w8", "kinetics_slowfast_r50_8x8_w8"]


def test_pyslowfast_names():
    cases = {
        "s1.pathway0_stem.conv.weight": "backbone.slow_stem.conv1.weight",
        "s1.pathway1_stem.bn.running_var": "backbone.fast_stem.conv1.norm.running_var",
        "s1_fuse.conv_f2s.weight": "backbone.lateral_stem.weight",
        "s4_fuse.bn.bias": "backbone.lateral_res4.norm.bias",
        "s2.pathway0_res0.branch1.weight": "backbone.slow_res2.0.shortcut.weight",
        "s2.pathway0_res0.branch1_bn.weight": "backbone.slow_res2.0.shortcut.norm.weight",
        "s4.pathway1_res22.branch2.b.weight": "backbone.fast_res4.22.conv2.weight",
        "s5.pathway0_res2.branch2.c_bn.num_batches_tracked": "backbone.slow_res5.2.conv3.norm.num_batches_tracked",
        "s3.pathway0_nonlocal1.conv_theta.bias": "backbone.slow_res3.nonlocal1.theta.bias",
        "s4.pathway1_nonlocal3.bn.running_mean": "backbone.fast_res4.nonlocal3.out.norm.running_mean",
        "head.projection.weight": "roi_heads.predictor.weight",
    }
    for src, ours in cases.items():
        assert pyslowfast_to_ours(src) == ours
    assert (
        pyslowfast_to_ours("head.projection.bias", head_prefix="cls_head.")
        == "cls_head.predictor.bias"
    )
    assert pyslowfast_to_ours("head.act.foo") is None


def test_caffe2_names():
    cases = {
        "conv1_w": "s1.pathway0_stem.conv.weight",
        "t_res_conv1_bn_riv": "s1.pathway1_stem.bn.running_var",
        "t_pool1_subsample_w": "s1_fuse.conv_f2s.weight",
        "t_res3_3_branch2c_bn_subsample_bn_s": "s3_fuse.bn.weight",
        "res4_5_branch2a_bn_rm": "s4.pathway0_res5.branch2.a_bn.running_mean",
        "t_res2_0_branch1_w": "s2.pathway1_res0.branch1.weight",
        "nonlocal_conv3_1_theta_w": "s3.pathway0_nonlocal1.conv_theta.weight",
        "nonlocal_conv4_5_bn_b": "s4.pathway0_nonlocal5.bn.bias",
        "pred_b": "head.projection.bias",
    }
    for blob, name in cases.items():
        assert caffe2_to_pyslowfast(blob) == name
    for blob in ("model_iter", "lr", "conv1_w_momentum", "res2_0_branch2a_w_momentum"):
        assert caffe2_to_pyslowfast(blob) is None


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code(tmp_path):
    data = pickle.dumps({"blobs": {"conv1_w": _Evil()}}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        safe_unpickle(data)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Evil(), protocol=4))
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(str(path))
    ok = {"blobs": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "it": np.int64(3)}}
    back = safe_unpickle(pickle.dumps(ok, protocol=2))
    assert np.array_equal(back["blobs"]["w"], ok["blobs"]["w"]) and back["blobs"]["it"] == 3


def test_translate_config_values():
    psf = {
        "MODEL": {
            "ARCH": "slowfast",
            "NUM_CLASSES": 80,
            "DROPOUT_RATE": 0.5,
            "HEAD_ACT": "sigmoid",
        },
        "DETECTION": {"ENABLE": True, "ALIGNED": False, "SPATIAL_SCALE_FACTOR": 16},
        "RESNET": {
            "DEPTH": 101,
            "WIDTH_PER_GROUP": 64,
            "SPATIAL_STRIDES": [[1, 1], [2, 2], [2, 2], [1, 1]],
            "SPATIAL_DILATIONS": [[1, 1], [1, 1], [1, 1], [2, 2]],
            "NUM_BLOCK_TEMP_KERNEL": [[3, 3], [4, 4], [6, 6], [3, 3]],
        },
        "SLOWFAST": {"ALPHA": 4, "BETA_INV": 8, "FUSION_KERNEL_SZ": 5},
        "NONLOCAL": {
            "LOCATION": [[[], []], [[1, 3], []], [[1, 3, 5], []], [[], []]],
            "INSTANTIATION": "softmax",
        },
        "DATA": {"NUM_FRAMES": 32, "SAMPLING_RATE": 2, "MEAN": [0.45] * 3, "STD": [0.225] * 3},
    }
    out = translate_pyslowfast_cfg(psf)
    assert out["MODEL.SLOWFAST.DEPTH"] == 101 and out["MODEL.SLOWFAST.FUSION_KERNEL_SIZE"] == 5
    assert out["MODEL.SLOWFAST.SPATIAL_STRIDES"] == [1, 2, 2, 1]
    assert out["MODEL.SLOWFAST.NONLOCAL.LOCATIONS"][2] == [[1, 3, 5], []]
    assert out["MODEL.ROI_ACTION_HEAD.ALIGNED"] is False
    assert out["MODEL.PIXEL_MEAN"] == [114.75] * 3 and out["MODEL.PIXEL_STD"] == [57.375] * 3
    cfg = get_ava_cfg()
    cfg.merge_from_list([x for kv in out.items() for x in (kv[0], kv[1])])
    psf["DETECTION"]["SPATIAL_SCALE_FACTOR"] = 32
    with pytest.raises(ValueError, match="SPATIAL_SCALE_FACTOR"):
        translate_pyslowfast_cfg(psf)


@pytest.mark.parametrize("name", REFS)
def test_parity_with_pyslowfast(shared_dir, name):
    diffs = verify_reference(str(shared_dir / "pyslowfast_reference" / name))
    assert diffs["outputs"] <= 1e-4, diffs
    assert diffs["logits"] <= 1e-3, diffs


def test_parity_caffe2_pkl(shared_dir):
    ref = shared_dir / "pyslowfast_reference"
    meta = json.loads((ref / "ava_slowfast_r50_c2_w8.json").read_text())
    assert meta["arch"]["detection"]["aligned"] is False
    diffs = verify_reference(
        str(ref / "ava_slowfast_r50_c2_w8"), caffe2=str(ref / "ava_slowfast_r50_c2_w8_c2.pkl")
    )
    assert diffs["outputs"] <= 1e-4 and diffs["logits"] <= 1e-3, diffs


def test_kinetics_into_ava_skips_classifier(shared_dir, caplog):
    ref = shared_dir / "pyslowfast_reference"
    cfg, _ = build_reference_cfg(load_checkpoint_file(str(ref / "ava_slowfast_r50_w8.pyth"))["cfg"])
    model = ReferenceModel(cfg, detection=True)
    head_before = model.roi_heads.predictor.weight.detach().clone()
    kinetics = load_checkpoint_file(str(ref / "kinetics_slowfast_r50_8x8_w8.pyth"))["model_state"]
    with caplog.at_level("INFO"):
        extra = VideoCheckpointer(model, backbone_only=True).load(
            str(ref / "kinetics_slowfast_r50_8x8_w8.pyth")
        )
    assert "iteration" not in extra
    assert torch.equal(model.roi_heads.predictor.weight, head_before)
    assert torch.equal(
        model.backbone.slow_res4[2].conv1.weight, kinetics["s4.pathway0_res2.branch2.a.weight"]
    )
    assert "roi_heads.predictor.weight" in caplog.text


def test_cli_convert_writes_loadable_checkpoint_and_config(shared_dir, tmp_path, repo_root):
    ref = shared_dir / "pyslowfast_reference"
    out, cfg_out = tmp_path / "model.pth", tmp_path / "model.yaml"
    cmd = [
        sys.executable,
        str(repo_root / "tools" / "convert_pyslowfast.py"),
        str(ref / "kinetics_slowfast_r50_8x8_w8.pyth"),
    ]
    subprocess.run(
        [*cmd, "--output", str(out), "--config-out", str(cfg_out)], check=True, capture_output=True
    )
    assert yaml.safe_load(cfg_out.read_text())["_BASE_"].endswith("Base-SlowFast-Kinetics.yaml")
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(cfg_out))
    assert cfg.MODEL.WEIGHTS == str(out) and cfg.MODEL.CLS_HEAD.NUM_CLASSES == 400
    assert cfg.MODEL.SLOWFAST.SPATIAL_STRIDES == [1, 2, 2, 2]
    model = ReferenceModel(cfg, detection=False)
    VideoCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    state = load_checkpoint_file(str(ref / "kinetics_slowfast_r50_8x8_w8.pyth"))["model_state"]
    assert torch.equal(model.cls_head.predictor.weight, state["head.projection.weight"])
