"""Person identities across keyframes: the ``trackers`` library's ByteTrack / OC-SORT / SORT.

:class:`PersonTracker` takes the person boxes of successive keyframes (or frames) with their times
and returns one integer track id per box, in the order the boxes came (the library may reorder
its output; the boxes are matched back by index). Tracks are motion-only (Kalman filter + IoU
assignment, no appearance model), so a person who is lost for longer than ``lost_seconds`` comes
back under a new id. The library is imported when a tracker is built, so the rest of the demo
works without it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["TRACKER_METHODS", "PersonTracker"]

#: Tracker names accepted by :class:`PersonTracker` (``--tracker``).
TRACKER_METHODS = ("bytetrack", "ocsort", "sort")


class PersonTracker:
    """``tracker.update(time, boxes, scores) -> ids``: a track id (>= 0) per person box.

    Args:
        method: one of :data:`TRACKER_METHODS`.
        rate: expected updates per second (keyframes per second, or the frame rate); the motion
            model's step is the time between updates times this rate.
        lost_seconds: how long a track is kept without a matching box before it ends.
        min_iou: the least generalised IoU (GIoU, in [-1, 1]: below 0 for boxes apart, by how far)
            between a track's predicted box and a box to match them. GIoU rather than IoU: at one
            keyframe a second, a walking person's boxes often do not overlap from one to the next.
    """

    def __init__(
        self,
        method: str = "bytetrack",
        rate: float = 1.0,
        lost_seconds: float = 3.0,
        min_iou: float = -0.5,
    ) -> None:
        if method not in TRACKER_METHODS:
            raise ValueError(
                f"--tracker must be one of {', '.join(TRACKER_METHODS)}, got {method!r}"
            )
        if not rate > 0 or not lost_seconds >= 0:
            raise ValueError(
                f"tracker rate must be > 0 and lost_seconds >= 0, got {rate}, {lost_seconds}"
            )
        try:
            import trackers
        except ImportError as err:  # pragma: no cover - an install without the dependency
            raise ImportError(
                "person tracking needs the 'trackers' package (pip install trackers)"
            ) from err
        # The library counts the lost-track buffer in frames at 30 fps and, with timestamps,
        # keeps a track for buffer / 30 seconds.
        buffer, fps, min_iou = max(1, round(lost_seconds * 30)), float(rate), float(min_iou)
        iou = trackers.GIoU()
        self._tracker: trackers.ByteTrackTracker | trackers.OCSORTTracker | trackers.SORTTracker
        # Every box spawns a track at once (activation threshold 0): the boxes are already the
        # persons the user asked for (CSV, ground truth or a thresholded detector).
        common: dict[str, Any] = dict(
            lost_track_buffer=buffer,
            frame_rate=fps,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=min_iou,
            iou=iou,
        )
        if method == "bytetrack":
            self._tracker = trackers.ByteTrackTracker(
                track_activation_threshold=0.0, high_conf_det_threshold=0.0, **common
            )
        elif method == "ocsort":
            self._tracker = trackers.OCSORTTracker(high_conf_det_threshold=0.0, **common)
        else:
            self._tracker = trackers.SORTTracker(track_activation_threshold=0.0, **common)
        self.method = method
        self._sv = __import__("supervision")
        self._last_time = -np.inf
        self._next_id = 0

    def update(
        self,
        time: float,
        boxes: np.ndarray,
        scores: np.ndarray | None = None,
        size: tuple[int, int] = (1, 1),
    ) -> np.ndarray:
        """Track ids (int64, ``(K,)``) of ``boxes`` at ``time`` seconds.

        Args:
            time: seconds into the video; strictly increasing from call to call.
            boxes: ``(K, 4)`` XYXY (normalised or pixels; the same units on every call).
            scores: ``(K,)`` person scores (1 when absent).
            size: ``(width, height)`` that scales ``boxes`` to pixels before matching, so IoU is
                computed in the frame's aspect ratio (1, 1 for pixel boxes).
        """
        if time <= self._last_time:
            raise ValueError(f"tracker times must increase: {time} after {self._last_time}")
        self._last_time = float(time)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scale = np.array([size[0], size[1], size[0], size[1]], np.float32)
        scores = (
            np.ones(len(boxes), np.float32) if scores is None else np.asarray(scores, np.float32)
        )
        dets = self._sv.Detections(
            xyxy=(boxes * scale).astype(np.float64),
            confidence=scores.astype(np.float64),
            class_id=np.zeros(len(boxes), int),
            data={"index": np.arange(len(boxes))},
        )
        before = {id(t) for t in self._tracker.tracks}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._tracker.update(dets, timestamp=float(time))
        ids = np.full(len(boxes), -1, np.int64)
        if len(out):
            ids[np.asarray(out.data["index"], int)] = np.asarray(out.tracker_id, np.int64)
        self._confirm_new_tracks(before, ids, boxes * scale)
        return ids

    def _confirm_new_tracks(self, before: set[int], ids: np.ndarray, boxes: np.ndarray) -> None:
        """Give the tracks spawned by this update their id now, in place in ``ids``.

        The library reports a new track as -1 until it is matched again (its id is allocated on
        confirmation). Every box here is a person, so each new track is confirmed at once: it gets
        the next id of this tracker's own counter (the library's is then never used, so they
        cannot collide), set on the track, and the box it was spawned from reports it.
        """
        new = [t for t in self._tracker.tracks if id(t) not in before and t.tracker_id == -1]
        free = list(np.flatnonzero(ids < 0))
        for track in new:
            if not free:
                break
            state = np.asarray(track.get_state_bbox(), np.float64).reshape(4)
            k = min(free, key=lambda i: float(np.abs(boxes[i] - state).sum()))
            free.remove(k)
            track.tracker_id = self._next_id
            ids[k] = self._next_id
            self._next_id += 1
