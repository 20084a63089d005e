"""SlowFast backbone: channels and strides per stage, laterals 2*beta*C, temporal sizes, variants."""

from __future__ import annotations

import pytest
import torch

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.modeling.backbone.slowfast import (
    SlowFast,
    build_slowfast_backbone,
)


def _small(arch: str = "slowfast", depth: int = 50, **kw) -> SlowFast:
    torch.manual_seed(0)
    args = dict(arch=arch, depth=depth, width_per_group=8, alpha=4, beta_inv=8, fusion_kernel=7)
    args.update(kw)
    return SlowFast(**args).eval()


def _clips(t_fast: int = 8, size: int = 64, alpha: int = 4, arch: str = "slowfast"):
    g = torch.Generator().manual_seed(0)
    fast = torch.randn(1, 3, t_fast, size, size, generator=g)
    clips = {"fast": fast, "slow": fast[:, :, ::alpha]}
    return {
        k: v
        for k, v in clips.items()
        if k in {"slowfast": ("slow", "fast"), "slow": ("slow",), "fast": ("fast",)}[arch]
    }


def _stage_outputs(model: SlowFast, clips):
    """Run the model recording every stem / stage / lateral output by module name."""
    seen = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o.shape)
        )
        for name, _ in model.named_children()
    ]
    with torch.no_grad():
        out = model(clips)
    for h in hooks:
        h.remove()
    return out, seen


@pytest.mark.parametrize("depth", [50, 101])
def test_slowfast_channels_per_stage(depth):
    model = _small(depth=depth, spatial_strides=(1, 2, 2, 1), spatial_dilations=(1, 1, 1, 2))
    out, seen = _stage_outputs(model, _clips())
    # width 8, beta 1/8: slow 8 -> 32/64/128/256, fast 1 -> 4/8/16/32; T preserved (2 slow, 8 fast)
    assert seen["slow_stem"] == (1, 8, 2, 16, 16)
    assert seen["fast_stem"] == (1, 1, 8, 16, 16)
    expected = {"res2": (32, 4, 16), "res3": (64, 8, 8), "res4": (128, 16, 4), "res5": (256, 32, 4)}
    for stage, (cs, cf, hw) in expected.items():
        assert seen[f"slow_{stage}"] == (1, cs, 2, hw, hw)
        assert seen[f"fast_{stage}"] == (1, cf, 8, hw, hw)
    # laterals: 2 * beta * C_slow = 2 * C_fast channels at the Slow frame rate
    for name, cf in [
        ("lateral_stem", 1),
        ("lateral_res2", 4),
        ("lateral_res3", 8),
        ("lateral_res4", 16),
    ]:
        assert seen[name][1] == 2 * cf and seen[name][2] == 2
    assert out["slow"].shape == (1, 256, 2, 4, 4) and out["fast"].shape == (1, 32, 8, 4, 4)
    n_blocks = [
        len([k for k in getattr(model, f"slow_{s}")._modules])
        for s in ("res2", "res3", "res4", "res5")
    ]
    assert n_blocks == ([3, 4, 6, 3] if depth == 50 else [3, 4, 23, 3])
    shapes = model.output_shape()
    assert (shapes["slow"].channels, shapes["fast"].channels) == (256, 32)
    assert shapes["slow"].stride == 16 and model.size_divisibility == 16


def test_slowfast_r50_full_width_channels():
    model = SlowFast(arch="slowfast", depth=50, width_per_group=64, alpha=8, beta_inv=8)
    assert model.lateral_stem.out_channels == 16  # 2 * beta * 64
    assert model.slow_res2[0].conv1.in_channels == 64 + 16
    assert model.slow_res5[0].conv1.in_channels == 1024 + 2 * 128
    assert model.output_shape()["slow"].channels == 2048
    assert model.output_shape()["fast"].channels == 256


@pytest.mark.parametrize("rounding,stem,res2,res5", [("floor", 10, 42, 341), ("ceil", 11, 43, 342)])
def test_fast_channel_rounding_for_beta_that_does_not_divide(rounding, stem, res2, res5):
    # beta 1/6 at width 64: stem 64/6 = 10.67, res2 256/6 = 42.67, res5 2048/6 = 341.33
    model = SlowFast(
        arch="slowfast",
        depth=50,
        width_per_group=64,
        alpha=8,
        beta_inv=6,
        fast_channel_rounding=rounding,
    )
    assert model.fast_stem.out_channels == stem
    assert model.lateral_stem.out_channels == 2 * stem
    assert model.fast_res2[0].conv3.out_channels == res2
    assert model.slow_res2[0].conv1.in_channels == 64 + 2 * stem
    assert model.output_shape()["fast"].channels == res5
    assert model.output_shape()["slow"].channels == 2048


