"""One interface for where frames come from: ``FrameSource`` and the registry that builds one per record.

A source answers "which frames are shown at these times" as a uint8 ``(T, H, W, 3)`` RGB array. JPEG
folders (:class:`JpegFrameSource`) and video files (:class:`PyAVVideoSource`) implement it, so AVA
keyframes and Kinetics clips go through the same :func:`sample_clip`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from detectron2.config import CfgNode
from detectron2.utils.registry import Registry

from ava_detector.data.video.sampling import clip_times

FRAME_SOURCE_REGISTRY = Registry("FRAME_SOURCE")
_F = TypeVar("_F", bound=Callable[..., "FrameSource"])
#: The built-in sources and the modules that register them, imported on first use.
BUILTIN_FRAME_SOURCES = {
    "frames": "ava_detector.data.video.jpeg_source",
    "video": "ava_detector.data.video.pyav_source",
}
FRAME_SOURCE_REGISTRY.__doc__ = """
Builders ``fn(record: dict) -> FrameSource``, registered under the name used by ``INPUT.SOURCE``
("frames", "video"). A record is a dataset dict of docs/interfaces.md.
"""


def register_frame_source(name: str) -> Callable[[_F], _F]:
    """Decorator: register a builder ``fn(record) -> FrameSource`` under the ``INPUT.SOURCE`` value
    ``name`` (fvcore registries key by ``__name__``; these keys are config values instead)."""

    def deco(fn: _F) -> _F:
        FRAME_SOURCE_REGISTRY._do_register(name, fn)
        return fn

    return deco


@runtime_checkable
class LazyClip(Protocol):
    """A ``(T, H, W, 3)`` uint8 clip whose pixels are computed when read (what
    :meth:`FrameSource.read_clip_lazy` may return; e.g. :class:`~.yuv_frames.YUVClip`).
    :class:`~ava_detector.data.transforms.clip_input.ClipAugInput` reads only what its transforms
    need: ``region`` for a training scale-crop, ``clip[i]`` for a whole-frame resize,
    ``to_array()`` for anything else."""

    shape: tuple[int, int, int, int]
    ndim: int
    dtype: np.dtype

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray:
        """Frame ``i``, ``(H, W, 3)``."""
        ...

    def region(self, i: int, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """``clip[i][y0 : y0 + h, x0 : x0 + w]`` (clamped to the frame as slicing is)."""
        ...

    def to_array(self) -> np.ndarray:
        """The whole clip, ``(T, H, W, 3)``."""
        ...


class FrameSource(ABC):
    """Frames of one video on a timeline that starts at time 0 (the first frame)."""

    #: where the frames come from (a folder's first frame or the video file), for messages
    path: str

    @property
    @abstractmethod
    def duration(self) -> float:
        """Seconds from the first frame's start to the end of the last frame."""

    @abstractmethod
    def read_times(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """The frame displayed at each time (clamped to the video), uint8 ``(T, H, W, 3)`` RGB.

        Raises :class:`~ava_detector.data.InputFileError` naming the file on a missing or corrupt
        frame / undecodable video.
        """

    def read_clip(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> np.ndarray:
        """``num_frames`` frames ``stride`` frames of a ``target_fps`` timeline apart around
        ``center_time`` (see :func:`~ava_detector.data.video.sampling.clip_times`)."""
        return self.read_times(
            clip_times(center_time, num_frames, stride, target_fps, self.duration)
        )

    def read_clip_lazy(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> np.ndarray | LazyClip:
        """The clip of :meth:`read_clip`, or a :class:`LazyClip` of it whose pixels are computed
        when read; by default the array itself."""
        return self.read_clip(center_time, num_frames, stride, target_fps)


def sample_clip(
    source: FrameSource,
    center_time: float,
    num_frames: int,
    stride: int,
    target_fps: float = 30.0,
) -> np.ndarray:
    """A clip of ``num_frames`` frames at ``stride`` (in ``target_fps`` frames) centred on
    ``center_time`` seconds of ``source``: the one helper the AVA and Kinetics mappers share.

    For a clip that *starts* at time ``t0``, pass ``center_time = t0 + num_frames * stride / 2 /
    target_fps``.
    """
    return source.read_clip(center_time, num_frames, stride, target_fps)


def build_frame_source(name: str, record: dict, **options: Any) -> FrameSource:
    """The frame source ``name`` (``INPUT.SOURCE``) for a dataset record.

    Args:
        name: the registered source name.
        record: the dataset record.
        options: keyword options of that source's builder (see :func:`frame_source_options`).
    """
    if name in BUILTIN_FRAME_SOURCES and name not in FRAME_SOURCE_REGISTRY:
        importlib.import_module(BUILTIN_FRAME_SOURCES[name])
    return FRAME_SOURCE_REGISTRY.get(name)(record, **options)


def frame_source_names() -> list[str]:
    """The names ``INPUT.SOURCE`` may take: the built-in sources and every registered one."""
    return sorted(set(BUILTIN_FRAME_SOURCES) | {name for name, _ in FRAME_SOURCE_REGISTRY})


def frame_source_options(cfg: CfgNode, name: str) -> dict:
    """Builder options of source ``name`` from a config: with ``INPUT.JPEG_REDUCED_DECODE`` the
    JPEG source decodes at a reduced size that keeps the largest short side the transforms scale
    to (``max(INPUT.TRAIN_JITTER_SCALES[1], INPUT.TEST_SHORT_SIDE)``)."""
    if name == "frames" and cfg.INPUT.get("JPEG_REDUCED_DECODE", False):
        return {
            "min_short_side": int(max(cfg.INPUT.TRAIN_JITTER_SCALES[1], cfg.INPUT.TEST_SHORT_SIDE))
        }
    return {}


def keyframe_time(record: dict, source_name: str) -> float:
    """Seconds from the first frame of source ``source_name`` to the record's keyframe.

    The frame timeline uses the record's keyframe index (``keyframe_index / fps``), so the JPEG source
    reads exactly that frame; a video uses ``sec - start_sec`` and its own timestamps.
    """
    if source_name == "frames" and "keyframe_index" in record:
        return float(record["keyframe_index"]) / float(record["fps"])
    return float(record["sec"]) - float(record.get("start_sec", 0.0))
