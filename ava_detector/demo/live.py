"""Live input: a webcam, an RTSP/HTTP stream or a pipe, through decode / detect / track / action threads.

Each stage runs in its own thread and hands its work to the next through a bounded
:class:`DropOldestQueue`: when a later stage falls behind, the oldest waiting item is dropped (and
counted) instead of being queued, so what is processed is the newest input and memory stays
bounded whatever the stream's length:

- decode: PyAV frames -> ``(time, rgb, wall time)`` (queue of ``frame_queue`` frames);
- detect: fills a :class:`FrameRingBuffer`; once a keyframe's clip is complete, cuts the clip's
  frames out (references, no pixel copy), runs the box provider on the keyframe (queue of
  ``job_queue`` keyframes);
- track: track ids in keyframe order (queue of ``job_queue``);
- action: the action model on the clip -> :class:`KeyframeResult` to ``on_result``.

:class:`LiveStats` holds the counts (frames decoded / dropped, keyframes done / dropped), the
latency from a keyframe's last clip frame being decoded to its result (wall seconds, and stream
seconds behind the newest decoded frame) and the decode rate; a log line reports them every
``report_every`` seconds.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
from av.container import InputContainer

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.sampling import TIME_EPS
from ava_detector.demo.box_providers import BoxProvider
from ava_detector.demo.frame_buffer import FrameRingBuffer
from ava_detector.demo.outputs import KeyframeResult
from ava_detector.demo.predictor import ActionPredictor
from ava_detector.demo.schedule import (
    keyframe_times,
    parse_every,
)
from ava_detector.demo.tracking import PersonTracker
from ava_detector.demo.video_demo import (
    decode_frames,
    stream_info,
)

__all__ = ["DropOldestQueue", "LiveStats", "is_live_input", "open_live", "run_live"]

logger = logging.getLogger(__name__)

_URL_SCHEMES = (
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "http://",
    "https://",
    "udp://",
    "tcp://",
    "srt://",
)
_CLOSED = object()


def is_live_input(source: str) -> bool:
    """Whether ``source`` is a live input: ``-`` (standard input), a URL, a device (``/dev/video0``
    or a camera number) or a FIFO; a regular file is not.

    Args:
        source: the ``--input`` text.
    """
    if source == "-" or source.isdigit() or source.lower().startswith(_URL_SCHEMES):
        return True
    if source.startswith("/dev/video"):
        return True
    try:
        return stat.S_ISFIFO(os.stat(source).st_mode)
    except OSError:
        return False


def open_live(
    source: str | BinaryIO, timeout: float = 10.0
) -> tuple[InputContainer, av.VideoStream]:
    """``(container, stream)`` of a live input's first video stream.

    Args:
        source: ``-`` (standard input), a URL, ``/dev/videoN`` or ``N`` (a V4L2 camera), a FIFO
            path, or a readable binary file object (a pipe).
        timeout: seconds to wait for a network stream to open.

    Raises:
        InputFileError: the input cannot be opened or has no video stream (names the input).
    """
    name = getattr(source, "name", source) if not isinstance(source, str) else source
    options: dict[str, str] = {}
    fmt = None
    target: Any = source
    if isinstance(source, str):
        if source == "-":
            import sys

            target = sys.stdin.buffer
        elif source.isdigit() or source.startswith("/dev/video"):
            target, fmt = (f"/dev/video{source}" if source.isdigit() else source), "v4l2"
        elif source.lower().startswith(_URL_SCHEMES):
            options["timeout"] = str(int(timeout * 1e6))  # microseconds
            if source.lower().startswith("rtsp"):
                options["rtsp_transport"] = "tcp"
    try:
        container = av.open(target, format=fmt, options=options, timeout=timeout)
    except (av.FFmpegError, OSError) as err:
        raise InputFileError(str(name), None, f"cannot open live input: {err}") from err
    if not container.streams.video:
        container.close()
        raise InputFileError(str(name), None, "live input has no video stream")
    return container, container.streams.video[0]


class DropOldestQueue:
    """A bounded FIFO whose ``put`` drops the oldest item when full (a live stream must not wait).

    Args:
        maxsize: items held at most (>= 1).
        on_drop: called with each dropped item (e.g. to count it).
    """

    def __init__(self, maxsize: int, on_drop: Callable[[Any], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._on_drop = on_drop
        self.peak = 0

    def put(self, item: Any) -> None:
        """Append ``item``, dropping the oldest one first when the queue is full.

        Args:
            item: anything but the end marker.
        """
        with self._cond:
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                if self._on_drop is not None:
                    self._on_drop(dropped)
            self._items.append(item)
            self.peak = max(self.peak, len(self._items))
            self._cond.notify()

    def close(self) -> None:
        """No more items: ``get`` returns the end marker once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Any:
        """The oldest item, waiting for one; ``_CLOSED`` after :meth:`close` and the last item."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            return self._items.popleft() if self._items else _CLOSED

    def __iter__(self) -> Iterator[Any]:
        while (item := self.get()) is not _CLOSED:
            yield item


@dataclass
class LiveStats:
    """Counts and latencies of a live run (updated by the stage threads)."""

    frames_decoded: int = 0
    frames_dropped: int = 0
    keyframes_scheduled: int = 0
    keyframes_done: int = 0
    keyframes_dropped: int = 0
    newest_time: float = 0.0  # stream seconds of the newest decoded frame
    latency: float = 0.0  # wall seconds from a keyframe's clip being decoded to its result (last)
    max_latency: float = 0.0
    max_stream_lag: float = 0.0  # stream seconds between the newest frame and a finished keyframe
    decode_fps: float = 0.0
    queue_peaks: dict[str, int] = field(default_factory=dict)
    began: float = field(default_factory=_time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def line(self) -> str:
        """One log line."""
        return (
            f"live: {self.frames_decoded} frames ({self.decode_fps:.1f} fps), "
            f"{self.frames_dropped} dropped; keyframes {self.keyframes_done} done, "
            f"{self.keyframes_dropped} dropped; latency {self.latency:.2f} s "
            f"(max {self.max_latency:.2f} s, {self.max_stream_lag:.2f} s of stream)"
        )


@dataclass
class _Job:
    time: float
    clip: FrameRingBuffer
    keyframe: np.ndarray
    ready_wall: float  # when the clip's last needed frame was decoded
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    track_ids: np.ndarray | None = None


def _thread(target: Callable[[], None], name: str, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as err:  # handed to the caller's thread
            errors.append(err)

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def run_live(
    frames: Iterator[tuple[float, np.ndarray]],
    predictor: ActionPredictor,
    boxes: BoxProvider,
    on_result: Callable[[KeyframeResult], None],
    *,
    rate: float = 30.0,
    every: str | float = "1",
    start_sec: float = 0.0,
    video_id: str = "live",
    tracker: PersonTracker | None = None,
    frame_queue: int = 32,
    job_queue: int = 2,
    report_every: float = 5.0,
    stop: threading.Event | None = None,
) -> LiveStats:
    """Run the four stages on ``frames`` until the stream ends (or ``stop`` is set).

    Args:
        frames: ``(stream seconds, RGB frame)`` in order (e.g. :func:`live_frames`).
        predictor: the action model (``extent`` and ``predictor(buffer, time, boxes)``).
        boxes: person boxes per keyframe.
        on_result: called in the action thread with each keyframe's result, in order.
        rate: the stream's nominal frame rate (``"15f"`` keyframe spacing, the last frame's end).
        every: keyframe spacing.
        start_sec: timestamp of stream time 0.
        video_id: the results' video id.
        tracker: track ids across keyframes; None: none.
        frame_queue: decoded frames waiting for the detect stage at most.
        job_queue: keyframes waiting between detect, track and action at most (each).
        report_every: seconds between progress log lines (0: none).
        stop: set it to end the run early.
    """
    stats = LiveStats()
    stop = stop or threading.Event()
    before, after = predictor.extent
    step = parse_every(every, rate)

    def drop_frame(_: object) -> None:
        with stats.lock:
            stats.frames_dropped += 1

    def drop_job(_: object) -> None:
        with stats.lock:
            stats.keyframes_dropped += 1

    q_frames = DropOldestQueue(frame_queue, drop_frame)
    q_detected = DropOldestQueue(job_queue, drop_job)
    q_tracked = DropOldestQueue(job_queue, drop_job)
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            for t, rgb in frames:
                if stop.is_set():
                    break
                now = _time.perf_counter()
                with stats.lock:
                    stats.frames_decoded += 1
                    stats.newest_time = t
                    stats.decode_fps = stats.frames_decoded / max(now - stats.began, 1e-9)
                q_frames.put((t, rgb, now))
        finally:
            q_frames.close()

    def cut(buffer: FrameRingBuffer, kt: float) -> FrameRingBuffer | None:
        """The frames the keyframe's clip reads, in a buffer of their own (references, no copy);
        None when every frame of the clip's span was dropped."""
        frames_ = buffer.span(kt - before, kt + after)
        if not any(kt - before - TIME_EPS <= t <= kt + after + TIME_EPS for t, _ in frames_):
            return None
        clip = FrameRingBuffer(video_id)
        for t, f in frames_:
            clip.push(t, f)
        clip.finish(clip.last_time + 1.0 / rate)
        return clip

    def submit(buffer: FrameRingBuffer, kt: float, wall: float) -> None:
        with stats.lock:
            stats.keyframes_scheduled += 1
        clip = cut(buffer, kt)
        if clip is None:  # the clip's frames were dropped before they reached the buffer
            drop_job(None)
            return
        job = _Job(kt, clip, clip.read_times([kt])[0], wall)
        b, s = boxes(start_sec + kt, job.keyframe)
        job.boxes = np.asarray(b, np.float32).reshape(-1, 4)
        job.scores = np.asarray(s, np.float32).reshape(-1)
        q_detected.put(job)

    def detect() -> None:
        buffer = FrameRingBuffer(video_id)
        schedule = keyframe_times(step)
        kt = next(schedule)
        buffer.keep_from = kt - before
        last_wall = 0.0
        try:
            for t, rgb, wall in q_frames:
                if t <= buffer.last_time:
                    continue
                buffer.push(t, rgb)
                last_wall = wall
                while t > kt + after + TIME_EPS:
                    submit(buffer, kt, wall)
                    kt = next(schedule)
                    buffer.keep_from = kt - before
            if len(buffer) and kt < buffer.last_time + TIME_EPS:  # the stream ended: its last clip
                buffer.finish(buffer.last_time + 1.0 / rate)
                submit(buffer, kt, last_wall)
        finally:
            q_detected.close()

    def track() -> None:
        try:
            for job in q_detected:
                if tracker is not None:
                    size = (job.keyframe.shape[1], job.keyframe.shape[0])
                    job.track_ids = tracker.update(job.time, job.boxes, job.scores, size=size)
                q_tracked.put(job)
        finally:
            q_tracked.close()

    def act() -> None:
        last_report = _time.perf_counter()
        for job in q_tracked:
            result = KeyframeResult(
                video_id,
                job.time,
                start_sec + job.time,
                job.boxes,
                job.scores,
                track_ids=job.track_ids,
            )
            if len(job.boxes):
                inst = predictor(job.clip, job.time, job.boxes)
                result.action_scores = np.asarray(inst.scores, np.float32)
            now = _time.perf_counter()
            with stats.lock:
                stats.keyframes_done += 1
                stats.latency = now - job.ready_wall
                stats.max_latency = max(stats.max_latency, stats.latency)
                stats.max_stream_lag = max(stats.max_stream_lag, stats.newest_time - job.time)
            on_result(result)
            if report_every and now - last_report >= report_every:
                logger.info(stats.line())
                last_report = now

    threads = [_thread(f, f"live-{f.__name__}", errors) for f in (decode, detect, track, act)]
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
                if errors:
                    stop.set()
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(5)
    stats.queue_peaks = {
        "frames": q_frames.peak,
        "detected": q_detected.peak,
        "tracked": q_tracked.peak,
    }
    if errors:
        raise errors[0]
    if report_every:
        logger.info(stats.line())
    return stats


