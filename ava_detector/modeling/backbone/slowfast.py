"""SlowFast ResNet-3D (Feichtenhofer et al. 2019) and its Slow-only / Fast-only variants as a Detectron2 backbone."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ava_detector.config.pathways import pathways_of
from ava_detector.modeling.backbone.blocks import (
    Bottleneck3d,
    Lateral3d,
    Stem3d,
)
from ava_detector.modeling.backbone.nonlocal_block import NonLocal3d

__all__ = ["SlowFast", "build_slowfast_backbone", "BLOCKS_PER_DEPTH"]

# Bottleneck blocks in res2..res5 per ResNet depth.
BLOCKS_PER_DEPTH = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
_STAGES = ("res2", "res3", "res4", "res5")


def _per_pathway(value: Any, index: int) -> Any:
    """A per-stage config entry given either once for both pathways or as [slow, fast]."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], (list, tuple)):
        return value[index]
    return value


def _divide(channels: int, divisor: int, rounding: str) -> int:
    """``channels / divisor`` rounded down (PySlowFast) or up (the paper's beta = 1/6, 1/12 widths)."""
    return -(-channels // divisor) if rounding == "ceil" else channels // divisor


class SlowFast(Backbone):
    """Slow and/or Fast ResNet-3D pathways with time-strided laterals after the stem and res2..res4.

    ``forward({"slow": (N,3,T/alpha,H,W), "fast": (N,3,T,H,W)})`` returns the res5 features of each
    pathway under the same keys. There is no temporal downsampling; the Slow pathway receives
    ``fusion_ratio`` x C_fast lateral channels after each fused stage. The defaults are those of
    ``MODEL.SLOWFAST`` (the SlowFast R50 AVA detection backbone).

    Args:
        arch: "slowfast", "slow" (Slow-only) or "fast" (Fast-only).
        depth: ResNet depth (50, 101, 152).
        num_groups: groups of the 3x3 convs (1 = ResNet).
        width_per_group: bottleneck channels per group in res2 (64 for ResNet-50).
        alpha: Fast / Slow frame-rate ratio (the lateral convs' temporal stride).
        beta_inv: 1 / beta: Fast channels = Slow channels / ``beta_inv``.
        fast_channel_rounding: "floor" (PySlowFast) or "ceil" when ``beta_inv`` does not divide.
        fusion_ratio: lateral output channels = ``fusion_ratio`` x Fast channels.
        fusion_kernel: temporal kernel of the lateral convs.
        temporal_kernels: ``{"slow": [stem, res2..res5], "fast": [...]}`` temporal kernel sizes;
            None = (1, 1, 1, 3, 3) Slow, (5, 3, 3, 3, 3) Fast.
        num_block_temp_kernel: per stage ``[slow, fast]``: leading blocks using the temporal kernel.
        spatial_strides: spatial stride of res2..res5.
        spatial_dilations: spatial dilation of res2..res5.
        stride_in_1x1: put the stride on the 1x1 conv (Caffe2 style).
        norm: ``detectron2.layers.get_norm`` name ("BN", "FrozenBN", "SyncBN", ...).
        zero_init_final_norm: zero-initialise the last norm of every residual block.
        nonlocal_locations: per stage ``[slow, fast]`` block indices followed by a non-local block.
        nonlocal_instantiation: "dot_product" or "softmax".
        nonlocal_pool: per stage ``[t, h, w]`` max-pool of keys / values.
        nonlocal_group: per stage ``[slow, fast]`` groups of the non-local blocks.
        in_channels: input channels (3 for RGB).
    """

    def __init__(
        self,
        *,
        arch: str = "slowfast",
        depth: int = 50,
        num_groups: int = 1,
        width_per_group: int = 64,
        alpha: int = 4,
        beta_inv: int = 8,
        fast_channel_rounding: str = "floor",
        fusion_ratio: int = 2,
        fusion_kernel: int = 7,
        temporal_kernels: dict[str, Sequence[int]] | None = None,
        num_block_temp_kernel: Sequence[Sequence[int]] = ((3, 3), (4, 4), (6, 6), (3, 3)),
        spatial_strides: Sequence[int] = (1, 2, 2, 1),
        spatial_dilations: Sequence[int] = (1, 1, 1, 2),
        stride_in_1x1: bool = False,
        norm: str = "BN",
        zero_init_final_norm: bool = True,
        nonlocal_locations: Sequence[Sequence[Sequence[int]]] = (((), ()),) * 4,
        nonlocal_instantiation: str = "dot_product",
        nonlocal_pool: Sequence = ((1, 2, 2),) * 4,
        nonlocal_group: Sequence[Sequence[int]] = ((1, 1),) * 4,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if depth not in BLOCKS_PER_DEPTH:
            raise ValueError(
                f"MODEL.SLOWFAST.DEPTH must be one of {sorted(BLOCKS_PER_DEPTH)}, got {depth}"
            )
        if fast_channel_rounding not in ("floor", "ceil"):
            raise ValueError(
                "MODEL.SLOWFAST.FAST_CHANNEL_ROUNDING must be 'floor' or 'ceil', got "
                f"{fast_channel_rounding!r}"
            )
        self.pathways = pathways_of(arch)
        self.alpha = alpha
        temporal_kernels = temporal_kernels or {"slow": (1, 1, 1, 3, 3), "fast": (5, 3, 3, 3, 3)}
        fuse = self.pathways == ("slow", "fast")
        divisor = {"slow": 1, "fast": beta_inv}
        index = {"slow": 0, "fast": 1}

        def width(p: str, channels: int) -> int:
            return _divide(channels, divisor[p], fast_channel_rounding)

        out = {p: width(p, width_per_group) for p in self.pathways}
        for p in self.pathways:
            self.add_module(f"{p}_stem", Stem3d(in_channels, out[p], temporal_kernels[p][0], norm))
        if fuse:
            self.lateral_stem = Lateral3d(out["fast"], fusion_ratio, fusion_kernel, alpha, norm)

        stride = 4
        self._fused = [fuse] * 3 + [False]
        for s, stage in enumerate(_STAGES):
            stride *= spatial_strides[s]
            scale = 2**s
            for p in self.pathways:
                in_c = out[p] + (out["fast"] * fusion_ratio if fuse and p == "slow" else 0)
                out_c = width(p, 4 * width_per_group * scale)
                inner_c = width(p, num_groups * width_per_group * scale)
                n_blocks = BLOCKS_PER_DEPTH[depth][s]
                n_temporal = num_block_temp_kernel[s][index[p]]
                nl_at = set(nonlocal_locations[s][index[p]])
                blocks: OrderedDict[str, nn.Module] = OrderedDict()
                for b in range(n_blocks):
                    blocks[str(b)] = Bottleneck3d(
                        in_c if b == 0 else out_c,
                        out_c,
                        inner_c,
                        temporal_kernel=temporal_kernels[p][s + 1] if b < n_temporal else 1,
                        stride=spatial_strides[s] if b == 0 else 1,
                        dilation=spatial_dilations[s],
                        num_groups=num_groups,
                        stride_in_1x1=stride_in_1x1,
                        norm=norm,
                        zero_init_final_norm=zero_init_final_norm,
                    )
                    if b in nl_at:
                        blocks[f"nonlocal{b}"] = NonLocal3d(
                            out_c,
                            pool=tuple(_per_pathway(nonlocal_pool[s], index[p])),
                            instantiation=nonlocal_instantiation,
                            group=nonlocal_group[s][index[p]],
                            norm=norm,
                            zero_init_final_norm=zero_init_final_norm,
                        )
                self.add_module(f"{p}_{stage}", nn.Sequential(blocks))
                out[p] = out_c
            if self._fused[s]:
                self.add_module(
                    f"lateral_{stage}",
                    Lateral3d(out["fast"], fusion_ratio, fusion_kernel, alpha, norm),
                )
        self._out_features = list(self.pathways)
        self._out_feature_channels = {p: out[p] for p in self.pathways}
        self._out_feature_strides = {p: stride for p in self.pathways}

    @property
    def size_divisibility(self) -> int:
        """The total spatial stride (16 for detection, 32 for classification): inputs that are a
        multiple of it give features exactly 1/stride in size, as RoIAlign's spatial scale assumes."""
        return self._out_feature_strides[self.pathways[0]]

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            p: ShapeSpec(
                channels=self._out_feature_channels[p], stride=self._out_feature_strides[p]
            )
            for p in self.pathways
        }

    def forward(self, clips: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [p for p in self.pathways if p not in clips]
        if missing:
            raise KeyError(
                f"SlowFast backbone needs clips for pathways {self.pathways}; missing {missing}"
            )
        x = {p: getattr(self, f"{p}_stem")(clips[p]) for p in self.pathways}
        if len(self.pathways) == 2:
            x["slow"] = torch.cat([x["slow"], self.lateral_stem(x["fast"])], dim=1)
        for s, stage in enumerate(_STAGES):
            x = {p: getattr(self, f"{p}_{stage}")(x[p]) for p in self.pathways}
            if self._fused[s]:
                x["slow"] = torch.cat(
                    [x["slow"], getattr(self, f"lateral_{stage}")(x["fast"])], dim=1
                )
        return x

    def freeze(self, freeze_at: int = 0) -> SlowFast:
        """Freeze the stem (``freeze_at`` >= 1) and res2..res{freeze_at} of every pathway, with the
        laterals that follow them: no gradients and BN turned into FrozenBatchNorm2d."""
        names = ["stem", *_STAGES][: max(freeze_at, 0)]
        for name in names:
            for prefix in (*self.pathways, "lateral"):
                module = getattr(self, f"{prefix}_{name}", None)
                if module is None:
                    continue
                for param in module.parameters():
                    param.requires_grad_(False)
                setattr(
                    self, f"{prefix}_{name}", FrozenBatchNorm2d.convert_frozen_batchnorm(module)
                )
        return self


@BACKBONE_REGISTRY.register()
def build_slowfast_backbone(cfg: CfgNode, input_shape: ShapeSpec | None = None) -> SlowFast:
    """SlowFast / Slow-only / Fast-only backbone from ``cfg.MODEL.SLOWFAST``."""
    c = cfg.MODEL.SLOWFAST
    model = SlowFast(
        arch=c.ARCH,
        depth=c.DEPTH,
        num_groups=c.NUM_GROUPS,
        width_per_group=c.WIDTH_PER_GROUP,
        alpha=c.ALPHA,
        beta_inv=c.BETA_INV,
        fast_channel_rounding=c.FAST_CHANNEL_ROUNDING,
        fusion_ratio=c.FUSION_CONV_CHANNEL_RATIO,
        fusion_kernel=c.FUSION_KERNEL_SIZE,
        temporal_kernels={"slow": c.SLOW_TEMPORAL_KERNELS, "fast": c.FAST_TEMPORAL_KERNELS},
        num_block_temp_kernel=c.NUM_BLOCK_TEMP_KERNEL,
        spatial_strides=c.SPATIAL_STRIDES,
        spatial_dilations=c.SPATIAL_DILATIONS,
        stride_in_1x1=c.STRIDE_1X1,
        norm=c.NORM,
        zero_init_final_norm=c.ZERO_INIT_FINAL_BN,
        nonlocal_locations=c.NONLOCAL.LOCATIONS,
        nonlocal_instantiation=c.NONLOCAL.INSTANTIATION,
        nonlocal_pool=c.NONLOCAL.POOL,
        nonlocal_group=c.NONLOCAL.GROUP,
        in_channels=3 if input_shape is None else input_shape.channels,
    )
    return model.freeze(c.FREEZE_AT)
