"""Export of the action model (backbone + head on clip tensors and boxes) to TorchScript and ONNX."""