def live_frames(
    container: InputContainer, stream: av.VideoStream
) -> Iterator[tuple[float, np.ndarray]]:
    """``(seconds, RGB)`` of a live stream; times that do not increase (stream restarts, bad
    timestamps) are replaced by the previous time plus one frame.

    Args:
        container: from :func:`open_live`.
        stream: its video stream.
    """
    rate, _, _ = stream_info(container, stream)
    last = -math.inf
    try:
        for t, rgb in decode_frames(container, stream, rate):
            if not t > last:
                t = last + 1.0 / rate
            last = t
            yield t, rgb
    except av.FFmpegError as err:
        logger.warning(f"live input ended: {err}")


def run_live_input(
    source: str | BinaryIO | Path,
    predictor: ActionPredictor,
    boxes: BoxProvider,
    on_result: Callable[[KeyframeResult], None],
    **kwargs: Any,
) -> LiveStats:
    """:func:`run_live` on a live input opened by :func:`open_live` (rate from its headers).

    Args:
        source: see :func:`open_live`.
        predictor: the action model.
        boxes: person boxes per keyframe.
        on_result: gets each keyframe's result.
        **kwargs: :func:`run_live` options.
    """
    container, stream = open_live(str(source) if isinstance(source, Path) else source)
    with container:
        rate, _, _ = stream_info(container, stream)
        return run_live(
            live_frames(container, stream),
            predictor,
            boxes,
            on_result,
            rate=kwargs.pop("rate", rate),
            **kwargs,
        )
