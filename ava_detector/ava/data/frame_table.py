"""Frame paths of every video of a frame list, held once per process; records refer to them.

A record's ``frames`` is a :class:`VideoFrames`: a small handle (frame list, video, first row, count)
that behaves as a read-only sequence of absolute frame paths. The paths themselves live in one
:class:`FrameTable` per frame list and process, as two numpy buffers (the UTF-8 bytes of all relative
paths and their offsets), so

- pickling a record (Detectron2's ``DatasetFromList`` serialises each one) costs a few dozen bytes for
  its frames instead of the video's whole list (27,030 paths in AVA);
- DataLoader workers forked from the process that built the records share the buffers' pages: reading
  a path touches no Python object of the table, so nothing is copied on write;
- a process that unpickles a handle without having built the table (a spawned worker) reads the frame
  list once, on first use.

Reading is vectorised with pyarrow's CSV reader; text it cannot read as five single-space-separated
columns goes through :func:`~ava_detector.ava.data.frame_lists.parse_frame_list`, which accepts every
layout the format allows and names the line of a malformed row.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import SupportsIndex, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ava_detector.ava.data.frame_lists import (
    FRAME_LIST_HEADER,
    parse_frame_list,
)
from ava_detector.data.errors import InputFileError

__all__ = ["FrameTable", "VideoFrames", "check_inside_root", "frame_table", "read_frame_table"]

logger = logging.getLogger(__name__)

_COLUMNS = ["original_video_id", "video_id", "frame_id", "path", "labels"]


class FrameTable(Mapping):
    """``{video_id: VideoFrames}`` of one frame list, backed by numpy buffers.

    Args:
        video_ids: the videos in order of first appearance in the list.
        video_starts: int64 ``(V + 1,)``: rows ``video_starts[v]:video_starts[v + 1]`` are video ``v``'s
            frames in timeline order.
        offsets: int64 ``(N + 1,)``: row ``i``'s relative path is ``data[offsets[i]:offsets[i + 1]]``.
        data: uint8 ``(offsets[-1],)``: the UTF-8 bytes of every relative path, concatenated.
        frames_dir: the folder relative paths are joined to (an absolute path in the list stays).
        key: ``(frame list path, frames_dir)``, what a :class:`VideoFrames` handle names the table by.
    """

    def __init__(
        self,
        video_ids: Sequence[str],
        video_starts: np.ndarray,
        offsets: np.ndarray,
        data: np.ndarray,
        frames_dir: str,
        key: tuple[str, str],
    ) -> None:
        self.video_ids = list(video_ids)
        self.video_starts = np.asarray(video_starts, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.data = data
        self.frames_dir = str(frames_dir)
        self.key = key
        self._index = {v: i for i, v in enumerate(self.video_ids)}
        self.checked_inside = False  # whether no path leaves frames_dir (see frame_table)
        if len(self.video_starts) != len(self.video_ids) + 1:
            raise ValueError("video_starts needs one entry per video plus one")

    @property
    def num_frames(self) -> int:
        """Rows of the frame list (all videos)."""
        return int(self.video_starts[-1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        return int(self.offsets.nbytes + self.data.nbytes + self.video_starts.nbytes)

    def path(self, row: int) -> str:
        """The absolute path of frame-list row ``row`` (0-based over all videos)."""
        rel = self.data[self.offsets[row] : self.offsets[row + 1]].tobytes().decode("utf-8")
        return os.path.join(self.frames_dir, rel)

    def rows_leaving_root(self) -> list[int]:
        """Rows whose relative path is absolute or climbs out of ``frames_dir`` (see
        :func:`~ava_detector.data.paths.leaves_root`). Vectorised: only rows that start with ``/`` or
        ``\\``, have a drive letter, or hold ``..`` are looked at one by one."""
        from ava_detector.data.paths import leaves_root

        data, starts = self.data, self.offsets[:-1]
        n = len(starts)
        if n == 0:
            return []
        first = (
            data[np.minimum(starts, max(len(data) - 1, 0))] if len(data) else np.zeros(n, np.uint8)
        )
        second = data[np.minimum(starts + 1, max(len(data) - 1, 0))] if len(data) else first
        candidate = (first == ord("/")) | (first == ord("\\")) | (second == ord(":"))
        buf = data.tobytes()  # bytes.find scans at memchr speed (elementwise compares do not)
        dots = []
        at = buf.find(b"..")
        while at >= 0:
            dots.append(at)
            at = buf.find(b"..", at + 1)
        candidate[np.searchsorted(self.offsets, np.asarray(dots, np.int64), side="right") - 1] = (
            True
        )
        return [
            int(r)
            for r in np.flatnonzero(candidate)
            if leaves_root(self.data[self.offsets[r] : self.offsets[r + 1]].tobytes().decode())
        ]

    def __getitem__(self, video_id: str) -> VideoFrames:
        v = self._index[video_id]
        start = int(self.video_starts[v])
        return VideoFrames(self.key, video_id, start, int(self.video_starts[v + 1]) - start, self)

    def __iter__(self) -> Iterator[str]:
        return iter(self.video_ids)

    def __len__(self) -> int:
        return len(self.video_ids)

    @classmethod
    def from_lists(
        cls, videos: Mapping[str, Sequence[str]], frames_dir: str, key: tuple[str, str]
    ) -> FrameTable:
        """A table of ``{video_id: [relative path, ...]}`` (the slow parser's output)."""
        encoded = [p.encode("utf-8") for paths in videos.values() for p in paths]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        counts = np.array([len(p) for p in videos.values()], dtype=np.int64)
        starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return cls(list(videos), starts, offsets, data, frames_dir, key)


class VideoFrames(Sequence[str]):
    """One video's absolute frame paths in timeline order: a handle into a :class:`FrameTable`.

    Pickles as ``(table key, video id, first row, count)``; the table is looked up (or read) in the
    process that uses it. Indexing takes an int (negative counts from the end) or a slice (a list).

    Args:
        key: the table's key (frame list path, frames folder), as :func:`frame_table` takes it.
        video_id: the video.
        start: the table row of the video's first frame.
        count: the video's number of frames.
        table: the table itself, when at hand (otherwise looked up on first use).
    """

    # (the frame count is ``num_frames``: ``count`` is the Sequence method)
    __slots__ = ("key", "video_id", "start", "num_frames", "_table")

    def __init__(
        self,
        key: tuple[str, str],
        video_id: str,
        start: int,
        count: int,
        table: FrameTable | None = None,
    ) -> None:
        self.key = key
        self.video_id = video_id
        self.start = int(start)
        self.num_frames = int(count)
        self._table = table

    def __reduce__(self) -> tuple[type[VideoFrames], tuple[tuple[str, str], str, int, int]]:
        return (VideoFrames, (self.key, self.video_id, self.start, self.num_frames))

    def _resolve(self) -> FrameTable:
        if self._table is None:
            table = frame_table(*self.key)
            v = table._index.get(self.video_id)
            if (
                v is None
                or int(table.video_starts[v]) != self.start
                or len(table[self.video_id]) != self.num_frames
            ):
                raise InputFileError(
                    self.key[0],
                    None,
                    f"video {self.video_id!r} no longer has the {self.num_frames} frames the records were "
                    "built with (the frame list changed on disk)",
                )
            self._table = table
        return self._table

    def __len__(self) -> int:
        return self.num_frames

    @overload
    def __getitem__(self, i: SupportsIndex) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.num_frames))]
        i = int(i)
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise IndexError(
                f"frame index {i} outside [0, {self.num_frames}) of video {self.video_id!r}"
            )
        return self._resolve().path(self.start + i)

    def __iter__(self) -> Iterator[str]:
        table = self._resolve()
        return (table.path(r) for r in range(self.start, self.start + self.num_frames))

    def __repr__(self) -> str:
        return f"VideoFrames({self.video_id!r}, {self.num_frames} frames of {self.key[0]})"


