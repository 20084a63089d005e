"""Video files decoded with PyAV: seek to the key frame before the clip, decode only what it needs.

Time 0 is the video stream's first timestamp (``stream.start_time``). The frame returned for a time
``t`` is the one *displayed* at ``t``: the last frame whose ``pts`` (in the stream's time base) is at
or before ``t``. Variable-rate and non-30 fps videos therefore give the right frames without any
frame-count arithmetic.

What makes it cheap (measured on 640x360 H.264, key frame every 250 frames, B-frames; see the
README's Benchmarks):

- Decoding is single-threaded (``thread_type = "NONE"``). FFmpeg's frame threading ("AUTO" /
  "FRAME") costs ~30% more CPU per frame for a wall-time gain only when idle cores exist; DataLoader
  workers already fill the cores, so per-core throughput is what counts.
- Packets of frames that no requested time needs (between the key frame and the clip, and between
  the clip's sampled frames) are sent with ``skip_frame = "NONREF"``: B-frames no other frame refers
  to are not decoded at all (a quarter to a half of the frames). A frame counts as needed when a
  requested time falls within one frame duration (from the stream's average rate) of its start; each
  result is checked against the skipped timestamps, and decoded again without skipping if a skipped
  frame would have been on screen (a variable-rate video with a longer gap).
- Frames are converted from YUV 4:2:0 to RGB by OpenCV (``COLOR_YUV2RGB_I420``: BT.601 limited
  range, what swscale does for such streams, 2-3x faster than ``to_ndarray("rgb24")``), each frame
  straight into its place in the clip's array from one I420 copy of the decoder's planes (no
  per-frame RGB arrays stacked afterwards); other pixel formats, full-range or non-BT.601 streams go
  through swscale with the stream's range.
- Each process keeps its last few videos open (:data:`VIDEO_CACHE`), positioned where the previous
  clip ended, with that clip's frames: a clip further on in the same video continues decoding instead
  of seeking back to a key frame, and a clip that overlaps the previous one reuses its frames (test
  loaders read keyframes in order; training does with ``DATALOADER.CONSECUTIVE_KEYFRAMES``). The
  cache is bounded in videos and bytes (the window keeps the decoded YUV frames, half the size of
  RGB; a reused frame is converted again), and is dropped in a forked child (a DataLoader worker
  opens its own files).

The rest is in the file: in the training encoding (:mod:`~ava_detector.data.video.transcode`) a
shuffled clip's seek lands on its first frame and the frames between its sampled ones are all
skipped, a quarter of the work of x264's defaults.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import av
import av.container
import av.video.stream
import numpy as np

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.frame_source import (
    FrameSource,
    register_frame_source,
)
from ava_detector.data.video.sampling import (
    TIME_EPS,
    clip_times,
)
from ava_detector.data.video.yuv_frames import YUVClip

# Continue decoding forward from where the previous clip of the video ended when the next clip
# starts at most this far ahead (seconds) and no key frame is expected in between (from the key frame
# interval seen so far); while that interval is unknown, at most UNKNOWN_GOP_CONTINUE_S ahead.
# Otherwise seek to the key frame before the clip.
CONTINUE_MAX_S = 10.0
UNKNOWN_GOP_CONTINUE_S = 2.0

_T = TypeVar("_T")


class _Entry:
    """A decoded frame on the timeline: its time and the decoded (YUV) frame, converted to RGB
    by each clip that shows it (:class:`~.yuv_frames.YUVClip`; the YUV frame is half the size of
    an RGB one)."""

    __slots__ = ("t", "frame", "nbytes")

    def __init__(self, t: float, frame: av.VideoFrame):
        self.t = t
        self.frame = frame
        self.nbytes = sum(p.buffer_size for p in frame.planes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frame.height, self.frame.width, 3)


class _OpenVideo:
    """One open video positioned after its last decoded frame, with a window of recent frames.

    ``window`` holds the frames decoded since the window's first entry, in display order; frames
    skipped as unneeded unreferenced B-frames are missing from it and listed in ``skipped``.
    """

    def __init__(self, path: str):
        self.path = path
        try:
            self.container = av.open(path)
        except (av.FFmpegError, OSError) as e:
            raise InputFileError(path, None, f"cannot open video: {e}") from e
        if not self.container.streams.video:
            self.container.close()
            raise InputFileError(path, None, "file has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "NONE"
        self.codec = self.stream.codec_context
        tb = self.stream.time_base
        if tb is None:
            self.container.close()
            raise InputFileError(path, None, "video stream has no time base")
        self.tb = tb
        self._tb_num, self._tb_den = self.tb.numerator, self.tb.denominator
        self.start = self.stream.start_time or 0
        self.duration = _stream_duration(self.container, self.stream)
        self.window: list[_Entry] = []
        self.frames: Iterator[av.VideoFrame] | None = None  # the decoder's output from here on
        self.eof = False
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.frame_duration = 1.0 / float(rate) if rate else 1.0 / 30.0  # estimate, for skipping
        self.targets: np.ndarray | None = (
            None  # sorted times of the read in progress (None: no skipping)
        )
        self.skipped: list[float] = []  # display times of the packets sent while skipping
        self._skipping = False
        self.last_key_t: float | None = None  # the last key frame demuxed since the last seek
        self.gop_s: float | None = None  # the longest interval between key frames seen
        self.last_read = 0  # the cache's read count when this video was last used

    def close(self) -> None:
        self.window.clear()
        self.frames = None
        self.container.close()

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.window)

    def _time(self, pts: int) -> float:
        # float((pts - start) * time_base) without Fraction objects: int / int is correctly
        # rounded, the same float
        return (pts - self.start) * self._tb_num / self._tb_den

    def _needed(self, t: float) -> bool:
        """Whether a frame displayed from ``t`` may be on screen at a target time (one frame
        duration, estimated from the stream's rate; a longer gap is caught by :meth:`read`)."""
        if self.targets is None or t > self.targets[-1] + TIME_EPS:
            return (
                True  # past the read's last time: read ahead for the next clip, which may need it
            )
        k = int(np.searchsorted(self.targets, t - TIME_EPS))
        return k < len(self.targets) and self.targets[k] < t + self.frame_duration - TIME_EPS

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decoded frames in display order from the current demuxer position; unreferenced frames
        no target time needs (before the clip, between its sampled frames) are not decoded."""
        for packet in self.container.demux(self.stream):
            if packet.pts is not None:
                t = self._time(packet.pts)
                if packet.is_keyframe:
                    if self.last_key_t is not None and t > self.last_key_t:
                        self.gop_s = max(self.gop_s or 0.0, t - self.last_key_t)
                    self.last_key_t = t
                skip = not packet.is_keyframe and not self._needed(t)
                if skip != self._skipping:
                    self.codec.skip_frame = "NONREF" if skip else "DEFAULT"
                    self._skipping = skip
                if skip:
                    self.skipped.append(t)
            yield from packet.decode()

    def seek(self, t: float) -> None:
        """Position at the key frame at or before ``t`` and forget the window."""
        self.container.seek(
            self.start + int(math.floor(t / self.tb)), stream=self.stream, backward=True
        )
        self.window.clear()
        self.frames = self._decode()
        self.eof = False
        self.skipped.clear()
        self.last_key_t = None

    def next_entry(self) -> _Entry | None:
        """The next decoded frame appended to the window, None at the end of the stream."""
        if self.eof or self.frames is None:
            return None
        for frame in self.frames:
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                raise InputFileError(self.path, None, "a decoded frame has no timestamp")
            entry = _Entry(self._time(pts), frame)
            if (
                self.window and entry.t <= self.window[-1].t
            ):  # a duplicate timestamp: keep the first
                continue
            self.window.append(entry)
            return entry
        self.eof = True
        return None

    def can_serve(self, t0: float) -> bool:
        """Whether times from ``t0`` on can be answered from the window and decoding forward."""
        if self.frames is None or not self.window:
            return False
        if self.window[0].t > t0 + TIME_EPS:
            return False  # the frame on screen at t0 is before the window
        gap = t0 - self.window[-1].t
        if gap <= TIME_EPS or self.eof:
            return True
        if self.gop_s is not None and self.last_key_t is not None:
            # a key frame between here and t0 would make seeking cheaper than decoding forward
            return gap <= CONTINUE_MAX_S and t0 < self.last_key_t + self.gop_s
        return gap <= UNKNOWN_GOP_CONTINUE_S

    def read(
        self, times: np.ndarray, skip: bool = True, convert: bool | str = True
    ) -> np.ndarray | YUVClip:
        """The frames displayed at ``times`` (``(T,)`` seconds) as uint8 ``(T, H, W, 3)`` RGB;
        with ``convert="lazy"`` as a :class:`~.yuv_frames.YUVClip` (converted when read); with
        ``convert=False`` only their display times ``(T,)`` (the decoding without the YUV -> RGB
        conversion: the benchmark's video decode floor)."""
        order = np.argsort(times, kind="stable")
        t0 = max(0.0, float(times[order[0]]))
        if not self.can_serve(t0):
            self.seek(t0)
        elif self.window:  # continue from the window (earlier entries are dropped while scanning)
            self.skipped = [x for x in self.skipped if x > self.window[0].t]
        self.targets = np.sort(times) if skip else None
        if not self.window and self.next_entry() is None:
            raise InputFileError(self.path, None, f"no frames decoded at or after {t0:.3f} s")
        entries: list[_Entry | None] = [None] * len(times)  # the frame on screen at each time
        chosen = np.empty(len(times))
        i = 0  # the window entry on screen at the current target (the last one at or before it)
        for n, k in enumerate(order):
            target = float(times[k])
            while True:
                nxt = self.window[i + 1] if i + 1 < len(self.window) else self.next_entry()
                if nxt is None or nxt.t > target + TIME_EPS:
                    break
                if n == 0:  # before the clip's first frame: nothing earlier is needed again
                    del self.window[i]
                else:
                    i += 1
            entry = self.window[i]  # after the first frame if the target is before the video starts
            chosen[k] = entry.t
            entries[k] = entry
        self.targets = None
        if self.skipped:
            # a skipped frame displayed after the chosen one and by the target would have been on
            # screen instead (a gap longer than the estimated frame duration): decode again in full
            skipped = np.sort(np.asarray(self.skipped))
            first_after = np.searchsorted(skipped, chosen + TIME_EPS, side="left")
            if np.any(
                (first_after < len(skipped))
                & (
                    skipped[np.minimum(first_after, len(skipped) - 1)]
                    <= np.asarray(times) + TIME_EPS
                )
            ):
                self.frames = None
                return self.read(times, skip=False, convert=convert)
        if convert is False:
            return chosen
        clip = [e for e in entries if e is not None]
        sizes = sorted({e.shape[:2] for e in clip})
        if len(sizes) > 1:
            raise InputFileError(
                self.path, None, f"frames of different sizes in one clip: {sizes[0]} and {sizes[1]}"
            )
        lazy = YUVClip([e.frame for e in clip])
        return lazy if convert == "lazy" else lazy.to_array()


def _stream_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return math.inf


class VideoCache:
    """The open videos of this process, least recently used first, bounded in number and bytes.

    One file may be open more than once (``per_video``): a worker that builds each batch from
    several runs of consecutive keyframes (``DATALOADER.CONSECUTIVE_KEYFRAMES_IN worker``) reads
    them in turn, and two runs in the same video then keep one decoding position each instead of
    seeking back and forth for every clip.

    Args:
        max_videos: how many open videos stay open (0 disables the cache: every read opens the
            file).
        max_bytes: the most decoded-frame bytes kept over all open videos.
        per_video: how many of them may be the same file.
    """

    def __init__(self, max_videos: int = 2, max_bytes: int = 128 << 20, per_video: int = 1):
        self.max_videos = max_videos
        self.max_bytes = max_bytes
        self.per_video = max(1, per_video)
        self._videos: OrderedDict[int, _OpenVideo] = OrderedDict()  # by id(), LRU first
        self._reads = 0  # reads of frames so far; each video remembers the last one it served
        self._pid = os.getpid()
        self.lock = threading.RLock()

    def ensure(self, max_videos: int, max_bytes: int, per_video: int = 1) -> None:
        """Raise the bounds to at least ``max_videos`` open videos, ``max_bytes`` of frames and
        ``per_video`` copies of one file (a worker reading B runs at once keeps B videos open,
        possibly B times the same one); never lowers them."""
        self.max_videos = max(self.max_videos, int(max_videos))
        self.max_bytes = max(self.max_bytes, int(max_bytes))
        self.per_video = max(self.per_video, int(per_video))

    def check_process(self) -> None:
        """In a forked child, forget the parent's videos (never share its file positions)."""
        if self._pid != os.getpid():
            self._videos = OrderedDict()
            self._pid = os.getpid()
            self.lock = threading.RLock()

    def open_paths(self) -> list[str]:
        """The files open, least recently used first (a file open twice is listed twice)."""
        return [v.path for v in self._videos.values()]

    def open(self, path: str, first_time: Callable[[float], float] | None = None) -> _OpenVideo:
        """An open video of ``path`` (opened now, or a cached one), now the most recently used.

        Args:
            path: the file.
            first_time: the read's earliest time given the video's duration; with it, a cached
                copy that continues to that time is preferred; when none does, a copy not read
                in the last ``per_video - 1`` reads (not another run's) is repositioned, else
                another copy is opened (up to ``per_video``). Without it: the most recently used
                copy.
        """
        copies = [v for v in self._videos.values() if v.path == path]
        video = copies[-1] if copies else None
        if copies and first_time is not None and self.per_video > 1:
            t0 = max(0.0, first_time(copies[0].duration))
            serving = [v for v in copies if v.can_serve(t0)]
            # several serve: the one whose decoding stopped nearest before t0
            video = max(serving, key=lambda v: v.window[-1].t) if serving else None
            if video is None:
                # runs read in turn: the copies the other per_video - 1 runs use were read
                # since this run's last turn; an older one is this run's own, or nobody's, and
                # one with no position (only probed, or trimmed) costs what a new one does
                idle = [
                    v
                    for v in copies
                    if v.frames is None or self._reads - v.last_read >= self.per_video - 1
                ]
                if idle or len(copies) >= self.per_video:
                    video = (idle or copies)[0]
        if video is None:
            if not os.path.isfile(path):
                raise InputFileError(path, None, "video file is missing")
            video = _OpenVideo(path)
        self._videos.pop(id(video), None)
        self._videos[id(video)] = video
        if first_time is not None:  # a read of frames (not a probe of the header)
            self._reads += 1
            video.last_read = self._reads
        return video

    def release(self, video: _OpenVideo, failed: bool = False) -> None:
        """After a read: close a failed video; keep the bounds (trimming old frames, closing the
        least recently used videos)."""
        if failed or self.max_videos <= 0:
            self._videos.pop(id(video), None)
            video.close()
        while len(self._videos) > max(self.max_videos, 0):
            _, old = self._videos.popitem(last=False)
            old.close()
        total = sum(v.nbytes for v in self._videos.values())
        for v in list(self._videos.values()):
            while total > self.max_bytes and v.window:
                total -= v.window.pop(0).nbytes
        for v in self._videos.values():
            if not v.window:
                v.frames = None  # nothing to continue from: the next read seeks

    def clear(self) -> None:
        """Close every open video."""
        while self._videos:
            self._videos.popitem()[1].close()


#: The per-process cache every :class:`PyAVVideoSource` reads through.
VIDEO_CACHE = VideoCache()
#: Decoded-frame bytes allowed per video that a worker reads runs of consecutive keyframes from at
#: once (``DATALOADER.CONSECUTIVE_KEYFRAMES_IN worker``: a clip's window of 360p YUV frames is
#: ~15-25 MB).
VIDEO_CACHE_BYTES_PER_RUN = 64 << 20


class PyAVVideoSource(FrameSource):
    """The first video stream of one file, read through the per-process :data:`VIDEO_CACHE`
    (safe in DataLoader workers: a forked process opens its own files).

    Args:
        path: the video file.
        duration: the stream's length in seconds if known (else read from the file's header).
        cache: the cache to read through (default: the process's).
    """

    def __init__(self, path: str, duration: float | None = None, cache: VideoCache | None = None):
        self.path = str(path)
        self._duration = duration
        self._cache = cache

    @property
    def cache(self) -> VideoCache:
        return self._cache if self._cache is not None else VIDEO_CACHE

    def _with_video(
        self,
        fn: Callable[[_OpenVideo], _T],
        first_time: Callable[[float], float] | None = None,
    ) -> _T:
        cache = self.cache
        cache.check_process()
        with cache.lock:
            video = cache.open(self.path, first_time)
            failed = True
            try:
                result = fn(video)
                failed = False
                return result
            except av.FFmpegError as e:
                raise InputFileError(self.path, None, f"cannot decode video: {e}") from e
            finally:
                cache.release(video, failed=failed)

    @property
    def duration(self) -> float:
        """Length of the video stream in seconds (from the file header; read once)."""
        if self._duration is None:
            self._duration = self._with_video(lambda v: v.duration)
        return self._duration

    def read_times(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Args: times: ``(T,)`` seconds. Returns: uint8 ``(T, H, W, 3)`` RGB."""
        times = np.asarray(times, dtype=np.float64)
        if times.size == 0:
            raise ValueError("read_times needs at least one time")
        clip = self._with_video(lambda v: v.read(times), lambda _: float(times.min()))
        assert isinstance(clip, np.ndarray)
        return clip

    def read_clip(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> np.ndarray:
        """As :meth:`FrameSource.read_clip`, opening the file once for the duration and the frames."""
        clip = self._read_clip(center_time, num_frames, stride, target_fps, lazy=False)
        assert isinstance(clip, np.ndarray)
        return clip

    def read_clip_lazy(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> YUVClip:
        """The clip of :meth:`read_clip` as decoded frames converted when read (a crop's
        transforms convert only the region they read)."""
        clip = self._read_clip(center_time, num_frames, stride, target_fps, lazy=True)
        assert isinstance(clip, YUVClip)
        return clip

    def _read_clip(
        self, center_time: float, num_frames: int, stride: int, target_fps: float, lazy: bool
    ) -> np.ndarray | YUVClip:
        def times_for(duration: float) -> np.ndarray:
            return clip_times(center_time, num_frames, stride, target_fps, duration)

        def read(video: _OpenVideo) -> np.ndarray | YUVClip:
            if self._duration is None:
                self._duration = video.duration
            return video.read(times_for(self._duration), convert="lazy" if lazy else True)

        def first_time(duration: float) -> float:
            return float(np.min(times_for(duration if self._duration is None else self._duration)))

        return self._with_video(read, first_time)


@register_frame_source("video")
def build_video_source(record: dict) -> PyAVVideoSource:
    """The record's ``video_path`` (its stream is probed for the duration on first use)."""
    if not record.get("video_path"):
        raise InputFileError(
            record.get("video_id", "<record>"),
            None,
            "INPUT.SOURCE='video' but the record has no video_path",
        )
    return PyAVVideoSource(record["video_path"])
