"""Building blocks of a SlowFast ResNet-3D pathway: stem, bottleneck block and the Fast->Slow lateral."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fvcore.nn import weight_init
from torch import nn

from ava_detector.modeling.backbone.conv3d import (
    Conv3d,
    make_norm,
)


class Stem3d(nn.Module):
    """conv kT x 7 x 7 (spatial stride 2) -> norm -> ReLU -> max pool 1 x 3 x 3 (spatial stride 2)."""

    def __init__(
        self, in_channels: int, out_channels: int, temporal_kernel: int, norm: str = "BN"
    ) -> None:
        super().__init__()
        self.conv1 = Conv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
            norm=make_norm(norm, out_channels),
            activation=F.relu_,
        )
        self.out_channels = out_channels
        self.stride = 4
        weight_init.c2_msra_fill(self.conv1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return F.max_pool3d(x, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


class Bottleneck3d(nn.Module):
    """ResNet bottleneck in 3D: conv kT x 1 x 1 -> conv 1 x 3 x 3 (stride, dilation, groups) -> conv 1 x 1 x 1.

    The temporal kernel sits on the first conv only (the paper's "non-degenerate" convs); the
    spatial stride sits on the 3 x 3 conv unless ``stride_in_1x1`` (Caffe2 MSRA style).

    Args:
        in_channels: channels of the input (N, C_in, T, H, W).
        out_channels: channels of the output (N, C_out, T, H / stride, W / stride).
        bottleneck_channels: channels of the inner convs.
        temporal_kernel: temporal size kT of the first conv (1: purely spatial block).
        stride: spatial stride (also of the projection shortcut).
        dilation: spatial dilation of the 3 x 3 conv.
        num_groups: groups of the 3 x 3 conv (1 = ResNet, > 1 = ResNeXt).
        stride_in_1x1: put the spatial stride on the first conv instead of the 3 x 3 one.
        norm: Detectron2 norm name (``get_norm``: "BN", "FrozenBN", "SyncBN", "GN", ...).
        zero_init_final_norm: zero-initialise the last norm's weight (the block starts as the
            shortcut).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck_channels: int,
        *,
        temporal_kernel: int = 1,
        stride: int = 1,
        dilation: int = 1,
        num_groups: int = 1,
        stride_in_1x1: bool = False,
        norm: str = "BN",
        zero_init_final_norm: bool = True,
    ) -> None:
        super().__init__()
        self.shortcut: Conv3d | None
        if in_channels != out_channels or stride != 1:
            self.shortcut = Conv3d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=(1, stride, stride),
                bias=False,
                norm=make_norm(norm, out_channels),
            )
        else:
            self.shortcut = None
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv3d(
            in_channels,
            bottleneck_channels,
            kernel_size=(temporal_kernel, 1, 1),
            stride=(1, stride_1x1, stride_1x1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
            norm=make_norm(norm, bottleneck_channels),
            activation=F.relu_,
        )
        self.conv2 = Conv3d(
            bottleneck_channels,
            bottleneck_channels,
            kernel_size=(1, 3, 3),
            stride=(1, stride_3x3, stride_3x3),
            padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation),
            groups=num_groups,
            bias=False,
            norm=make_norm(norm, bottleneck_channels),
            activation=F.relu_,
        )
        self.conv3 = Conv3d(
            bottleneck_channels,
            out_channels,
            kernel_size=1,
            bias=False,
            norm=make_norm(norm, out_channels),
        )
        for conv in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if conv is not None:
                weight_init.c2_msra_fill(conv)
        final_weight = getattr(self.conv3.norm, "weight", None)
        if zero_init_final_norm and isinstance(final_weight, torch.Tensor):
            nn.init.zeros_(final_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out + shortcut)


class Lateral3d(Conv3d):
    """Fast->Slow lateral: time-strided conv k x 1 x 1 (stride alpha) -> norm -> ReLU, output ``ratio`` x C_fast.

    The caller concatenates its output after the Slow channels.

    Args:
        fast_channels: channels C_fast of the Fast features (N, C_fast, T_fast, H, W).
        ratio: output channels per Fast channel (``MODEL.SLOWFAST.FUSION_CONV_CHANNEL_RATIO``).
        kernel: temporal kernel size k (``MODEL.SLOWFAST.FUSION_KERNEL_SIZE``).
        alpha: the temporal stride, T_fast / T_slow.
        norm: Detectron2 norm name (``get_norm``).
    """

    def __init__(
        self, fast_channels: int, ratio: int, kernel: int, alpha: int, norm: str = "BN"
    ) -> None:
        out_channels = fast_channels * ratio
        super().__init__(
            fast_channels,
            out_channels,
            kernel_size=(kernel, 1, 1),
            stride=(alpha, 1, 1),
            padding=(kernel // 2, 0, 0),
            bias=False,
            norm=make_norm(norm, out_channels),
            activation=F.relu_,
        )
        weight_init.c2_msra_fill(self)
