"""Write an :class:`ActionModel` as TorchScript (tracing) or ONNX, and run the exported files back.

RoIAlign is torchvision's ``roi_align``; torchvision registers its ONNX symbolic, which maps
``aligned=True`` (half-pixel, Detectron2's ``ROIAlignV2``) to ONNX ``RoiAlign``'s
``coordinate_transformation_mode="half_pixel"`` only from opset 16 on; below that the aligned flag
cannot be expressed, so :func:`export_onnx` refuses opsets < 16 for aligned models instead of
writing a model that silently shifts every box by half a pixel. The legacy (TorchScript-based) ONNX
exporter is used: the dynamo exporter needs ``onnxscript``, which this project does not install.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from detectron2.layers import ROIAlign
from torch import nn

from ava_detector.utils.atomic_files import atomic_output

__all__ = [
    "MIN_ALIGNED_OPSET",
    "export_onnx",
    "export_torchscript",
    "max_abs_diff",
    "run_onnx",
    "run_torchscript",
]

#: First ONNX opset whose RoiAlign has ``coordinate_transformation_mode`` (half-pixel boxes).
MIN_ALIGNED_OPSET = 16


def _uses_aligned_roi_align(model: nn.Module) -> bool:
    return any(isinstance(m, ROIAlign) and m.aligned for m in model.modules())


def export_torchscript(model: nn.Module, inputs: Sequence[torch.Tensor], path: str | Path) -> Path:
    """Trace ``model`` (eval mode) on ``inputs`` and save it to ``path`` atomically.

    The trace has no data-dependent control flow, so other clip sizes and box counts run through
    the same graph (checked in the tests).
    """
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter(
            "ignore", FutureWarning
        )  # "torch.jit is deprecated" (still supported)
        traced = torch.jit.trace(model, tuple(inputs), check_trace=False)
        with atomic_output(path) as tmp:
            torch.jit.save(traced, str(tmp))
    return Path(path)


def export_onnx(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    path: str | Path,
    *,
    input_names: Sequence[str],
    opset: int = 17,
) -> Path:
    """Export ``model`` to ONNX at ``path`` (atomically) with dynamic batch, height, width and box count.

    Raises ``ValueError`` for ``opset`` < 16 when the model uses aligned RoIAlign (see module doc).
    """
    if opset < MIN_ALIGNED_OPSET and _uses_aligned_roi_align(model):
        raise ValueError(
            f"RoIAlign with aligned=True (MODEL.ROI_ACTION_HEAD.ALIGNED) needs ONNX opset >= "
            f"{MIN_ALIGNED_OPSET} (RoiAlign coordinate_transformation_mode); got opset {opset}"
        )
    names = list(input_names)
    dynamic = {n: {0: "batch", 3: "height", 4: "width"} for n in names[:-1]}
    dynamic[names[-1]] = {0: "boxes"}
    dynamic["scores"] = {0: "boxes"}
    model = model.eval()
    with atomic_output(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(inputs),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=names,
            output_names=["scores"],
            dynamic_axes=dynamic,
        )
    return Path(path)


def run_torchscript(path: str | Path, inputs: Sequence[torch.Tensor]) -> np.ndarray:
    """Outputs of a saved TorchScript model on ``inputs`` (CPU)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(*inputs).numpy()


def run_onnx(path: str | Path, inputs: Sequence[torch.Tensor]) -> np.ndarray:
    """Outputs of an ONNX model on ``inputs`` with onnxruntime (CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: t.detach().cpu().numpy() for i, t in zip(session.get_inputs(), inputs)}
    return session.run(None, feed)[0]


def max_abs_diff(model: nn.Module, inputs: Sequence[torch.Tensor], exported: np.ndarray) -> float:
    """Largest absolute difference between the eager ``model``'s outputs and ``exported``."""
    with torch.no_grad():
        eager = model.eval()(*inputs).cpu().numpy()
    if eager.shape != exported.shape:
        raise ValueError(f"exported output shape {exported.shape} != eager {eager.shape}")
    return float(np.abs(eager - exported).max(initial=0.0))