def _header_line(head: bytes, path: str | Path) -> int:
    """1-based line of the header (leading blank lines allowed); raises on a wrong or missing one."""
    for line_no, line in enumerate(head.split(b"\n"), start=1):
        if line.strip():
            if line.decode("utf-8", "replace").split() != FRAME_LIST_HEADER.split():
                raise InputFileError(path, line_no, f"expected the header {FRAME_LIST_HEADER!r}")
            return line_no
    raise InputFileError(path, None, "empty frame list (expected a header line)")


def _offsets(chunk: pa.LargeStringArray) -> np.ndarray:
    """The int64 ``(len + 1,)`` offsets of a large-string array into its data buffer (zero-copy)."""
    buf = chunk.buffers()[1]
    return np.frombuffer(buf, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]


def _read_fast(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None:
    """(video names in order of appearance, int32 video code per row, int64 path offsets, uint8 path
    bytes) of a frame list whose header is its first line and whose rows are five single-space-
    separated columns with integer frame ids, read in blocks by pyarrow; ``None`` otherwise."""
    try:
        reader = pacsv.open_csv(
            str(path),
            read_options=pacsv.ReadOptions(column_names=_COLUMNS, skip_rows=1, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char='"'),
            convert_options=pacsv.ConvertOptions(
                include_columns=["original_video_id", "frame_id", "path"],
                column_types={
                    "original_video_id": pa.string(),
                    "frame_id": pa.int64(),
                    "path": pa.large_string(),
                },
                strings_can_be_null=False,
            ),
        )
        names: dict[str, int] = {}
        codes: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        parts: list[np.ndarray] = []
        for batch in reader:
            videos, paths = batch.column(0), batch.column(2)
            if videos.null_count or paths.null_count or batch.column(1).null_count:
                return None
            if not len(paths):
                continue
            off = _offsets(paths)
            if np.any(np.diff(off) == 0):  # an empty path
                return None
            encoded = pc.dictionary_encode(videos)
            local = np.array(
                [names.setdefault(n, len(names)) for n in encoded.dictionary.to_pylist()],
                dtype=np.int32,
            )
            codes.append(local[encoded.indices.to_numpy(zero_copy_only=False)])
            lengths.append(np.diff(off))
            # A copy: the batch's strings may point into the whole parsed block (every column).
            parts.append(np.frombuffer(paths.buffers()[2], dtype=np.uint8)[off[0] : off[-1]].copy())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    data = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    del parts
    length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.zeros(len(length) + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    code = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    return list(names), code, offsets, data


def _group_by_video(
    n_videos: int, codes: np.ndarray, offsets: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(video starts, offsets, data) with each video's rows contiguous, in row order within a video."""
    runs = int(np.count_nonzero(np.diff(codes))) + 1 if len(codes) else 0
    if runs != n_videos:  # some video's rows are interleaved with another's
        order = np.argsort(codes, kind="stable")
        array = pa.LargeStringArray.from_buffers(
            len(codes), pa.py_buffer(offsets), pa.py_buffer(data)
        )
        array = pc.take(array, pa.array(order))
        _, off_buf, data_buf = array.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int64)[: len(codes) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8)[: offsets[-1]] if data_buf else data[:0]
        codes = codes[order]
    starts = np.zeros(n_videos + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=n_videos), out=starts[1:])
    return starts, offsets, data


def read_frame_table(path: str | Path, frames_dir: str | Path = "") -> FrameTable:
    """Read a frame-list file into a :class:`FrameTable` (relative paths joined to ``frames_dir``).

    Args:
        path: the frame list; named in errors and, with ``frames_dir``, the table's key.
        frames_dir: the folder the list's relative paths are relative to.
    """
    key = (str(path), str(frames_dir))
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError as e:
        raise InputFileError(path, None, f"cannot read frame list: {e.strerror}") from None
    fast = _read_fast(path) if _header_line(head, path) == 1 else None
    if fast is None:
        text = Path(path).read_bytes().decode("utf-8", "replace")
        return FrameTable.from_lists(parse_frame_list(text, path), str(frames_dir), key)
    names, codes, offsets, data = fast
    starts, offsets, data = _group_by_video(len(names), codes, offsets, data)
    return FrameTable(names, starts, offsets, data, str(frames_dir), key)


_TABLES: dict[tuple[str, str], tuple[tuple[int, int], FrameTable]] = {}
_LOCK = threading.Lock()


def _line_of(frame_list: str | Path, rel_path: str) -> int | None:
    """1-based line of the first row of ``frame_list`` whose path field is ``rel_path``."""
    data = Path(frame_list).read_bytes()
    needle = rel_path.encode("utf-8")
    for sep in (b" ", b"\t"):
        at = data.find(sep + needle + sep)
        if at >= 0:
            return data.count(b"\n", 0, at) + 1
    return None


def check_inside_root(
    table: FrameTable, frame_list: str | Path, allow_outside: bool = False
) -> None:
    """Refuse a frame list with a path that leaves its frames folder, naming the file and the line,
    unless ``allow_outside`` (``AVA.ALLOW_PATHS_OUTSIDE_ROOT``)."""
    if allow_outside:
        return
    bad = table.rows_leaving_root()
    if bad:
        rel = table.data[table.offsets[bad[0]] : table.offsets[bad[0] + 1]].tobytes().decode()
        raise InputFileError(
            frame_list,
            _line_of(frame_list, rel),
            f"path {rel!r} points outside the frames folder {table.frames_dir!r} "
            f"({len(bad)} such rows); set AVA.ALLOW_PATHS_OUTSIDE_ROOT True to allow it",
        )


def frame_table(
    frame_list: str | Path, frames_dir: str | Path, allow_outside: bool = True
) -> FrameTable:
    """The :class:`FrameTable` of ``frame_list`` in this process: read once, read again only when the
    file changed (size or modification time). With ``allow_outside`` False, a path leaving
    ``frames_dir`` is an :class:`InputFileError` (checked once per table)."""
    key = (str(frame_list), str(frames_dir))
    try:
        st = os.stat(frame_list)
    except OSError as e:
        raise InputFileError(frame_list, None, f"cannot read frame list: {e.strerror}") from None
    stamp = (st.st_size, st.st_mtime_ns)
    with _LOCK:
        cached = _TABLES.get(key)
        if cached is not None and cached[0] == stamp:
            table = cached[1]
        else:
            table = read_frame_table(frame_list, frames_dir)
            _TABLES[key] = (stamp, table)
            logger.debug(
                "Frame list %s: %d videos, %d frames", frame_list, len(table), table.num_frames
            )
        if not allow_outside and not table.checked_inside:
            check_inside_root(table, frame_list)
            table.checked_inside = True
        return table
