"""``KineticsDatasetMapper``: one Kinetics record (or test view) -> the classifier's input.

Train: a clip of ``NUM_FRAMES`` frames at ``SAMPLING_RATE`` on a ``TARGET_FPS`` timeline starting at
a uniformly random time, then the SlowFast clip augmentations (short-side jitter, random crop, flip,
optional colour jitter). Test (records from :func:`~.views.expand_test_views`): clip ``clip_index`` of
``KINETICS.TEST_NUM_CLIPS`` uniformly spaced ones, short side ``INPUT.TEST_SHORT_SIDE``, then the
``crop_index``-th square crop of that size. Frames are decoded through the project's frame sources.

Pathways: SlowFast = the Fast clip and ``fast[:, linspace(0, N-1, N // ALPHA)]``; Slow-only /
Fast-only = the clip itself (PySlowFast's Kinetics convention: a Slow-only 8x8 reads 8 frames at
stride 8).

Skip policy: an undecodable video, or one shorter than ``KINETICS.MIN_CLIP_COVERAGE`` x the clip span,
is never turned into a clip. In training with ``DATALOADER.SKIP_BAD_SAMPLES`` the mapper returns
``None`` (the loader draws another sample; more than ``MAX_BAD_SAMPLE_RETRIES`` in a row re-raise);
at test it returns the view without ``clips`` and with ``skip_reason`` (the evaluator lists the video
as left out). Skips are counted in ``num_skipped`` and logged.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from detectron2.config import CfgNode, configurable
from detectron2.data.transforms import Augmentation, AugmentationList

from ava_detector.data.clip_mapper import ClipMapper, clip_to_tensor
from ava_detector.data.errors import InputFileError
from ava_detector.data.transforms.augmentation import ShortSideScale, build_clip_augmentation
from ava_detector.data.transforms.clip_input import ClipAugInput
from ava_detector.data.video.frame_source import LazyClip
from ava_detector.kinetics.data.views import (
    UniformCrop,
    clip_span,
    random_clip_start,
    view_clip_start,
)

__all__ = ["KineticsDatasetMapper"]

logger = logging.getLogger(__name__)


class KineticsDatasetMapper(ClipMapper):
    """Callable: Kinetics record -> ``{"clips", "label", "video_id", "view", "num_views", "height",
    "width"}`` (docs/interfaces.md, "Kinetics mapper output").

    Args:
        is_train: training (a random clip, augmentations, skip policy) or a test view.
        augmentations: training clip augmentations (``build_clip_augmentation``); unused at test.
        test_size: ``INPUT.TEST_SHORT_SIDE``: test short side and square crop size.
        num_crops: ``KINETICS.TEST_NUM_CROPS``, spatial crops per test clip.
        num_clips: ``KINETICS.TEST_NUM_CLIPS``, temporal clips per test video.
        arch: ``MODEL.SLOWFAST.ARCH``; Slow-only reads ``num_frames`` at ``sampling_rate``.
        num_frames: ``INPUT.NUM_FRAMES``.
        sampling_rate: ``INPUT.SAMPLING_RATE``.
        alpha: ``MODEL.SLOWFAST.ALPHA``.
        target_fps: ``INPUT.TARGET_FPS``.
        min_clip_coverage: ``KINETICS.MIN_CLIP_COVERAGE``: shorter videos are skipped.
        skip_bad_samples: ``DATALOADER.SKIP_BAD_SAMPLES``.
        max_bad_sample_retries: ``DATALOADER.MAX_BAD_SAMPLE_RETRIES``.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list[Augmentation],
        test_size: int = 256,
        num_crops: int = 3,
        num_clips: int = 10,
        arch: str = "slowfast",
        num_frames: int = 32,
        sampling_rate: int = 2,
        alpha: int = 4,
        target_fps: float = 30.0,
        min_clip_coverage: float = 1.0,
        skip_bad_samples: bool = False,
        max_bad_sample_retries: int = 10,
    ) -> None:
        super().__init__(
            is_train,
            arch=arch,
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            alpha=alpha,
            target_fps=target_fps,
            source="video",
            skip_bad_samples=skip_bad_samples,
            max_bad_sample_retries=max_bad_sample_retries,
        )
        self.augmentations = augmentations
        self.test_size = int(test_size)
        self.num_crops = int(num_crops)
        self.num_clips = int(num_clips)
        self.span = clip_span(num_frames, sampling_rate, target_fps)
        self.min_clip_coverage = float(min_clip_coverage)
        mode = "training" if is_train else "inference"
        logger.info(
            f"[KineticsDatasetMapper] {mode}: arch={arch} {num_frames}x{sampling_rate} "
            f"at {target_fps:g} fps, augmentations={augmentations}"
        )

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        return {
            **ClipMapper.clip_config(cfg),
            "is_train": is_train,
            "augmentations": build_clip_augmentation(cfg, True) if is_train else [],
            "test_size": cfg.INPUT.TEST_SHORT_SIDE,
            "num_crops": cfg.KINETICS.TEST_NUM_CROPS,
            "num_clips": cfg.KINETICS.TEST_NUM_CLIPS,
            "min_clip_coverage": cfg.KINETICS.MIN_CLIP_COVERAGE,
        }

    def clip_start(self, record: dict, duration: float) -> float:
        """Start time (s) of the clip: random in training, the record's ``clip_index`` at test."""
        if self.is_train:
            return random_clip_start(duration, self.span)
        return view_clip_start(
            duration, self.span, int(record.get("clip_index", 0)), self.num_clips
        )

    def _read_clip(self, record: dict) -> np.ndarray | LazyClip:
        """The ``(T, H, W, 3)`` clip (decoded; a video's frames converted when read), or
        InputFileError for a bad or too-short video."""
        source = self.open_source(record, record.get("source", "video"))
        duration = source.duration
        if not math.isfinite(duration):
            raise InputFileError(
                source.path, None, "video duration unknown (no stream/container duration)"
            )
        if duration < self.min_clip_coverage * self.span:
            raise InputFileError(
                source.path,
                None,
                f"video too short: {duration:.3f} s < {self.min_clip_coverage:g} x the "
                f"{self.span:.3f} s clip ({self.num_frames}x{self.sampling_rate} at {self.target_fps:g} fps)",
            )
        # converted when the transforms read it (a training crop converts only its region)
        return self.read_clip_lazy(source, self.clip_start(record, duration) + self.span / 2)

    def _view_augmentations(self, record: dict) -> list[Augmentation]:
        if self.is_train:
            return self.augmentations
        return [
            # the training resize's (OpenCV bilinear, PySlowFast's sizes)
            ShortSideScale(self.test_size),
            UniformCrop(
                self.test_size, int(record.get("crop_index", self.num_crops // 2)), self.num_crops
            ),
        ]

    @staticmethod
    def _identity(record: dict) -> dict:
        return {
            "video_id": record["video_id"],
            "label": int(record["label"]),
            "view": int(record.get("view", 0)),
            "num_views": int(record.get("num_views", 1)),
        }

    def __call__(self, record: dict) -> dict | None:
        try:
            clip = self._read_clip(record)
        except InputFileError as err:
            if self.is_train:
                self.skip_sample(record, err)
                return None
            # at test the view is kept, marked: the evaluator lists the video as left out
            self.count_skip(record, err)
            return {**self._identity(record), "skip_reason": str(err)}
        self.sample_read()
        height, width = clip.shape[1:3]
        aug_input = ClipAugInput(clip)
        AugmentationList(self._view_augmentations(record))(aug_input)
        return {
            **self._identity(record),
            "clips": self.split_pathways(clip_to_tensor(aug_input.clip)),
            "height": int(height),
            "width": int(width),
        }
