"""Annotation-tool exports (CVAT for video 1.1, Label Studio, VIA 3) <-> the AVA-format dataset layout.

``tracks``: the common in-memory form; ``cvat`` / ``label_studio`` / ``via``: the readers;
``mapping``: labels / attributes -> actions; ``ava_writer``: keyframe sampling and the AVA files;
``ava_reader``: AVA CSVs back to tracks; ``export``: tracks -> CVAT XML / Label Studio predictions.
"""

from .ava_writer import build_ava_tables, split_videos, write_ava_dataset
from .cvat import parse_cvat_video
from .label_studio import parse_label_studio
from .mapping import ActionMapping, load_mapping, mapping_from_dict
from .tracks import FrameBox, ImportResult, Track, VideoAnnotations, box_at
from .via import parse_via3

__all__ = [
    "ActionMapping", "FrameBox", "ImportResult", "Track", "VideoAnnotations", "box_at",
    "build_ava_tables", "load_mapping", "mapping_from_dict", "parse_cvat_video", "parse_label_studio",
    "parse_via3", "split_videos", "write_ava_dataset",
]
