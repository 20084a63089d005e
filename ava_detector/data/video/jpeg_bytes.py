"""JPEG frames as undecoded bytes, for decoding on the model's device (``INPUT.DECODE_DEVICE``).

A DataLoader worker reads the files of a clip's distinct frames into one uint8 buffer
(:class:`EncodedFrames`) and checks their headers (size, format) with PIL, which decodes no pixel.
:func:`decode_encoded_frames` decodes many of them at once with ``torchvision.io.decode_jpeg`` on
any device (a list of buffers: nvJPEG batches them on CUDA; libjpeg-turbo on the CPU gives the same
pixels as ``cv2.imread``). Frame choice is exactly :class:`JpegFrameSource`'s: this source only
overrides what reading a frame means.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_jpeg

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.jpeg_source import (
    JpegFrameSource,
    jpeg_is_truncated,
    read_file_bytes,
    record_frames,
)

__all__ = [
    "EncodedFrames",
    "JpegBytesSource",
    "build_jpeg_bytes_source",
    "decode_encoded_frames",
    "read_jpeg_bytes",
]


@dataclass(frozen=True)
class EncodedFrames:
    """A clip's distinct JPEG frames, undecoded, and the order the clip shows them in.

    Attributes:
        data: uint8 ``(B,)``, the files' bytes one after another (one buffer: one shared-memory
            block between processes, however many frames).
        offsets: int64 ``(U + 1,)``, frame ``u``'s bytes are ``data[offsets[u]:offsets[u + 1]]``.
        paths: the ``U`` files, for error messages.
        index: int64 ``(T,)``, the distinct frame shown at each position of the clip.
        height, width: the frames' size (from the JPEG headers).
    """

    data: torch.Tensor
    offsets: torch.Tensor
    paths: tuple[str, ...]
    index: torch.Tensor
    height: int
    width: int

    def __len__(self) -> int:
        return int(self.index.numel())

    @property
    def num_distinct(self) -> int:
        return len(self.paths)

    def buffers(self) -> list[torch.Tensor]:
        """The ``U`` frames' bytes as 1-D uint8 views of :attr:`data`."""
        o = self.offsets.tolist()
        return [self.data[o[u] : o[u + 1]] for u in range(len(o) - 1)]

    def select(self, positions: torch.Tensor) -> EncodedFrames:
        """The clip at ``positions`` of this one (e.g. the Slow pathway's frames), sharing the bytes.

        Args:
            positions: int64 ``(T',)`` positions in ``[0, T)``.
        """
        return EncodedFrames(
            self.data, self.offsets, self.paths, self.index[positions], self.height, self.width
        )


def _jpeg_size(path: str, data: bytes) -> tuple[int, int]:
    """``(height, width)`` from a JPEG's header; :class:`InputFileError` if it is not a JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputFileError(
            path, None, f"frame file cannot be decoded (corrupt or not an image): {err}"
        ) from err
    if fmt != "JPEG":
        raise InputFileError(
            path, None, f"INPUT.DECODE_DEVICE decodes JPEG frames only, this is {fmt}"
        )
    return int(height), int(width)


def read_jpeg_bytes(
    paths: Sequence[str], index: np.ndarray | Sequence[int] | None = None
) -> EncodedFrames:
    """Read JPEG files into one buffer (no decoding); check they exist, are JPEGs and share a size.

    Args:
        paths: the ``U`` distinct files.
        index: int ``(T,)`` positions into ``paths`` of the clip's frames (default: each once).

    Returns:
        The :class:`EncodedFrames`; :class:`InputFileError` names a missing, truncated, non-JPEG or
        corrupt-header file, or the video whose frames differ in size.
    """
    chunks, sizes, offsets = [], set(), [0]
    for path in paths:
        path = str(path)
        data = read_file_bytes(path)
        if jpeg_is_truncated(data):
            raise InputFileError(
                path, None, "truncated JPEG (no end-of-image marker FF D9 at the end)"
            )
        sizes.add(_jpeg_size(path, data))
        chunks.append(data)
        offsets.append(offsets[-1] + len(data))
    if not chunks:
        raise ValueError("no frames to read")
    if len(sizes) > 1:
        raise InputFileError(
            str(paths[0]), None, f"frames of one video differ in size: {sorted(sizes)}"
        )
    ((height, width),) = sizes
    buf = torch.frombuffer(bytearray().join(chunks), dtype=torch.uint8)  # one copy
    idx = np.arange(len(chunks)) if index is None else np.asarray(index, dtype=np.int64)
    return EncodedFrames(
        buf,
        torch.tensor(offsets, dtype=torch.int64),
        tuple(str(p) for p in paths),
        torch.as_tensor(idx, dtype=torch.int64),
        height,
        width,
    )


class JpegBytesSource(JpegFrameSource):
    """:class:`JpegFrameSource` whose reads return :class:`EncodedFrames` instead of pixels.

    ``read_clip`` / ``read_times`` / ``read_indices`` pick exactly the frames the decoding source
    picks (the same code); each distinct file is read once.
    """

    def read_indices(self, indices: Sequence[int] | np.ndarray) -> EncodedFrames:  # type: ignore[override]
        """The frames at these 0-based timeline indices, undecoded.

        Args:
            indices: ``(T,)`` frame indices (repeats allowed).
        """
        order: dict[int, int] = {}
        for i in indices:
            i = int(i)
            if not 0 <= i < len(self.frames):
                raise IndexError(f"frame index {i} outside [0, {len(self.frames)})")
            order.setdefault(i, len(order))
        paths = [str(self.frames[i]) for i in order]
        return read_jpeg_bytes(paths, [order[int(i)] for i in indices])


def build_jpeg_bytes_source(record: dict) -> JpegBytesSource:
    """The record's ``frames`` at its ``fps``, read as bytes (``INPUT.SOURCE`` ``"frames"``)."""
    return JpegBytesSource(record_frames(record), record["fps"])


def decode_encoded_frames(
    clips: Sequence[EncodedFrames], device: torch.device | str
) -> list[torch.Tensor]:
    """Decode the distinct frames of many clips in one ``decode_jpeg`` call on ``device``.

    Args:
        clips: the clips (their :attr:`EncodedFrames.data` stay on the CPU).
        device: where to decode (``"cpu"``: libjpeg-turbo; ``"cuda"``: nvJPEG).

    Returns:
        One uint8 ``(U_i, 3, H_i, W_i)`` RGB tensor per clip, on ``device``, in
        :attr:`EncodedFrames.paths` order. A frame that does not decode raises
        :class:`InputFileError` naming its file.
    """
    buffers = [b for c in clips for b in c.buffers()]
    paths = [p for c in clips for p in c.paths]
    if not buffers:
        return []
    device = torch.device(device)
    try:
        frames = decode_jpeg(buffers, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        frames = []
        for buf, path in zip(buffers, paths):  # find the culprit
            try:
                frames.append(decode_jpeg(buf, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as err:
                raise InputFileError(path, None, f"frame file cannot be decoded: {err}") from err
    out, start = [], 0
    for c in clips:
        group = frames[start : start + c.num_distinct]
        start += c.num_distinct
        shapes = {tuple(f.shape) for f in group}
        if shapes != {(3, c.height, c.width)}:
            raise InputFileError(
                c.paths[0],
                None,
                f"decoded frames of {sorted(shapes)}, the headers say {c.height}x{c.width}",
            )
        out.append(torch.stack(group))
    return out