def test_fast_channel_rounding_rejects_unknown_mode():
    with pytest.raises(
        ValueError, match="FAST_CHANNEL_ROUNDING must be 'floor' or 'ceil', got 'up'"
    ):
        SlowFast(beta_inv=6, fast_channel_rounding="up")


@pytest.mark.parametrize("arch,key,channels", [("slow", "slow", 256), ("fast", "fast", 32)])
def test_single_pathway_variants(arch, key, channels):
    model = _small(arch=arch, spatial_strides=(1, 2, 2, 2), spatial_dilations=(1, 1, 1, 1))
    clips = _clips(arch=arch)
    out = model(clips)
    assert model.pathways == (key,) and set(out) == {key}
    t = clips[key].shape[2]
    assert out[key].shape == (1, channels, t, 2, 2)
    assert not any(n.startswith("lateral") for n, _ in model.named_children())
    assert model.size_divisibility == 32


def test_temporal_kernels_and_block_counts():
    model = _small(num_block_temp_kernel=[[3, 3], [4, 4], [2, 6], [3, 3]])
    # Slow: temporal kernel only in res4/res5, and only the first 2 res4 blocks here.
    assert [b.conv1.kernel_size[0] for b in model.slow_res4] == [3, 3, 1, 1, 1, 1]
    assert [b.conv1.kernel_size[0] for b in model.slow_res2] == [1, 1, 1]
    assert [b.conv1.kernel_size[0] for b in model.fast_res2] == [3, 3, 3]
    assert model.slow_stem.conv1.kernel_size == (1, 7, 7)
    assert model.fast_stem.conv1.kernel_size == (5, 7, 7)
    assert model.lateral_res2.kernel_size == (7, 1, 1) and model.lateral_res2.stride == (4, 1, 1)
    # detection: res5 stride 1 dilation 2 on the 3x3 conv
    assert model.slow_res5[0].conv2.dilation == (1, 2, 2) and model.slow_res5[0].conv2.stride == (
        1,
        1,
        1,
    )


def test_init_msra_and_zero_final_bn():
    model = _small()
    block = model.slow_res3[1]
    assert torch.count_nonzero(block.conv3.norm.weight) == 0
    assert torch.all(block.conv1.norm.weight == 1)
    w = model.slow_res5[0].conv2.weight  # fan_out = 64 * 9
    assert abs(w.std().item() - (2.0 / (64 * 9)) ** 0.5) < 0.01
    assert (
        torch.count_nonzero(_small(zero_init_final_norm=False).slow_res3[1].conv3.norm.weight) > 0
    )


def test_registry_build_and_freeze():
    cfg = get_ava_cfg()
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.SLOWFAST.NORM = "FrozenBN"
    cfg.MODEL.SLOWFAST.FREEZE_AT = 2
    from detectron2.modeling import build_backbone

    model = build_backbone(cfg)
    assert isinstance(model, SlowFast) and model.pathways == ("slow", "fast")
    assert not any(p.requires_grad for p in model.slow_res2.parameters())
    assert all(p.requires_grad for p in model.slow_res3.parameters())
    out = model(_clips(t_fast=8, size=32))
    assert out["slow"].shape == (1, 256, 2, 2, 2)


def test_bn_variants_agree_with_frozen_bn_in_eval():
    """A 5-D input normalised through a 2-D norm equals per-channel affine normalisation."""
    cfg = get_ava_cfg()
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    torch.manual_seed(1)
    bn = build_slowfast_backbone(cfg).eval()
    for m in bn.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.0)
    frozen = build_slowfast_backbone(cfg)
    frozen.load_state_dict(bn.state_dict())
    frozen.freeze(5).eval()
    clips = _clips(t_fast=8, size=32)
    a, b = bn(clips), frozen(clips)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_constructor_defaults_are_the_config_defaults():
    """``SlowFast()`` and the backbone built from the default config are the same network."""
    from ava_detector.config.defaults import get_ava_cfg

    cfg = get_ava_cfg()
    ours = {k: tuple(v.shape) for k, v in build_slowfast_backbone(cfg).state_dict().items()}
    plain = {k: tuple(v.shape) for k, v in SlowFast().state_dict().items()}
    assert ours == plain
    built, default = build_slowfast_backbone(cfg), SlowFast()
    assert [m.kernel_size for m in built.modules() if isinstance(m, torch.nn.Conv3d)] == [
        m.kernel_size for m in default.modules() if isinstance(m, torch.nn.Conv3d)
    ]
    assert [m.stride for m in built.modules() if isinstance(m, torch.nn.Conv3d)] == [
        m.stride for m in default.modules() if isinstance(m, torch.nn.Conv3d)
    ]
