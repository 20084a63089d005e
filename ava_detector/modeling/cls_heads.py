"""``CLS_HEAD_REGISTRY``: the video classification heads (clip features -> class scores).

A task registers its head builder ``fn(cfg, input_shape) -> nn.Module`` under a name;
``MODEL.CLS_HEAD.NAME`` picks it (the Kinetics task registers ``"build_kinetics_head"``, imported by
``ava_detector.builtin_models``).
"""

from __future__ import annotations

from typing import Protocol

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.utils.registry import Registry

__all__ = ["CLS_HEAD_REGISTRY", "ClsHead", "build_cls_head"]

CLS_HEAD_REGISTRY = Registry("CLS_HEAD")
CLS_HEAD_REGISTRY.__doc__ = """
Video classification heads: ``fn(cfg, input_shape: dict[str, ShapeSpec]) -> nn.Module`` whose
``forward(features)`` gives ``(N, C)`` logits in training and probabilities at inference, and
``position_logits(features)`` the ``(N, T', H', W', C)`` logits before averaging.
"""


class ClsHead(Protocol):
    """What a ``CLS_HEAD_REGISTRY`` builder returns: an ``nn.Module`` with these two calls."""

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (N, C) in training, probabilities (N, C) at inference.

        Args:
            features: the backbone's output, ``{pathway: (N, C_p, T_p, H, W)}``.
        """
        ...

    def position_logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits at every pooled position, (N, T', H', W', C), before averaging.

        Args:
            features: the backbone's output, ``{pathway: (N, C_p, T_p, H, W)}``.
        """
        ...


def build_cls_head(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> ClsHead:
    """The classification head ``MODEL.CLS_HEAD.NAME`` for backbone features of ``input_shape``.

    Args:
        cfg: the config (``MODEL.CLS_HEAD.*``).
        input_shape: the backbone's ``output_shape()``, per pathway.
    """
    return CLS_HEAD_REGISTRY.get(cfg.MODEL.CLS_HEAD.NAME)(cfg, input_shape)
