"""``VideoActionPredictor``: the demo as a Python API, like Detectron2's ``DefaultPredictor`` for videos.

    predictor = VideoActionPredictor("configs/synthetic/tiny_slowfast.yaml", "model_final.pth")
    for result in predictor("video.mp4", boxes="boxes.csv"):     # one KeyframeResult per keyframe
        print(result.timestamp, result.track_ids, result.action_scores.argmax(1) + 1)
    out = predictor.predict_clip(frames, boxes)                   # one clip: {"boxes", "scores"}

Each call decodes the video once and yields each keyframe's result as soon as its clip is complete
(memory bounded by one clip, as in the demo); persons get track ids across the call's keyframes.
The weights go through the project's safe checkpoint loading (``VideoCheckpointer``: no pickled code
is run), the config through the plain-YAML check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from detectron2.config import CfgNode

from ava_detector.demo.box_providers import (
    BoxProvider,
    CSVBoxProvider,
    no_boxes,
)
from ava_detector.demo.frame_buffer import FrameRingBuffer
from ava_detector.demo.outputs import KeyframeResult
from ava_detector.demo.predictor import (
    ActionPredictor,
    build_cfg,
    load_detector,
)
from ava_detector.demo.tracking import PersonTracker
from ava_detector.demo.video_demo import (
    FrameCallback,
    decode_frames,
    iter_keyframes,
    open_video,
    stream_info,
)

if TYPE_CHECKING:
    from ava_detector.demo.tracks_output import Track

__all__ = ["VideoActionPredictor", "config_action_names"]

Boxes = BoxProvider | Mapping[float, np.ndarray] | str | Path | None


def config_action_names(cfg: CfgNode) -> dict[int, str]:
    """Action names from the label map of the config's first test dataset that has one ({} if none).

    Args:
        cfg: the action model's config (its ``AVA.*`` roots are used).
    """
    from detectron2.data import MetadataCatalog

    from ava_detector.ava.data.builtin import register_ava_from_cfg
    from ava_detector.ava.data.register import ava_metadata
    from ava_detector.data.errors import InputFileError

    register_ava_from_cfg(cfg)
    for name in cfg.DATASETS.TEST:
        if name in MetadataCatalog.list():
            try:
                names = ava_metadata(name).get("action_names", None)
            except (InputFileError, OSError):
                continue
            if names:
                return {int(k): str(v) for k, v in names.items()}
    return {}


class _MappingBoxes:
    """A box provider from ``{timestamp: (K, 4) normalised boxes}`` (whole or fractional seconds)."""

    def __init__(self, boxes: Mapping[float, np.ndarray]) -> None:
        self.boxes = {
            round(float(k), 3): np.asarray(v, np.float32).reshape(-1, 4) for k, v in boxes.items()
        }

    def __call__(self, timestamp: float, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = self.boxes.get(round(float(timestamp), 3))
        return (b, np.ones(len(b), np.float32)) if b is not None else no_boxes()


class VideoActionPredictor:
    """Action detection on videos and clips from a config and weights.

    Args:
        cfg: a config (``CfgNode``) or a YAML file (checked to be plain YAML).
        weights: the action model's checkpoint (default ``cfg.MODEL.WEIGHTS``); loaded safely.
        every: keyframe spacing, seconds (``"1"``, ``"0.5s"``) or frames (``"15f"``).
        tracker: a :data:`~.tracking.TRACKER_METHODS` name, or None for no track ids.
        lost_seconds: a person unseen this long gets a new track id.
        person_detector: the box provider used when a call passes no ``boxes`` (e.g. a
            :class:`~.person_detector.PersonDetector`).
        opts: ``KEY VALUE`` overrides when ``cfg`` is a file.
    """

    def __init__(
        self,
        cfg: CfgNode | str | Path,
        weights: str | Path | None = None,
        *,
        every: str | float = "1",
        tracker: str | None = "bytetrack",
        lost_seconds: float = 3.0,
        person_detector: BoxProvider | None = None,
        opts: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(cfg, CfgNode):
            from ava_detector.engine.cli import check_yaml_file

            if Path(cfg).is_file():
                check_yaml_file(str(cfg))
            cfg = build_cfg(str(cfg), list(opts or []))
        elif str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
            cfg = cfg.clone()
            cfg.defrost()
            cfg.MODEL.DEVICE = "cpu"  # as build_cfg does for files
            cfg.freeze()
        self.cfg = cfg
        weights = str(weights) if weights else str(cfg.MODEL.WEIGHTS)
        self.model = load_detector(cfg, weights)
        self.action = ActionPredictor(cfg, self.model)
        self.every = every
        self.tracker = tracker
        self.lost_seconds = float(lost_seconds)
        self.person_detector = person_detector
        self.action_names = config_action_names(cfg)

    def _provider(self, boxes: Boxes, video_id: str) -> BoxProvider:
        if boxes is None:
            if self.person_detector is None:
                raise ValueError(
                    "no boxes given and no person_detector set: pass boxes= (a CSV, a "
                    "{timestamp: boxes} dict or a provider) or person_detector="
                )
            return self.person_detector
        if isinstance(boxes, (str, Path)):
            return CSVBoxProvider(boxes, video_id)
        if isinstance(boxes, Mapping):
            return _MappingBoxes(boxes)
        if callable(boxes):
            return boxes
        raise TypeError(
            f"boxes must be a CSV path, a mapping or a provider, not {type(boxes).__name__}"
        )

    def __call__(
        self,
        video_or_frames: str
        | Path
        | np.ndarray
        | Iterable[np.ndarray]
        | Iterable[tuple[float, np.ndarray]],
        boxes: Boxes = None,
        *,
        fps: float | None = None,
        start_sec: float = 0.0,
        video_id: str | None = None,
        on_frame: FrameCallback | None = None,
    ) -> Iterator[KeyframeResult]:
        """Keyframe results (boxes, person scores, ``action_scores (K, C)``, ``track_ids``) in order.

        Args:
            video_or_frames: a video file; or RGB uint8 frames ``(T, H, W, 3)`` / a sequence of
                ``(H, W, 3)`` at ``fps``; or ``(seconds, frame)`` pairs.
            boxes: person boxes per keyframe: an AVA-format CSV, ``{timestamp: (K, 4) normalised
                XYXY}``, a provider ``(timestamp, frame) -> (boxes, scores)``, or None for the
                ``person_detector``.
            fps: the frames' rate (frames only; default the model's ``INPUT.TARGET_FPS``).
            start_sec: the timestamp of time 0 (as the boxes CSV writes it).
            video_id: the results' video id (default: the file name, else ``"frames"``).
            on_frame: ``on_frame(time, annotated rgb, keyframe result)`` for every frame.
        """
        if isinstance(video_or_frames, (str, Path)):
            path = Path(video_or_frames)
            video_id = video_id or path.stem
            provider = self._provider(boxes, video_id)
            container, stream = open_video(path)
            with container:
                rate, duration, _ = stream_info(container, stream)
                yield from self._run(
                    decode_frames(container, stream, rate),
                    provider,
                    rate,
                    duration,
                    start_sec,
                    getattr(provider, "video_id", video_id),
                    on_frame,
                )
            return
        rate = float(fps or self.action.mapper.target_fps)
        frames = _timed_frames(video_or_frames, rate)
        video_id = video_id or "frames"
        provider = self._provider(boxes, video_id)
        yield from self._run(frames, provider, rate, np.inf, start_sec, video_id, on_frame)

    def _run(
        self,
        frames: Iterable[tuple[float, np.ndarray]],
        provider: BoxProvider,
        rate: float,
        duration: float,
        start_sec: float,
        video_id: str,
        on_frame: FrameCallback | None,
    ) -> Iterator[KeyframeResult]:
        from ava_detector.demo.schedule import parse_every

        tracker = None
        if self.tracker:
            tracker = PersonTracker(
                self.tracker,
                rate=1.0 / parse_every(self.every, rate),
                lost_seconds=self.lost_seconds,
            )
        yield from iter_keyframes(
            frames,
            self.action,
            provider,
            rate=rate,
            duration=duration,
            every=self.every,
            start_sec=start_sec,
            video_id=video_id,
            tracker=tracker,
            action_names=self.action_names,
            on_frame=on_frame,
        )

    @staticmethod
    def tracks(results: Sequence[KeyframeResult]) -> list[Track]:
        """The per-person timelines (:class:`~.tracks_output.Track`) of a call's results.

        Args:
            results: the keyframe results of one call, in order.
        """
        from ava_detector.demo.tracks_output import build_tracks

        return build_tracks(results)

    def predict_clip(
        self, clip: np.ndarray | Sequence[np.ndarray], boxes: np.ndarray, fps: float | None = None
    ) -> dict[str, np.ndarray]:
        """Actions of ``boxes`` on the clip's middle frame (index ``T // 2``).

        Args:
            clip: ``T`` RGB uint8 frames ``(T, H, W, 3)``, spanning the model's sampling around the
                middle frame (frames past either end repeat the first / last one).
            boxes: ``(K, 4)`` normalised XYXY boxes on the middle frame.
            fps: the clip's frame rate (default the model's ``INPUT.TARGET_FPS``).

        Returns:
            ``{"boxes": (K, 4) pixel boxes, "scores": (K, C) action probabilities}``.
        """
        frames = [np.asarray(f) for f in clip]
        if not frames or any(f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8 for f in frames):
            raise ValueError("clip must be T > 0 RGB uint8 frames of shape (H, W, 3)")
        rate = float(fps or self.action.mapper.target_fps)
        buffer = FrameRingBuffer("clip")
        for i, f in enumerate(frames):
            buffer.push(i / rate, f)
        buffer.finish(len(frames) / rate)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            return {
                "boxes": np.zeros((0, 4), np.float32),
                "scores": np.zeros((0, self.action.num_score_columns), np.float32),
            }
        inst = self.action(buffer, (len(frames) // 2) / rate, boxes)
        return {"boxes": inst.pred_boxes.tensor.numpy(), "scores": inst.scores.numpy()}


def _timed_frames(
    frames: Iterable[np.ndarray] | Iterable[tuple[float, np.ndarray]], rate: float
) -> Iterator[tuple[float, np.ndarray]]:
    """``(seconds, frame)`` pairs from frames at ``rate`` or from pairs already timed."""
    for i, item in enumerate(frames):
        if isinstance(item, tuple):
            yield float(item[0]), np.asarray(item[1])
        else:
            yield i / rate, np.asarray(item)
