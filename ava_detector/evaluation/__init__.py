"""Evaluation: AVA frame mAP (pure NumPy), CSV I/O, the Detectron2 ``AVAEvaluator`` and reports.

Names are exported lazily: the metric and CSV readers import without torch.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        ".ava_evaluation": ["AVAEvaluator", "merge_keyframe_predictions"],
        ".csv_io": ["read_ava_csv", "write_ava_csv"],
        ".evaluate_files": ["evaluate_files"],
        ".frame_map": ["PROTOCOLS", "AVABoxes", "DetectionPruner", "FrameMAPResult", "frame_map"],
        ".report": ["format_table", "group_map", "save_bar_chart"],
    },
)
