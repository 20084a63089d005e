"""Numbered test videos: frames whose pixels encode their own index, as JPEG folders or H.264 mp4.

Decoding a frame's number back (:func:`read_frame_number`) tells which frame a source returned, so
tests and benchmarks can check timing without trusting frame counts. The code survives JPEG and
H.264 compression and resizing (wide black/white bars), not flips or crops.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

# Bits of the frame number (up to 4095) drawn as bars across the top half of the frame.
NUM_BITS = 12


def numbered_frame(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB: top half = ``index`` in binary bars (bit 0 leftmost), bottom half a
    colour gradient that shifts with ``index``."""
    if width < NUM_BITS * 4 or height < 8:
        raise ValueError(f"need width >= {NUM_BITS * 4} and height >= 8, got {width}x{height}")
    img = np.zeros((height, width, 3), dtype=np.uint8)
    for b in range(NUM_BITS):
        if (index >> b) & 1:
            img[: height // 2, b * width // NUM_BITS : (b + 1) * width // NUM_BITS] = 255
    ys, xs = np.mgrid[0 : height - height // 2, 0:width]
    img[height // 2 :, :, 0] = (xs * 255 // max(1, width - 1)).astype(np.uint8)
    img[height // 2 :, :, 1] = (ys * 255 // max(1, height // 2)).astype(np.uint8)
    img[height // 2 :, :, 2] = (index * 37) % 256
    return img


def read_frame_number(img: np.ndarray) -> int:
    """The index :func:`numbered_frame` drew into ``img`` (any size, RGB or BGR)."""
    height, width = img.shape[:2]
    bar = width / NUM_BITS
    top = img[: height // 2].astype(np.float32).mean(axis=2)
    value = 0
    for b in range(NUM_BITS):
        x0, x1 = int(b * bar + bar / 4), int((b + 1) * bar - bar / 4)
        if top[height // 8 : 3 * height // 8, x0 : max(x1, x0 + 1)].mean() > 127:
            value |= 1 << b
    return value


def write_jpeg_frames(
    folder: str | Path, video_id: str, frames: Iterable[np.ndarray], quality: int = 95
) -> list[str]:
    """Write RGB frames as ``folder/<video_id>_%06d.jpg`` (1-based, PySlowFast layout) at JPEG
    ``quality``; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames, start=1):
        path = folder / f"{video_id}_{i:06d}.jpg"
        tmp = folder / f".{video_id}_{i:06d}.tmp.jpg"
        if not cv2.imwrite(
            str(tmp),
            cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
        ):
            raise OSError(f"cannot write {tmp}")
        os.replace(tmp, path)
        paths.append(str(path))
    return paths


def _pink_texture(height: int, width: int, rng: np.random.Generator, beta: float) -> np.ndarray:
    """float32 ``(H, W, 3)`` noise of unit variance whose amplitude falls as ``1 / f**beta`` (natural
    images: beta ~ 1-2), channels correlated as in real colour pictures."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.sqrt(fx**2 + fy**2)
    freq[0, 0] = 1.0
    planes = []
    for _ in range(3):
        spectrum = (
            rng.standard_normal(freq.shape) + 1j * rng.standard_normal(freq.shape)
        ) / freq**beta
        spectrum[0, 0] = 0.0
        planes.append(np.fft.irfft2(spectrum, s=(height, width)))
    img = np.stack(planes, axis=-1) @ np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.6], [0.4, 0.6, 1.0]])
    return ((img - img.mean()) / img.std()).astype(np.float32)


def natural_frames(
    num_frames: int, height: int = 360, width: int = 640, *, seed: int = 0, noise: float = 2.0
) -> Iterator[np.ndarray]:
    """Frames that compress like real footage: a ``1/f``-spectrum texture under a panning camera,
    three textured ellipses moving across it, and per-frame sensor noise. At 640x360 a frame is
    ~40 KB as a quality-90 JPEG (a noise-free gradient would be a few KB and decode unrealistically
    fast). Deterministic for a ``seed``.

    Args:
        num_frames: how many frames to yield.
        height, width: the frame size.
        seed: the random seed.
        noise: the sensor noise's standard deviation in grey levels.

    Yields:
        uint8 ``(height, width, 3)`` RGB frames.
    """
    rng = np.random.default_rng(seed)
    pad = max(32, min(height, width) // 4)
    background = _pink_texture(height + 2 * pad, width + 2 * pad, rng, 1.65)
    objects = []
    for k in range(3):
        oh, ow = height // (3 + k), width // (4 + k)
        ys, xs = np.mgrid[0:oh, 0:ow]
        mask = (((ys - oh / 2) / (oh / 2)) ** 2 + ((xs - ow / 2) / (ow / 2)) ** 2) <= 1.0
        tex = _pink_texture(oh, ow, rng, 1.4) * 40.0 + rng.uniform(60, 200, size=3).astype(
            np.float32
        )
        objects.append(
            (mask, tex, rng.uniform([0, 0], [height - oh, width - ow]), rng.uniform(-4, 4, 2))
        )
    for i in range(num_frames):
        phase = i / 90.0  # the camera pans back and forth within the padding
        dy = int(round(pad * (1 + np.sin(2 * np.pi * phase * 0.7)) * 0.9))
        dx = int(round(pad * (1 + np.sin(2 * np.pi * phase)) * 0.9))
        frame = 128.0 + 48.0 * background[dy : dy + height, dx : dx + width]
        for mask, tex, start, velocity in objects:
            oh, ow = mask.shape
            span = np.array([height - oh, width - ow], dtype=np.float64)
            pos = np.abs((start + velocity * i) % (2 * span) - span)  # bounce off the borders
            y, x = int(span[0] - pos[0]), int(span[1] - pos[1])
            region = frame[y : y + oh, x : x + ow]
            region[mask] = tex[mask]
        frame += rng.normal(0.0, noise, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8)
