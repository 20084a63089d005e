"""Evaluation: AVA frame mAP (pure NumPy), CSV I/O, the Detectron2 ``AVAEvaluator`` and reports."""

from .ava_evaluation import AVAEvaluator, merge_keyframe_predictions
from .csv_io import read_ava_csv, write_ava_csv
from .evaluate_files import evaluate_files
from .frame_map import PROTOCOLS, AVABoxes, DetectionPruner, FrameMAPResult, frame_map
from .report import format_table, group_map, save_bar_chart

__all__ = [
    "PROTOCOLS",
    "AVABoxes",
    "AVAEvaluator",
    "DetectionPruner",
    "FrameMAPResult",
    "evaluate_files",
    "format_table",
    "frame_map",
    "group_map",
    "merge_keyframe_predictions",
    "read_ava_csv",
    "save_bar_chart",
    "write_ava_csv",
]
