"""Training-step throughput: clips/s and peak GPU memory of a config at a batch size, AMP on/off.

Runs ``VideoTrainLoop`` (the trainer's own step: autocast, grad scaler, clipping, SGD) on one random
in-memory batch of the config's training input (``TRAIN_CROP_SIZE``, ``NUM_FRAMES``), so the figure
is the model + optimizer cost without data loading (see ``benchmark.py data`` for that).

``--decode-device cuda`` (or ``cpu:bytes``, any ``INPUT.DECODE_DEVICE`` value): the batch is JPEG bytes
of ``--frame-size`` frames with the training recipe's sampled transforms, as the workers deliver it
with that setting, so every step also decodes and transforms on the device; the decode + transforms
time alone is printed too.
"""

from __future__ import annotations

import argparse
import itertools
import time

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data.transforms import AugmentationList
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from tabulate import tabulate

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.ava.trainer import AVATrainer
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.transforms.augmentation import build_clip_augmentation
from ava_detector.data.transforms.decode_device import (
    parse_decode_device,
)
from ava_detector.data.transforms.device_clip import (
    ShapeAugInput,
    device_augmentations,
)
from ava_detector.data.video.jpeg_bytes import EncodedFrames
from ava_detector.data.video.sampling import pathway_indices
from ava_detector.data.video.synthetic import numbered_frame
from ava_detector.engine.train_loop import (
    VideoTrainLoop,
    amp_dtype,
)
from ava_detector.modeling.video_model import VideoModel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config, e.g. configs/ava_slowfast_r101.yaml"
    )
    parser.add_argument("--batch", type=int, default=8, help="clips per step")
    parser.add_argument("--boxes", type=int, default=4, help="person boxes per clip")
    parser.add_argument("--iters", type=int, default=30, help="timed steps (after --warmup steps)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--amp", choices=["on", "off", "both"], default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--decode-device",
        default="",
        help="INPUT.DECODE_DEVICE for the batch: 'cuda', 'cpu:bytes' = JPEG bytes decoded "
        "and transformed in every step; '' or 'cpu' = decoded clips (default)",
    )
    parser.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=[360, 480],
        metavar=("H", "W"),
        help="size of the JPEG frames with --decode-device",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def make_batch(cfg: CfgNode, batch: int, boxes: int, seed: int = 0) -> list[dict]:
    """Random uint8 clips of the config's training input with ``boxes`` labelled boxes each."""
    g = torch.Generator().manual_seed(seed)
    size, t, alpha = cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.NUM_FRAMES, cfg.MODEL.SLOWFAST.ALPHA
    frames = {
        "slowfast": {"slow": t // alpha, "fast": t},
        "slow": {"slow": t // alpha},
        "fast": {"fast": t},
    }[cfg.MODEL.SLOWFAST.ARCH]
    out = []
    for _ in range(batch):
        xy = torch.rand(boxes, 2, generator=g) * size / 2
        wh = torch.rand(boxes, 2, generator=g) * size / 2 + 8
        inst = Instances(
            (size, size),
            proposal_boxes=Boxes(torch.cat([xy, xy + wh], 1)),
            gt_actions=(torch.rand(boxes, 80, generator=g) < 0.05).float(),
        )
        clips = {
            p: torch.randint(0, 256, (3, n, size, size), generator=g, dtype=torch.uint8)
            for p, n in frames.items()
        }
        out.append({"clips": clips, "instances": inst, "height": size, "width": size})
    return out


def make_encoded_batch(
    cfg: CfgNode, batch: int, boxes: int, frame_size: tuple[int, int], seed: int = 0
) -> list[dict]:
    """A batch as the AVA mapper gives it with ``INPUT.DECODE_DEVICE`` on the device: per clip
    ``NUM_FRAMES`` distinct JPEG frames (quality 95, ``frame_size``), the training recipe's transforms
    sampled on them (``clip_transforms``) and ``boxes`` labelled boxes moved with them.

    Args:
        cfg: the config (``INPUT`` recipe, ``MODEL.SLOWFAST.ARCH`` / ``ALPHA``).
        batch: clips.
        boxes: boxes per clip.
        frame_size: ``(H, W)`` of the frames.
        seed: seeds the frames, boxes and transform draws.
    """
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    height, width = frame_size
    t, alpha, arch = cfg.INPUT.NUM_FRAMES, cfg.MODEL.SLOWFAST.ALPHA, cfg.MODEL.SLOWFAST.ARCH
    augs = AugmentationList(device_augmentations(build_clip_augmentation(cfg, is_train=True)))
    out = []
    for b in range(batch):
        chunks = []
        for i in range(t):
            rgb = numbered_frame(b * t + i, height, width).astype(np.int16)
            rgb = np.clip(rgb + rng.integers(-8, 9, rgb.shape), 0, 255).astype(
                np.uint8
            )  # sensor noise
            ok, buf = cv2.imencode(
                ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
            )
            chunks.append(buf.tobytes())
        offsets = torch.tensor(np.cumsum([0] + [len(c) for c in chunks]), dtype=torch.int64)
        data = torch.frombuffer(bytearray(b"".join(chunks)), dtype=torch.uint8)
        enc = EncodedFrames(
            data,
            offsets,
            tuple(f"synthetic_{b}_{i}.jpg" for i in range(t)),
            torch.arange(t),
            height,
            width,
        )
        xy = rng.random((boxes, 2)) * np.array([width, height]) / 2
        wh = rng.random((boxes, 2)) * np.array([width, height]) / 2 + 8
        shape_input = ShapeAugInput(
            height, width, boxes=np.concatenate([xy, xy + wh], 1).astype(np.float32)
        )
        augs(shape_input)
        inst = Instances(
            shape_input.image_size,
            proposal_boxes=Boxes(torch.as_tensor(shape_input.boxes, dtype=torch.float32)),
            gt_actions=torch.as_tensor(rng.random((boxes, 80)) < 0.05, dtype=torch.float32),
        )
        inst.proposal_boxes.clip(shape_input.image_size)
        pathways = {
            "slowfast": {"slow": enc.select(pathway_indices(t, alpha)), "fast": enc},
            "slow": {"slow": enc},
            "fast": {"fast": enc},
        }[arch]
        out.append(
            {
                "clip_bytes": pathways,
                "clip_transforms": tuple(shape_input.ops),
                "instances": inst,
                "height": height,
                "width": width,
            }
        )
    return out


def measure_decode(model: VideoModel, data: list[dict], iters: int, warmup: int) -> float:
    """Seconds per batch of ``model.input_clips`` alone (decode + transforms on the device)."""
    cuda = model.device.type == "cuda"
    for i in range(warmup + iters):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        model.input_clips(data)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / max(iters, 1)


def measure(
    cfg: CfgNode,
    batch: int,
    boxes: int,
    iters: int,
    warmup: int,
    amp: bool,
    frame_size: tuple[int, int] = (360, 480),
) -> dict[str, float]:
    """Seconds per step, clips/s and peak memory (GiB, CUDA only) of ``iters`` training steps; with
    ``INPUT.DECODE_DEVICE`` on the device the steps decode JPEG bytes and ``"decode s"`` is the
    decode + transforms time per batch alone."""
    model = AVATrainer.build_model(cfg)
    optimizer = AVATrainer.build_optimizer(cfg, model)
    encoded = parse_decode_device(cfg.INPUT.DECODE_DEVICE) is not None
    if encoded:
        data = make_encoded_batch(cfg, batch, boxes, frame_size)
    else:
        data = make_batch(cfg, batch, boxes)
    cuda = str(cfg.MODEL.DEVICE).startswith("cuda")
    loop = VideoTrainLoop(
        model,
        itertools.repeat(data),
        optimizer,
        seed=0,
        amp=amp and cuda,
        dtype=amp_dtype(cfg.SOLVER.AMP.DTYPE),
    )
    with EventStorage() as storage:
        for i in range(warmup + iters):
            if i == warmup:
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
            loop.iter = storage.iter = i
            loop.run_step()
        if cuda:
            torch.cuda.synchronize()
    sec = (time.perf_counter() - start) / max(iters, 1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    decode = measure_decode(model, data, iters, min(warmup, 1)) if encoded else float("nan")
    return {"s/step": sec, "clips/s": batch / sec, "peak GiB": peak, "decode s": decode}


def run(args: argparse.Namespace) -> int:
    cfg = get_ava_cfg()
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    if args.decode_device:
        cfg.INPUT.DECODE_DEVICE = args.decode_device
    encoded = parse_decode_device(cfg.INPUT.DECODE_DEVICE) is not None
    rows = []
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.amp]
    for amp in modes:
        r = measure(
            cfg, args.batch, args.boxes, args.iters, args.warmup, amp, tuple(args.frame_size)
        )
        label = (
            f"AMP {cfg.SOLVER.AMP.DTYPE}"
            if amp and args.device.startswith("cuda")
            else ("fp32" if not amp else "fp32 (AMP needs CUDA)")
        )
        row = [
            label,
            args.batch,
            f"{r['s/step']:.3f}",
            f"{r['clips/s']:.2f}",
            f"{r['peak GiB']:.2f}",
        ]
        rows.append(row + ([f"{r['decode s']:.3f}"] if encoded else []))
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    where = (
        f"JPEG {args.frame_size[0]}x{args.frame_size[1]} decoded and transformed on "
        f"{cfg.INPUT.DECODE_DEVICE} in every step"
        if encoded
        else "decoded clips in memory"
    )
    print(
        f"config {args.config} on {args.device} "
        f"({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'CPU'}), input: {where}"
    )
    headers = ["precision", "batch", "s/step", "clips/s", "peak GiB"] + (
        ["decode s/batch"] if encoded else []
    )
    print(tabulate(rows, headers=headers))
    return 0
