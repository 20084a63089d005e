"""``AVADatasetMapper``: one AVA record -> the model's input (per-pathway uint8 clips, boxes, targets).

Frame source, clip sampling, pathway split and the skip policy are :class:`~ava_detector.data.clip_mapper.ClipMapper`'s.

Pathways per ``MODEL.SLOWFAST.ARCH``:

- ``"slowfast"``: Fast = ``NUM_FRAMES`` frames at ``SAMPLING_RATE``; Slow = ``fast[:, linspace(0, N-1,
  N // ALPHA)]`` (PySlowFast's picking, which the published checkpoints were trained on).
- ``"slow"`` (Slow-only): ``NUM_FRAMES // ALPHA`` frames at stride ``SAMPLING_RATE * ALPHA`` around the
  keyframe (e.g. 32x2, alpha 4 -> the "8x8" Slow-only input; same first frame as the Fast clip).
- ``"fast"`` (Fast-only): the Fast clip alone.

Boxes come normalised XYXY from the record, become pixels of the decoded frames, move with the clip's
transforms and are clipped to it; a box pushed out of a crop stays (degenerate) with its labels. The
mapper never pads: clips in a batch may differ in size (the meta-architecture pads).

``INPUT.DECODE_DEVICE`` other than ``"cpu"`` (JPEG frames only): the mapper reads the clip's JPEG
files undecoded and samples the same augmentations from the same random stream on the frame size
alone; instead of ``clips`` it returns ``clip_bytes`` (``{pathway: EncodedFrames}``) and
``clip_transforms`` (device ops), and the meta-architecture decodes and transforms them on its
device (``ava_detector.data.transforms.device_clip``). Boxes and instances are the same as on the
CPU path. Videos (``INPUT.SOURCE video``) are always decoded in the workers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data.transforms import Augmentation, AugmentationList
from detectron2.structures import Boxes, Instances

from ava_detector.data.clip_mapper import ClipMapper, clip_to_tensor
from ava_detector.data.errors import InputFileError
from ava_detector.data.transforms.augmentation import build_clip_augmentation
from ava_detector.data.transforms.clip_input import ClipAugInput
from ava_detector.data.transforms.decode_device import (
    parse_decode_device,
)
from ava_detector.data.transforms.device_clip import (
    ShapeAugInput,
    device_augmentations,
)
from ava_detector.data.video.frame_source import LazyClip, frame_source_options, keyframe_time
from ava_detector.data.video.jpeg_bytes import EncodedFrames, build_jpeg_bytes_source
from ava_detector.data.video.sampling import pathway_indices

__all__ = ["AVADatasetMapper"]

logger = logging.getLogger(__name__)


class AVADatasetMapper(ClipMapper):
    """Callable mapping an AVA record (docs/interfaces.md) to a dict for ``AVADetector``.

    With ``skip_bad_samples`` (training only) an unreadable clip returns ``None`` so Detectron2's
    ``MapDataset`` draws another sample; skips are counted in the log, and more than
    ``max_bad_sample_retries`` in a row re-raise the last error.

    Args:
        is_train: training (random augmentation, labels, skip policy) or inference.
        augmentations: clip augmentations (``build_clip_augmentation``), applied to the whole clip
            and its boxes.
        source: ``INPUT.SOURCE``, "frames" (JPEG folders) or "video" (PyAV).
        arch: ``MODEL.SLOWFAST.ARCH``; Slow-only reads ``num_frames // alpha`` frames at stride
            ``sampling_rate * alpha``.
        num_frames: ``INPUT.NUM_FRAMES`` (Fast clip length).
        sampling_rate: ``INPUT.SAMPLING_RATE``.
        alpha: ``MODEL.SLOWFAST.ALPHA``.
        target_fps: ``INPUT.TARGET_FPS``.
        skip_bad_samples: ``DATALOADER.SKIP_BAD_SAMPLES``.
        max_bad_sample_retries: ``DATALOADER.MAX_BAD_SAMPLE_RETRIES``.
        decode_device: ``INPUT.DECODE_DEVICE``; other than "cpu", the workers read JPEG bytes and
            the model decodes them.
        source_options: the frame source's options (``frame_source_options(cfg, source)``).
    """

    slow_from_fast = True

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list[Augmentation],
        source: str = "frames",
        arch: str = "slowfast",
        num_frames: int = 32,
        sampling_rate: int = 2,
        alpha: int = 4,
        target_fps: float = 30.0,
        skip_bad_samples: bool = False,
        max_bad_sample_retries: int = 10,
        decode_device: str = "cpu",
        source_options: dict | None = None,
    ) -> None:
        super().__init__(
            is_train,
            arch=arch,
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            alpha=alpha,
            target_fps=target_fps,
            source=source,
            source_options=source_options,
            skip_bad_samples=skip_bad_samples,
            max_bad_sample_retries=max_bad_sample_retries,
        )
        self.augmentations = AugmentationList(augmentations)
        # the device decodes: workers read bytes and sample transforms (JPEG frames only)
        on_device = parse_decode_device(decode_device, check_available=False) is not None
        self.read_bytes = on_device and source == "frames"
        if on_device and not self.read_bytes:
            logger.warning(
                f"[AVADatasetMapper] INPUT.DECODE_DEVICE={decode_device!r} applies to INPUT.SOURCE "
                f"'frames' only; INPUT.SOURCE={source!r} is decoded and transformed in the DataLoader "
                "workers (PyAV, CPU)"
            )
        self.device_augmentations = (
            AugmentationList(device_augmentations(augmentations)) if self.read_bytes else None
        )
        if self.read_bytes and self.source_options:
            logger.warning(
                f"[AVADatasetMapper] INPUT.DECODE_DEVICE={decode_device!r} decodes JPEGs at "
                f"full size; the workers' decoding options {self.source_options} do not apply"
            )
        mode = "training" if is_train else "inference"
        where = f"decoded on {decode_device}" if self.read_bytes else "decoded in the workers"
        logger.info(
            f"[AVADatasetMapper] {mode}: source={source} ({where}) arch={arch} "
            f"augmentations={augmentations}"
        )

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict[str, Any]:
        return {
            **ClipMapper.clip_config(cfg),
            "is_train": is_train,
            "augmentations": build_clip_augmentation(cfg, is_train),
            "source": cfg.INPUT.SOURCE,
            "decode_device": cfg.INPUT.DECODE_DEVICE,
            "source_options": frame_source_options(cfg, cfg.INPUT.SOURCE),
        }

    def _read_clip(self, record: dict) -> np.ndarray | LazyClip | EncodedFrames:
        """The clip this architecture samples around the keyframe: decoded ``(T, H, W, 3)`` (a
        video's frames converted when read), or its JPEG bytes when the device decodes."""
        source = build_jpeg_bytes_source(record) if self.read_bytes else self.open_source(record)
        center = keyframe_time(record, self.source)
        if center >= source.duration:
            # A clip running over the end is padded with the last frame; a keyframe past it is not
            # a clip of this video at all (a video shorter than its annotations).
            raise InputFileError(
                source.path,
                None,
                f"keyframe {record.get('image_id', '?')} at {center:.3f} s lies beyond the end of "
                f"the video ({source.duration:.3f} s)",
            )
        if self.read_bytes:
            return self.read_clip(source, center)
        return self.read_clip_lazy(source, center)  # the transforms convert what they read

    def _split_encoded(self, clip: EncodedFrames) -> dict[str, EncodedFrames]:
        """Per-pathway views of the Fast clip's bytes (one buffer for both pathways)."""
        if self.arch == "slowfast":
            return {"slow": clip.select(pathway_indices(self.num_frames, self.alpha)), "fast": clip}
        return {self.arch: clip}

    def __call__(self, record: dict) -> dict | None:
        try:
            clip = self._read_clip(record)
        except InputFileError as err:
            self.skip_sample(record, err)
            return None
        self.sample_read()

        if isinstance(clip, EncodedFrames):
            height, width = clip.height, clip.width
        else:
            height, width = clip.shape[1:3]
        boxes = np.asarray(record["boxes"], dtype=np.float32).reshape(-1, 4)
        boxes = boxes * np.array([width, height, width, height], dtype=np.float32)
        if isinstance(clip, EncodedFrames):
            # same draws, same Detectron2 transforms on the boxes; pixels are the device's
            assert self.device_augmentations is not None  # set whenever clips are read as bytes
            shape_input = ShapeAugInput(height, width, boxes=boxes)
            self.device_augmentations(shape_input)
            assert shape_input.boxes is not None  # given, transformed in place
            image_size, boxes = shape_input.image_size, shape_input.boxes
            clip_fields = {
                "clip_bytes": self._split_encoded(clip),
                "clip_transforms": tuple(shape_input.ops),
            }
        else:
            aug_input = ClipAugInput(clip, boxes=boxes)
            self.augmentations(aug_input)
            assert aug_input.boxes is not None  # given, transformed in place
            image_size, boxes = aug_input.clip.shape[1:3], aug_input.boxes
            clip_fields = {"clips": self.split_pathways(clip_to_tensor(aug_input.clip))}

        instances = Instances(image_size)
        proposal_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        proposal_boxes.clip(image_size)
        instances.proposal_boxes = proposal_boxes
        num = len(proposal_boxes)
        instances.proposal_scores = torch.as_tensor(
            np.asarray(record.get("scores", np.ones(num)), dtype=np.float32)
        ).reshape(num)
        instances.is_gt = torch.as_tensor(
            np.asarray(record.get("is_gt", np.zeros(num)), dtype=bool)
        ).reshape(num)
        if self.is_train:
            instances.gt_actions = torch.as_tensor(
                np.asarray(record["labels"], dtype=np.float32)
            ).reshape(num, -1)

        return {
            **clip_fields,
            "instances": instances,
            "video_id": record["video_id"],
            "sec": record["sec"],
            "image_id": record["image_id"],
            "height": int(height),
            "width": int(width),
        }
