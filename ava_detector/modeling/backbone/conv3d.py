"""A 3D convolution with an optional Detectron2 norm layer and activation (``detectron2.layers.Conv2d`` in 3D)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from detectron2.layers import get_norm
from torch import nn


def make_norm(norm: str | Callable[[int], nn.Module] | None, channels: int) -> nn.Module | None:
    """``detectron2.layers.get_norm`` (BN / FrozenBN / SyncBN / GN ...); eps 1e-5 as PySlowFast."""
    return get_norm(norm, channels)


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` followed by ``norm`` and ``activation``.

    Detectron2's norms are 2D modules (``BatchNorm2d``, ``FrozenBatchNorm2d``, ...): the 5-D output
    (N, C, T, H, W) is normalised as the 4-D view (N, C, T*H, W), which has the same per-channel
    statistics, so every ``get_norm`` choice works unchanged and keeps its state-dict names.
    """

    def __init__(
        self,
        *args: Any,
        norm: nn.Module | None = None,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm is not None:
            n, c, t, h, w = x.shape
            x = self.norm(x.reshape(n, c, t * h, w)).reshape(n, c, t, h, w)
        if self.activation is not None:
            x = self.activation(x)
        return x
