"""AVA readers (annotations, proposals, exclusions, frame lists, label maps) and dataset registration.

Names are exported lazily (see ``ava_detector._lazy``); ``ava_detector.data.ava.builtin`` registers the
built-in dataset names (lazily: nothing is read until a dataset is loaded).
"""

from ..._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        ".boxes": [
            "records_for_cfg",
            "select_boxes",
            "subsample_seconds",
        ],
        ".builtin": [
            "register_all_ava",
            "register_ava_from_cfg",
            "register_synthetic_ava",
            "resolve_ava_root",
            "resolve_synthetic_root",
        ],
        ".csv_formats": [
            "parse_annotations",
            "parse_exclusions",
            "parse_proposals",
            "read_annotations",
            "read_exclusions",
            "read_proposals",
        ],
        ".frame_lists": [
            "format_frame_list",
            "parse_frame_list",
            "read_frame_list",
        ],
        ".label_map": [
            "LabelMap",
            "parse_label_map",
            "read_label_map",
        ],
        ".records": [
            "build_records",
            "label_proposals",
            "merge_gt_boxes",
            "pairwise_iou",
        ],
        ".register": [
            "AVAFiles",
            "ava_layout",
            "ava_metadata",
            "load_ava_records",
            "read_dataset_json",
            "register_ava",
        ],
    },
)
