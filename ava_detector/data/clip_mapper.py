"""``ClipMapper``: what every task's dataset mapper shares — the frame source, the clip sampling of
the architecture, the pathway split and the bad-sample policy.

A task mapper (AVA's, Kinetics') subclasses it, reads its clip with :meth:`ClipMapper.read_clip`
and adds what differs: where the clip is centred, the augmentations, and what the model gets
besides the clips (boxes, labels, view indices).

Skip policy: a clip that cannot be read raises :class:`~ava_detector.data.errors.InputFileError`.
In training with ``skip_bad_samples`` the mapper returns ``None`` instead (Detectron2's
``MapDataset`` draws another sample); skips are counted in ``num_skipped`` and logged, and more than
``max_bad_sample_retries`` in a row re-raise the last error.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode

from ava_detector.config.pathways import check_arch, clip_sampling, pathway_frames
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.frame_source import (
    FrameSource,
    LazyClip,
    build_frame_source,
    sample_clip,
)
from ava_detector.data.video.sampling import pathway_indices

__all__ = ["ClipMapper", "clip_to_tensor"]

logger = logging.getLogger(__name__)


def clip_to_tensor(clip: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` array -> uint8 ``(3, T, H, W)`` tensor (contiguous)."""
    return torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))


class ClipMapper:
    """Base of the record -> model input mappers.

    Args:
        is_train: training (random augmentation, skip policy on) or inference.
        arch: ``MODEL.SLOWFAST.ARCH`` ("slowfast", "slow", "fast").
        num_frames: ``INPUT.NUM_FRAMES``, frames of the Fast clip.
        sampling_rate: ``INPUT.SAMPLING_RATE``, stride between them on the ``target_fps`` timeline.
        alpha: ``MODEL.SLOWFAST.ALPHA``, Fast / Slow frame ratio.
        target_fps: ``INPUT.TARGET_FPS``, the frame rate the sampling rate refers to.
        source: registered frame source name (``INPUT.SOURCE``: "frames", "video").
        source_options: keyword options of that source (see ``frame_source_options``).
        skip_bad_samples: ``DATALOADER.SKIP_BAD_SAMPLES`` (training only).
        max_bad_sample_retries: ``DATALOADER.MAX_BAD_SAMPLE_RETRIES``.
    """

    #: The Slow-only clip convention (``ava_detector.config.pathways``): True = derived from the
    #: Fast sampling (AVA), False = ``NUM_FRAMES`` at ``SAMPLING_RATE`` as written (Kinetics).
    slow_from_fast: bool = False

    def __init__(
        self,
        is_train: bool,
        *,
        arch: str = "slowfast",
        num_frames: int = 32,
        sampling_rate: int = 2,
        alpha: int = 4,
        target_fps: float = 30.0,
        source: str = "frames",
        source_options: dict[str, Any] | None = None,
        skip_bad_samples: bool = False,
        max_bad_sample_retries: int = 10,
    ) -> None:
        check_arch(arch)
        pathway_frames(arch, num_frames, alpha, slow_from_fast=self.slow_from_fast)  # validates
        self.is_train = is_train
        self.arch = arch
        self.num_frames = int(num_frames)
        self.sampling_rate = int(sampling_rate)
        self.alpha = int(alpha)
        self.target_fps = float(target_fps)
        self.source = source
        self.source_options = dict(source_options or {})
        self.skip_bad_samples = skip_bad_samples and is_train
        self.max_bad_sample_retries = int(max_bad_sample_retries)
        self.num_skipped = 0
        self._bad_in_a_row = 0

    @staticmethod
    def clip_config(cfg: CfgNode) -> dict[str, Any]:
        """The constructor arguments every task reads the same way from ``cfg``."""
        return {
            "arch": cfg.MODEL.SLOWFAST.ARCH,
            "num_frames": cfg.INPUT.NUM_FRAMES,
            "sampling_rate": cfg.INPUT.SAMPLING_RATE,
            "alpha": cfg.MODEL.SLOWFAST.ALPHA,
            "target_fps": cfg.INPUT.TARGET_FPS,
            "skip_bad_samples": cfg.DATALOADER.SKIP_BAD_SAMPLES,
            "max_bad_sample_retries": cfg.DATALOADER.MAX_BAD_SAMPLE_RETRIES,
        }

    @property
    def clip_length(self) -> tuple[int, int]:
        """``(frames, stride)`` the clip reads from its source."""
        return clip_sampling(
            self.arch,
            self.num_frames,
            self.sampling_rate,
            self.alpha,
            slow_from_fast=self.slow_from_fast,
        )

    def open_source(self, record: dict, source: str | None = None) -> FrameSource:
        """The frame source of ``record`` (``source`` overrides the mapper's source name)."""
        return build_frame_source(source or self.source, record, **self.source_options)

    def read_clip(self, source: FrameSource, center: float) -> np.ndarray:
        """The decoded ``(T, H, W, 3)`` uint8 clip of this architecture centred at ``center`` s."""
        frames, stride = self.clip_length
        return sample_clip(source, center, frames, stride, self.target_fps)

    def read_clip_lazy(self, source: FrameSource, center: float) -> np.ndarray | LazyClip:
        """The clip of :meth:`read_clip`, possibly as an array-like converted when read
        (:meth:`FrameSource.read_clip_lazy`), for :class:`~.transforms.clip_input.ClipAugInput`."""
        frames, stride = self.clip_length
        return source.read_clip_lazy(center, frames, stride, self.target_fps)

    def split_pathways(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{pathway: (3, T_p, H, W)}`` from the read clip ``(3, T, H, W)``: for SlowFast the Fast
        clip and its ``linspace`` Slow frames, else the clip itself (``index_select``: ~20x cheaper
        than indexing with the index tensor, which goes through advanced indexing)."""
        if self.arch == "slowfast":
            return {
                "slow": clip.index_select(1, pathway_indices(self.num_frames, self.alpha)),
                "fast": clip,
            }
        return {self.arch: clip}

    def sample_read(self) -> None:
        """Record that a clip was read (resets the run of bad samples)."""
        self._bad_in_a_row = 0

    def skip_sample(self, record: dict, err: InputFileError) -> None:
        """Apply the skip policy to a clip that could not be read: re-raise ``err`` unless skipping
        is on (training) and the run of bad samples is short enough; count and log the skip."""
        if not self.skip_bad_samples:
            raise err
        self.count_skip(record, err)

    def count_skip(self, record: dict, err: InputFileError) -> None:
        """Count a skipped sample and log it; more than ``max_bad_sample_retries`` bad samples in a
        row in training re-raise ``err``."""
        self.num_skipped += 1
        self._bad_in_a_row += 1
        if self.is_train and self._bad_in_a_row > self.max_bad_sample_retries:
            logger.error(f"{self._bad_in_a_row} unreadable samples in a row; giving up")
            raise err
        name = record.get("image_id") or record.get("video_id", "?")
        logger.warning(
            f"Skipping {name}: {err} ({self.num_skipped} samples skipped so far in this process)"
        )
