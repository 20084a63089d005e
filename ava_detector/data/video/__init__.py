"""Frame sources (JPEG folders, PyAV videos) behind one interface, and clip sampling."""

from .frame_source import (
    FRAME_SOURCE_REGISTRY,
    FrameSource,
    build_frame_source,
    frame_source_options,
    keyframe_time,
    register_frame_source,
    sample_clip,
)
from .jpeg_source import JpegFrameSource, read_rgb
from .pyav_source import VIDEO_CACHE, PyAVVideoSource, VideoCache, frame_to_rgb
from .sampling import clip_indices, clip_times, frame_at_times, pathway_indices

__all__ = [
    "FRAME_SOURCE_REGISTRY",
    "FrameSource",
    "JpegFrameSource",
    "PyAVVideoSource",
    "VIDEO_CACHE",
    "VideoCache",
    "build_frame_source",
    "clip_indices",
    "clip_times",
    "frame_at_times",
    "frame_source_options",
    "frame_to_rgb",
    "keyframe_time",
    "pathway_indices",
    "read_rgb",
    "register_frame_source",
    "sample_clip",
]
