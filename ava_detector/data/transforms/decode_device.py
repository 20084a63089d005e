"""``INPUT.DECODE_DEVICE``: which values it takes, what a run's config gets wrong with it, and the
model-side decode of the workers' JPEG bytes (:func:`decode_clip_bytes`, one ``decode_jpeg`` call a
batch, then the clip ops of :mod:`~.device_clip`).
"""

from __future__ import annotations

import torch
from detectron2.config import CfgNode

from ava_detector.data.transforms.device_clip import apply_clip_ops
from ava_detector.data.video.jpeg_bytes import decode_encoded_frames

__all__ = [
    "CPU_BYTES",
    "WORKER_DECODE",
    "check_decode_device",
    "decode_clip_bytes",
    "decode_device_problems",
    "parse_decode_device",
]

#: the value that keeps decoding and transforms in the DataLoader workers (numpy / OpenCV)
WORKER_DECODE = "cpu"
#: the device path (bytes from the workers, decoded by the model) run on the CPU: same clips as "cpu"
CPU_BYTES = "cpu:bytes"


def parse_decode_device(value: str, *, check_available: bool = True) -> torch.device | None:
    """Validate ``INPUT.DECODE_DEVICE``: ``None`` for ``"cpu"`` (the workers decode), else the device
    the model decodes the workers' JPEG bytes on: ``"cpu:bytes"`` -> CPU, ``"cuda"`` / ``"cuda:N"``
    -> that GPU (``"cuda"``: the model's own). Anything else raises one ``ValueError`` saying what is
    accepted.

    Args:
        value: the config value.
        check_available: also require the CUDA device to exist (the model does; a mapper built where
            no GPU is visible need not).
    """
    text = str(value).strip()
    if text == WORKER_DECODE:
        return None
    if text == CPU_BYTES:
        return torch.device("cpu")
    accepted = (
        f"'{WORKER_DECODE}' (decode in the DataLoader workers), '{CPU_BYTES}' (the device "
        "path on the CPU) or 'cuda' / 'cuda:N'"
    )
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type != "cuda":
        raise ValueError(f"INPUT.DECODE_DEVICE={value!r} is not one of {accepted}")
    if check_available:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            raise ValueError(
                f"INPUT.DECODE_DEVICE={value!r} but {count} CUDA device(s) are visible; use "
                f"'{WORKER_DECODE}' to decode in the DataLoader workers"
            )
    return device


def decode_device_problems(cfg: CfgNode) -> list[tuple[str, str, str]]:
    """What is wrong with ``INPUT.DECODE_DEVICE`` for a run, as ``(level, key, message)`` with level
    ``"error"`` (an unknown value, a CUDA device that is not there) or ``"warning"`` (a device value
    with ``INPUT.SOURCE`` ``video``, or with ``INPUT.JPEG_REDUCED_DECODE``, which it ignores).

    Args:
        cfg: a config with ``add_ava_config``'s keys.
    """
    key = "INPUT.DECODE_DEVICE"
    try:
        device = parse_decode_device(cfg.INPUT.DECODE_DEVICE)
    except ValueError as err:
        return [("error", key, str(err))]
    if device is None:
        return []
    if cfg.INPUT.SOURCE != "frames":
        return [
            (
                "warning",
                key,
                f"{key}={cfg.INPUT.DECODE_DEVICE!r} applies to INPUT.SOURCE 'frames' "
                f"only; INPUT.SOURCE={cfg.INPUT.SOURCE!r} is decoded in the DataLoader workers",
            )
        ]
    if cfg.INPUT.get("JPEG_REDUCED_DECODE", False):
        return [
            (
                "warning",
                key,
                f"{key}={cfg.INPUT.DECODE_DEVICE!r} decodes JPEGs at full size; "
                "INPUT.JPEG_REDUCED_DECODE does not apply",
            )
        ]
    return []


def check_decode_device(cfg: CfgNode) -> None:
    """Config-time check of ``INPUT.DECODE_DEVICE``: raises ``ValueError`` on the errors of
    :func:`decode_device_problems`.

    Args:
        cfg: a config with ``add_ava_config``'s keys.
    """
    for level, _, message in decode_device_problems(cfg):
        if level == "error":
            raise ValueError(message)


def decode_clip_bytes(
    batched_inputs: list[dict], device: torch.device | str
) -> list[dict[str, torch.Tensor]]:
    """Decode and transform the ``clip_bytes`` of mapper dicts on ``device``, all frames of the batch in
    one ``decode_jpeg`` call.

    Args:
        batched_inputs: mapper dicts with ``clip_bytes`` (``{pathway: EncodedFrames}``; the pathways
            of one input share their bytes) and ``clip_transforms`` (the ops).
        device: where to decode and transform.

    Returns:
        Per input ``{pathway: uint8 (3, T, H', W')}`` on ``device``, the clips the CPU path's mapper
        gives for the same random draws.
    """
    groups: list = []  # distinct byte buffers: (input index, EncodedFrames)
    where: list[dict[str, int]] = []
    for i, x in enumerate(batched_inputs):
        seen: dict[int, int] = {}
        where.append({})
        for name, enc in x["clip_bytes"].items():
            key = id(enc.data)
            if key not in seen:
                seen[key] = len(groups)
                groups.append((i, enc))
            where[i][name] = seen[key]
    decoded = decode_encoded_frames([enc for _, enc in groups], device)
    frames = [
        apply_clip_ops(f, batched_inputs[i].get("clip_transforms", ()))
        for (i, _), f in zip(groups, decoded)
    ]
    out = []
    for i, x in enumerate(batched_inputs):
        clips = {}
        for name, enc in x["clip_bytes"].items():
            idx = enc.index.to(frames[where[i][name]].device)
            clips[name] = frames[where[i][name]][idx].permute(1, 0, 2, 3)
        out.append(clips)
    return out
