"""Non-local block (Wang et al. 2018) in its dot-product and embedded-Gaussian (softmax) forms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fvcore.nn import weight_init
from torch import nn

from ava_detector.modeling.backbone.conv3d import (
    Conv3d,
    make_norm,
)


class NonLocal3d(nn.Module):
    """x + norm(out(f(theta(x), phi(pool(x))) g(pool(x)))), with inner width C/2.

    ``instantiation``: "dot_product" divides the affinity by the number of key positions;
    "softmax" scales by C_inner^-0.5 and normalises over keys. The final norm is zero-initialised
    when ``zero_init_final_norm`` so the block starts as the identity. ``group`` > 1 splits the
    clip into that many equal time chunks attended to separately (PySlowFast NONLOCAL.GROUP).

    Args:
        channels: channels C of the input and output (N, C, T, H, W).
        pool: max-pool window (t, h, w) of the keys and values (all 1: no pooling).
        instantiation: "dot_product" or "softmax".
        group: time chunks attended to separately (T must be a multiple of it).
        norm: Detectron2 norm name of the final norm (``get_norm``).
        zero_init_final_norm: zero-initialise the final norm's weight (the block starts as the
            identity).
    """

    def __init__(
        self,
        channels: int,
        *,
        pool: tuple[int, int, int] = (1, 2, 2),
        instantiation: str = "dot_product",
        group: int = 1,
        norm: str = "BN",
        zero_init_final_norm: bool = True,
    ) -> None:
        super().__init__()
        if instantiation not in ("dot_product", "softmax"):
            raise ValueError(f"unknown non-local instantiation {instantiation!r}")
        inner = channels // 2
        self.instantiation = instantiation
        self.group = int(group)
        self.inner_channels = inner
        self.pool = tuple(int(p) for p in pool) if any(int(p) > 1 for p in pool) else None
        self.theta = Conv3d(channels, inner, kernel_size=1)
        self.phi = Conv3d(channels, inner, kernel_size=1)
        self.g = Conv3d(channels, inner, kernel_size=1)
        self.out = Conv3d(inner, channels, kernel_size=1, norm=make_norm(norm, channels))
        for conv in (self.theta, self.phi, self.g, self.out):
            weight_init.c2_msra_fill(conv)
        final_weight = getattr(self.out.norm, "weight", None)
        if zero_init_final_norm and isinstance(final_weight, torch.Tensor):
            nn.init.zeros_(final_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.group == 1:
            return self._attend(x)
        n, c, t, h, w = x.shape
        chunks = x.transpose(1, 2).reshape(n * self.group, t // self.group, c, h, w).transpose(1, 2)
        y = self._attend(chunks).transpose(1, 2).reshape(n, t, c, h, w)
        return y.transpose(1, 2)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2)
        kv = x if self.pool is None else F.max_pool3d(x, kernel_size=self.pool, stride=self.pool)
        phi = self.phi(kv).flatten(2)
        g = self.g(kv).flatten(2)
        affinity = torch.einsum("nct,ncp->ntp", theta, phi)
        if self.instantiation == "softmax":
            affinity = (affinity * self.inner_channels**-0.5).softmax(dim=2)
        else:
            affinity = affinity / affinity.shape[2]
        y = torch.einsum("ntp,ncp->nct", affinity, g).reshape(n, self.inner_channels, t, h, w)
        return x + self.out(y)
