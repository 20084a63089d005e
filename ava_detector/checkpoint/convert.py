"""Pure conversion of PySlowFast / Caffe2 weights into an ava_detector state dict, with a report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ava_detector.checkpoint.names import (
    caffe2_to_pyslowfast,
    is_classifier_name,
    pyslowfast_to_ours,
)

__all__ = [
    "ConversionResult",
    "detect_format",
    "convert_pyslowfast",
    "convert_caffe2",
    "convert_any",
    "split_backbone",
]


@dataclass
class ConversionResult:
    """Mapped tensors under our names, and the source names that could not be mapped (with why)."""

    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)
    source_format: str = ""
    pyslowfast_cfg: str | None = None


def detect_format(obj: Any) -> str:
    """ "pyslowfast" (``model_state``), "caffe2" (``blobs``), "detectron2" (``model``) or "state_dict"."""
    if isinstance(obj, Mapping):
        if "model_state" in obj:
            return "pyslowfast"
        if "blobs" in obj:
            return "caffe2"
        if "model" in obj:
            return "detectron2"
        if obj and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values()):
            return "state_dict"
    raise ValueError("not a checkpoint: expected a dict with model_state, blobs or model")


def convert_pyslowfast(
    state: Mapping[str, Any], backbone_prefix: str = "backbone.", head_prefix: str = "roi_heads."
) -> ConversionResult:
    """Rename a PySlowFast state dict; names without a counterpart go to ``unmapped``."""
    out = ConversionResult(source_format="pyslowfast")
    for name, value in state.items():
        ours = pyslowfast_to_ours(name, backbone_prefix, head_prefix)
        if ours is None:
            out.unmapped[name] = "no ava_detector counterpart"
        else:
            out.state_dict[ours] = (
                torch.as_tensor(np.asarray(value)) if isinstance(value, np.ndarray) else value
            )
    return out


def convert_caffe2(
    blobs: Mapping[str, Any], backbone_prefix: str = "backbone.", head_prefix: str = "roi_heads."
) -> ConversionResult:
    """Caffe2 blobs -> PySlowFast names -> ours; non-weight blobs (momentum, lr, ...) go to ``unmapped``."""
    renamed: dict[str, Any] = {}
    unmapped: dict[str, str] = {}
    for blob, value in blobs.items():
        name = caffe2_to_pyslowfast(blob)
        if name is None:
            unmapped[blob] = "not a weight blob"
        else:
            renamed[name] = torch.from_numpy(np.ascontiguousarray(value))
    out = convert_pyslowfast(renamed, backbone_prefix, head_prefix)
    out.unmapped.update(unmapped)
    out.source_format = "caffe2"
    return out


def convert_any(
    obj: Any, backbone_prefix: str = "backbone.", head_prefix: str = "roi_heads."
) -> ConversionResult:
    """Convert a loaded checkpoint of any supported format (Detectron2 ones pass through)."""
    fmt = detect_format(obj)
    if fmt == "pyslowfast":
        out = convert_pyslowfast(obj["model_state"], backbone_prefix, head_prefix)
        cfg = obj.get("cfg")
        out.pyslowfast_cfg = cfg if isinstance(cfg, str) else None
        return out
    if fmt == "caffe2":
        return convert_caffe2(obj["blobs"], backbone_prefix, head_prefix)
    state = obj["model"] if fmt == "detectron2" else obj
    return ConversionResult(state_dict=dict(state), source_format=fmt)


def split_backbone(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Keep everything but the classifier; return (kept, skipped classifier names)."""
    kept = {k: v for k, v in state.items() if not is_classifier_name(k)}
    return kept, sorted(k for k in state if is_classifier_name(k))
