"""data: clips/s of AVADatasetMapper per worker process, JPEG frames vs PyAV video decoding.

Writes a small numbered AVA-style set (30 fps JPEG folders in the PySlowFast layout and the same frames
as H.264 mp4) in a temporary folder, or uses a registered dataset (``--dataset``), then times the
mapper over the same keyframes with each ``INPUT.SOURCE`` in one process (one DataLoader worker).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tabulate import tabulate

from ava_detector.config import get_ava_cfg
from ava_detector.data.mapper import AVADatasetMapper
from ava_detector.data.video.synthetic import numbered_frame, write_jpeg_frames, write_mp4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=20, help="keyframes timed per source and mode")
    parser.add_argument("--videos", type=int, default=2, help="synthetic videos to write")
    parser.add_argument("--seconds", type=int, default=8, help="length of each synthetic video")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--gop", type=int, default=30, help="key frame interval of the mp4s (frames)")
    parser.add_argument("--dataset", default="", help="time a registered dataset instead (needs frames and video_path)")
    parser.add_argument("--arch", default="slowfast", help="MODEL.SLOWFAST.ARCH")
    parser.add_argument("--mode", default="both", choices=["test", "train", "both"], help="mapper mode(s)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config KEY VALUE overrides")


def synthetic_records(root: Path, videos: int, seconds: int, size: tuple[int, int], gop: int) -> list[dict]:
    """Records (docs/interfaces.md) for ``videos`` numbered videos, keyframes at seconds 1..seconds-1."""
    height, width = size
    records = []
    for v in range(videos):
        vid = f"bench{v:02d}"
        frames = [numbered_frame(i + 1000 * v, height, width) for i in range(seconds * 30)]
        paths = write_jpeg_frames(root / "frames" / vid, vid, frames)
        video = write_mp4(root / "videos" / f"{vid}.mp4", frames, 30, gop=gop, crf=18)
        for sec in range(1, seconds):
            records.append({
                "video_id": vid, "sec": sec, "image_id": f"{vid},{sec:04d}", "fps": 30.0,
                "start_sec": 0.0, "keyframe_index": sec * 30, "source": "frames", "frames": paths,
                "video_path": video, "height": height, "width": width,
                "boxes": np.array([[0.1, 0.2, 0.4, 0.9], [0.5, 0.1, 0.9, 0.8]], dtype=np.float32),
                "labels": np.eye(80, dtype=np.float32)[[11, 13]],
                "scores": np.ones(2, dtype=np.float32), "is_gt": np.ones(2, dtype=bool),
            })
    return records


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
            from detectron2.data import DatasetCatalog

            records = [r for r in DatasetCatalog.get(args.dataset) if r.get("frames") and r.get("video_path")]
            what = args.dataset
        else:
            t0 = time.perf_counter()
            records = synthetic_records(Path(tmp), args.videos, args.seconds, tuple(args.size), args.gop)
            what = f"synthetic {args.videos}x{args.seconds}s {args.size[0]}x{args.size[1]} (written in {time.perf_counter() - t0:.1f}s)"
        if not records:
            raise SystemExit(f"{args.dataset}: no record has both frames and a video_path")
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
