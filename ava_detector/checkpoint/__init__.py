"""Checkpoint import: PySlowFast (.pyth) and Caffe2 (.pkl) weights and configs -> ava_detector, safely."""

from .checkpointer import AVACheckpointer, name_prefixes
from .convert import (
    ConversionResult,
    convert_any,
    convert_caffe2,
    convert_pyslowfast,
    detect_format,
    split_backbone,
)
from .names import caffe2_to_pyslowfast, pyslowfast_to_ours
from .pyslowfast_config import translate_pyslowfast_cfg, write_config
from .safe_load import RestrictedUnpickler, load_checkpoint_file, safe_unpickle

__all__ = [
    "AVACheckpointer",
    "ConversionResult",
    "RestrictedUnpickler",
    "caffe2_to_pyslowfast",
    "convert_any",
    "convert_caffe2",
    "convert_pyslowfast",
    "detect_format",
    "load_checkpoint_file",
    "name_prefixes",
    "pyslowfast_to_ours",
    "safe_unpickle",
    "split_backbone",
    "translate_pyslowfast_cfg",
    "write_config",
]
