"""Export of the action model (backbone + head on clip tensors and boxes) to TorchScript and ONNX."""

from .action_model import ActionModel, example_inputs
from .exporters import (
    MIN_ALIGNED_OPSET,
    export_onnx,
    export_torchscript,
    max_abs_diff,
    run_onnx,
    run_torchscript,
)

__all__ = [
    "MIN_ALIGNED_OPSET",
    "ActionModel",
    "example_inputs",
    "export_onnx",
    "export_torchscript",
    "max_abs_diff",
    "run_onnx",
    "run_torchscript",
]
