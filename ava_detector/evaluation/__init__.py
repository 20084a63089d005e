"""Evaluation: AVA frame mAP (pure NumPy), CSV I/O, the Detectron2 ``AVAEvaluator`` and reports."""

from .csv_io import read_ava_csv, write_ava_csv
from .evaluate_files import evaluate_files
from .frame_map import PROTOCOLS, AVABoxes, FrameMAPResult, frame_map, prune_detections

__all__ = [
    "PROTOCOLS",
    "AVABoxes",
    "FrameMAPResult",
    "evaluate_files",
    "frame_map",
    "prune_detections",
    "read_ava_csv",
    "write_ava_csv",
]
