"""The demo on any video: person boxes, per-person actions, an annotated video, a CSV and JSONs.

Importing registers the ``"demo_buffer"`` frame source (the streaming frame buffer).
"""

from .api import VideoActionPredictor, config_action_names
from .box_providers import BoxProvider, CSVBoxProvider, DatasetBoxProvider, check_timestamps_match
from .drawing import DrawStyle, draw_persons, place_labels, top_actions, track_colour
from .frame_buffer import BUFFER_SOURCE, FrameRingBuffer
from .outputs import AnnotatedVideoWriter, KeyframeResult, detections_table, write_detections_csv
from .person_detector import PersonDetector, build_person_detector_cfg, person_boxes
from .predictor import ActionPredictor, build_cfg, load_detector
from .schedule import clip_extent, keyframe_times, parse_every
from .tracking import TRACKER_METHODS, PersonTracker
from .tracks_output import Track, action_segments, build_tracks, tracks_payload
from .video_demo import DemoSummary, iter_keyframes, open_video, run_video_demo

__all__ = [
    "BUFFER_SOURCE",
    "TRACKER_METHODS",
    "VideoActionPredictor",
    "config_action_names",
    "PersonTracker",
    "Track",
    "action_segments",
    "build_tracks",
    "check_timestamps_match",
    "iter_keyframes",
    "place_labels",
    "track_colour",
    "tracks_payload",
    "write_detections_csv",
    "ActionPredictor",
    "AnnotatedVideoWriter",
    "BoxProvider",
    "CSVBoxProvider",
    "DatasetBoxProvider",
    "DemoSummary",
    "DrawStyle",
    "FrameRingBuffer",
    "KeyframeResult",
    "PersonDetector",
    "build_cfg",
    "build_person_detector_cfg",
    "clip_extent",
    "detections_table",
    "draw_persons",
    "keyframe_times",
    "load_detector",
    "open_video",
    "parse_every",
    "person_boxes",
    "run_video_demo",
    "top_actions",
]
