"""Checkpoint import: PySlowFast (.pyth) and Caffe2 (.pkl) weights and configs -> ava_detector, safely."""

from .atomic import atomic_open, atomic_write_text, remove_stray_temporaries
from .checkpointer import (
    AVACheckpointer,
    SafeDetectionCheckpointer,
    checkpoint_problem,
    name_prefixes,
)
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
from .safe_load import (
    CheckpointError,
    RestrictedUnpickler,
    UnsafeCheckpointError,
    load_checkpoint_file,
    safe_unpickle,
)

__all__ = [
    "AVACheckpointer",
    "CheckpointError",
    "ConversionResult",
    "RestrictedUnpickler",
    "SafeDetectionCheckpointer",
    "UnsafeCheckpointError",
    "atomic_open",
    "atomic_write_text",
    "checkpoint_problem",
    "caffe2_to_pyslowfast",
    "convert_any",
    "convert_caffe2",
    "convert_pyslowfast",
    "detect_format",
    "load_checkpoint_file",
    "name_prefixes",
    "pyslowfast_to_ours",
    "remove_stray_temporaries",
    "safe_unpickle",
    "split_backbone",
    "translate_pyslowfast_cfg",
    "write_config",
]
