"""data: clips/s of AVADatasetMapper per worker process, JPEG frames vs PyAV video decoding.

Writes a small synthetic AVA-format set with the project's generator (JPEG frames in the PySlowFast
layout and the same frames as H.264 mp4) in a temporary folder, or uses a registered dataset
(``--dataset``), then times the mapper over the same keyframes with each ``INPUT.SOURCE`` in one
process (what one DataLoader worker delivers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from tabulate import tabulate

from ava_detector.config import get_ava_cfg
from ava_detector.data.ava.builtin import register_synthetic_ava
from ava_detector.data.ava.synthetic import generate_synthetic_ava
from ava_detector.data.ava.synthetic_scene import SceneSpec
from ava_detector.data.mapper import AVADatasetMapper

_PREFIX = "benchmark_data_synthetic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=20, help="keyframes timed per source and mode")
    parser.add_argument("--videos", type=int, default=2, help="synthetic videos to write")
    parser.add_argument("--seconds", type=int, default=8, help="length of each synthetic video")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"),
                        help="synthetic frame size (AVA movies are mostly 360-480 p)")
    parser.add_argument("--dataset", default="", help="time a registered dataset instead (needs frames and video_path)")
    parser.add_argument("--arch", default="slowfast", help="MODEL.SLOWFAST.ARCH")
    parser.add_argument("--mode", default="both", choices=["test", "train", "both"], help="mapper mode(s)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config KEY VALUE overrides")


def synthetic_records(root: Path, videos: int, seconds: int, size: tuple[int, int]) -> list[dict]:
    """Records of a freshly generated synthetic AVA-format set (validation split) under ``root``."""
    spec = SceneSpec(height=size[0], width=size[1], duration=seconds)
    generate_synthetic_ava(root, train_videos=1, val_videos=videos, spec=spec, seed=0, force=True)
    register_synthetic_ava(root, prefix=_PREFIX)
    try:
        return DatasetCatalog.get(f"{_PREFIX}_val")
    finally:
        for split in ("train", "val"):
            DatasetCatalog.remove(f"{_PREFIX}_{split}")


def time_mapper(mapper: AVADatasetMapper, records: list[dict], n: int) -> float:
    """Clips per second over ``n`` records (cycled), after one warm-up call."""
    mapper(records[0])
    start = time.perf_counter()
    for i in range(n):
        mapper(records[i % len(records)])
    return n / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cfg = get_ava_cfg()
    cfg.MODEL.SLOWFAST.ARCH = args.arch
    cfg.merge_from_list(args.opts)
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset:
            records = DatasetCatalog.get(args.dataset)
            what = args.dataset
        else:
            t0 = time.perf_counter()
            records = synthetic_records(Path(tmp) / "ava", args.videos, args.seconds, tuple(args.size))
            what = (f"synthetic AVA {args.videos} x {args.seconds}s {args.size[0]}x{args.size[1]} "
                    f"(generated in {time.perf_counter() - t0:.1f}s)")
        records = [r for r in records if r.get("frames") and r.get("video_path")]
        if not records:
            raise SystemExit(f"{what}: no record has both frames and a video_path")
        np.random.seed(0)
        rows = []
        for mode in ("test", "train") if args.mode == "both" else (args.mode,):
            for source in ("frames", "video"):
                cfg.INPUT.SOURCE = source
                mapper = AVADatasetMapper(cfg, is_train=mode == "train")
                rate = time_mapper(mapper, records, args.records)
                rows.append([source, mode, f"{cfg.INPUT.NUM_FRAMES}x{cfg.INPUT.SAMPLING_RATE}", f"{rate:.2f}"])
    print(f"AVADatasetMapper, {what}, arch={args.arch}, 1 process (1 torch/cv2 thread):")
    print(tabulate(rows, headers=["source", "mode", "clip", "clips/s per worker"], tablefmt="github"))
    return 0
