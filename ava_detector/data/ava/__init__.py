"""AVA readers (annotations, proposals, exclusions, frame lists, label maps) and dataset registration.

Importing this package registers the built-in dataset names (lazily: nothing is read until loaded).
"""

from .boxes import records_for_cfg, select_boxes, subsample_seconds
from .builtin import (
    register_all_ava,
    register_ava_from_cfg,
    register_synthetic_ava,
    resolve_ava_root,
    resolve_synthetic_root,
)
from .csv_formats import (
    parse_annotations,
    parse_exclusions,
    parse_proposals,
    read_annotations,
    read_exclusions,
    read_proposals,
)
from .frame_lists import format_frame_list, parse_frame_list, read_frame_list
from .label_map import LabelMap, parse_label_map, read_label_map
from .records import build_records, label_proposals, merge_gt_boxes, pairwise_iou
from .register import (
    AVAFiles,
    ava_layout,
    ava_metadata,
    load_ava_records,
    read_dataset_json,
    register_ava,
)

__all__ = [
    "AVAFiles", "LabelMap", "ava_layout", "ava_metadata", "build_records", "format_frame_list",
    "label_proposals", "load_ava_records", "merge_gt_boxes", "pairwise_iou", "parse_annotations",
    "parse_exclusions", "parse_frame_list", "parse_label_map", "parse_proposals", "read_annotations",
    "read_dataset_json", "read_exclusions", "read_frame_list", "read_label_map", "read_proposals",
    "records_for_cfg", "register_all_ava", "register_ava", "register_ava_from_cfg",
    "register_synthetic_ava", "resolve_ava_root", "resolve_synthetic_root", "select_boxes",
    "subsample_seconds",
]
