"""data: clips/s of AVADatasetMapper per core, JPEG frames vs PyAV video, against a decode-only floor and PySlowFast.

Writes a realistic frame set in a temporary folder (natural-looking 640x360 frames, quality-90
JPEGs of ~40 KB in the PySlowFast layout, and the same frames as an x264 mp4 with a key frame every
250 frames and B-frames), or uses a registered dataset (``--dataset``). Then, in one process with one
torch/OpenCV thread (what one DataLoader worker on one core delivers), it times over the same
keyframes, interleaved call by call (A B C A B C ...), in CPU seconds of the process:

- ``frames``: the mapper with ``INPUT.SOURCE frames``;
- ``frames, resized grid``: train mode, the same with ``INPUT.TRAIN_CROP_GRID resized`` (the whole
  frame resized, then cropped) beside the default ``source`` grid (only the window resized);
- ``video``: the mapper with ``INPUT.SOURCE video``; in train mode every clip opens its video
  afresh (what a worker of a shuffled loader over AVA's hundreds of videos gets: the few videos it
  keeps open almost never hold the next clip; the generated set's two videos would otherwise stay
  open and let clips continue by chance);
- ``video, training cut``: the same, from the videos re-encoded as ``data_prep/prepare_ava.py cut``
  writes them by default (:class:`~ava_detector.data.video.transcode.ClipEncoding`: a key frame
  where each clip starts, unreferenced B-frames between the sampled frames, x264's fastdecode);
- ``video, runs of L``: train mode, the video source with ``DATALOADER.CONSECUTIVE_KEYFRAMES L``
  (``--runs``): the keyframes in shuffled runs of L consecutive ones of a video, each run in time
  order, through a cache of one open video (all a run needs; a worker over AVA's videos almost
  never has the next run's video open);
- ``video, runs of L over batches of B``: the same runs with ``DATALOADER.CONSECUTIVE_KEYFRAMES_IN
  worker`` (``--lanes B``): a run's keyframes one per batch of one worker, B runs read in turn
  through a cache of B open videos, a file open once per run that reads it (what the trainer sets;
  give ``--videos`` well above B, or runs meet in one video far more often than among AVA's);
- ``video, runs of L over batches of B, one copy a file``: the same with a file open once at
  most: runs that meet in one video take turns seeking;
- ``floor``: only ``cv2.imread`` of the clip's JPEG files (the decoding every JPEG loader pays);
- ``video floor``: only the PyAV decoding the video source does for the clip (seeking or continuing
  as it does, through a cache of its own, unreferenced frames skipped the same way), without the
  YUV -> RGB conversion and the transforms: what any exact reader of these files pays;
- ``pyslowfast``: with ``--pyslowfast PATH``, PySlowFast's own ``Ava`` dataset ``__getitem__`` from
  the user's checkout at PATH, fed the same frames, keyframes and boxes (its "train" and "test"
  splits, OpenCV backend, its default AVA settings).

Test mode reads the keyframes in order (one worker through an inference loader; ``--workers W``:
every W-th, what one of W workers gets); train mode shuffles them (a training sampler). The targets
are printed, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from tabulate import tabulate

from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.benchmarks.pyslowfast_ava import pyslowfast_dataset
from ava_detector.benchmarks.realistic_set import add_frame_set_arguments, realistic_records
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.video import (
    jpeg_source,
    pyav_source,
)
from ava_detector.data.video.sampling import clip_indices, clip_times
from ava_detector.engine.keyframe_runs import KeyframeRuns

# Targets printed beside the figures (per core, same keyframes).
TARGET_FRAMES_VS_PYSLOWFAST = 1.8
TARGET_VIDEO_VS_PYSLOWFAST = 1.0
TARGET_FRAMES_VS_FLOOR = 1.25  # clip time at most this multiple of the decode-only floor's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--records", type=int, default=16, help="keyframes timed per source, mode and round"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (the median is printed)"
    )
    add_frame_set_arguments(parser, videos=2, seconds=12)
    parser.add_argument(
        "--jpeg-quality", type=int, default=90, help="JPEG quality of the generated frames"
    )
    parser.add_argument(
        "--gop", type=int, default=250, help="key frame interval of the generated mp4"
    )
    parser.add_argument(
        "--dataset",
        default="",
        help="time a registered dataset instead (needs frames and video_path)",
    )
    parser.add_argument(
        "--pyslowfast",
        default="",
        metavar="PATH",
        help="a PySlowFast checkout: time its Ava dataset on the same keyframes",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="test mode: time what one of this many DataLoader workers reads (every "
        "W-th keyframe, as an inference loader deals them out)",
    )
    parser.add_argument(
        "--opencv-jpeg",
        action="store_true",
        help="decode JPEG frames with OpenCV even where simplejpeg is installed",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="train mode: also time the video source over shuffled runs of this many "
        "consecutive keyframes (DATALOADER.CONSECUTIVE_KEYFRAMES; 1: not timed; give --videos "
        "16 or more, or the next run finds its video open by chance)",
    )
    parser.add_argument(
        "--lanes",
        type=int,
        default=1,
        help="train mode: also time those runs spread over a worker's batches of this many "
        "keyframes (DATALOADER.CONSECUTIVE_KEYFRAMES_IN worker; needs more videos than this; "
        "1: not timed)",
    )
    parser.add_argument("--arch", default="slowfast", help="MODEL.SLOWFAST.ARCH")
    parser.add_argument(
        "--mode", default="both", choices=["test", "train", "both"], help="mapper mode(s)"
    )
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config KEY VALUE overrides"
    )


def decode_floor(record: dict, cfg: CfgNode) -> None:
    """``cv2.imread`` of the clip's JPEG files, nothing else (the same frames as the mapper's)."""
    idx = clip_indices(
        int(record["keyframe_index"]),
        cfg.INPUT.NUM_FRAMES,
        cfg.INPUT.SAMPLING_RATE,
        len(record["frames"]),
    )
    for i in idx:
        cv2.imread(str(record["frames"][int(i)]), cv2.IMREAD_COLOR)


def video_decode_floor(record: dict, cfg: CfgNode, cache: pyav_source.VideoCache) -> None:
    """The PyAV decoding of the clip the video source reads for ``record`` (same times, same
    seeking and frame skipping, through ``cache``), without converting or transforming a frame."""
    source = pyav_source.PyAVVideoSource(record["video_path"], cache=cache)
    center = float(record["sec"]) - float(record.get("start_sec", 0.0))

    def decode(video: pyav_source._OpenVideo) -> None:
        times = clip_times(
            center,
            cfg.INPUT.NUM_FRAMES,
            cfg.INPUT.SAMPLING_RATE,
            cfg.INPUT.TARGET_FPS,
            video.duration,
        )
        video.read(times, convert=False)

    source._with_video(decode)


def _cycle(mapper: AVADatasetMapper, order: list[dict]) -> Callable[[int], object]:
    """Call ``i`` maps record ``i`` of ``order`` (cycling)."""

    def call(i: int) -> object:
        return mapper(order[i % len(order)])

    return call


def _through(cache: pyav_source.VideoCache, fn: Callable[[int], object]) -> Callable[[int], object]:
    """``fn`` with the video sources reading through ``cache`` instead of the process's."""

    def call(i: int) -> object:
        saved = pyav_source.VIDEO_CACHE
        pyav_source.VIDEO_CACHE = cache
        try:
            return fn(i)
        finally:
            pyav_source.VIDEO_CACHE = saved

    return call


def time_interleaved(
    runners: dict[str, Callable[[int], object]], start: int, n: int
) -> dict[str, float]:
    """Clips per CPU second of each runner over calls ``start .. start + n - 1``, interleaved call by
    call (A B C A B C ...). CPU time of this process (one thread): per-core throughput, much less
    sensitive than wall time to other processes on the machine."""
    spent = dict.fromkeys(runners, 0.0)
    for i in range(start, start + n):
        for name, fn in runners.items():
            t0 = time.process_time()
            fn(i)
            spent[name] += time.process_time() - t0
    return {name: n / max(s, 1e-9) for name, s in spent.items()}


def _ratio_line(name: str, value: float, target: float, higher: bool = True) -> str:
    met = value >= target if higher else value <= target
    sign = ">=" if higher else "<="
    return f"  {name}: {value:.2f}x (target {sign} {target:g}x: {'met' if met else 'NOT met'})"


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.opencv_jpeg:
        jpeg_source._simplejpeg = None
    decoder = "simplejpeg" if jpeg_source._simplejpeg is not None else "OpenCV"
    cfg = get_ava_cfg()
    cfg.MODEL.SLOWFAST.ARCH = args.arch
    cfg.merge_from_list(args.opts)
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset:
            records = [
                r
                for r in DatasetCatalog.get(args.dataset)
                if r.get("frames") and r.get("video_path")
            ]
            what = args.dataset
        else:
            t0 = time.perf_counter()
            records, what = realistic_records(
                Path(tmp),
                args.videos,
                args.seconds,
                tuple(args.size),
                args.jpeg_quality,
                args.gop,
                cfg.INPUT.NUM_FRAMES * cfg.INPUT.SAMPLING_RATE,
            )
            what += f"; written in {time.perf_counter() - t0:.0f}s"
        if not records:
            raise SystemExit(f"{what}: no record has both frames and a video_path")
        rows, notes = [], []
        for mode in ("test", "train") if args.mode == "both" else (args.mode,):
            is_train = mode == "train"
            order = list(records)
            if is_train:
                order = [order[i] for i in np.random.RandomState(0).permutation(len(order))]
            else:  # worker w of W reads keyframes w, w + W, ...: all W workers' in turn
                order = [r for w in range(args.workers) for r in order[w :: args.workers]]
            runners: dict[str, Callable[[int], object]] = {}
            # train: a shuffled clip opens its video afresh (see the module's docstring)
            video_cache = pyav_source.VideoCache(0 if is_train else 2)
            caches = [video_cache]
            for source in ("frames", "video"):
                cfg.INPUT.SOURCE = source
                run_mapper = _cycle(AVADatasetMapper(cfg, is_train=is_train), order)
                runners[source] = (
                    _through(video_cache, run_mapper) if source == "video" else run_mapper
                )
            if all(r.get("cut_video_path") for r in order):
                cut_order = [dict(r, video_path=r["cut_video_path"]) for r in order]
                cfg.INPUT.SOURCE = "video"
                runners["video, training cut"] = _through(
                    video_cache, _cycle(AVADatasetMapper(cfg, is_train=is_train), cut_order)
                )
            if is_train and args.runs > 1:
                runs = KeyframeRuns(
                    [r["video_id"] for r in records], [r["sec"] for r in records], args.runs
                )
                in_runs = [records[i] for i in runs.permutation(torch.Generator().manual_seed(0))]
                cfg.INPUT.SOURCE = "video"
                run_runs = _cycle(AVADatasetMapper(cfg, is_train=True), in_runs)
                # a worker reads one run at a time; the next run's video is not open (among AVA's
                # hundreds of videos it almost never is): one open video, as many as it needs
                runs_cache = pyav_source.VideoCache(1)
                caches.append(runs_cache)
                runners[f"video, runs of {args.runs}"] = _through(runs_cache, run_runs)
                if args.lanes > 1:  # CONSECUTIVE_KEYFRAMES_IN worker: one run per batch slot
                    in_lanes = [
                        records[i]
                        for i in runs.permutation(torch.Generator().manual_seed(0), args.lanes)
                    ]
                    lanes = f"video, runs of {args.runs} over batches of {args.lanes}"
                    # a copy of a file per run (what the trainer sets), and one copy a file: two
                    # runs in one video then take turns seeking
                    for name, per_video in ((lanes, args.lanes), (f"{lanes}, one copy a file", 1)):
                        lanes_cache = pyav_source.VideoCache(
                            args.lanes,
                            args.lanes * pyav_source.VIDEO_CACHE_BYTES_PER_RUN,
                            per_video,
                        )
                        caches.append(lanes_cache)
                        runners[name] = _through(
                            lanes_cache, _cycle(AVADatasetMapper(cfg, is_train=True), in_lanes)
                        )
            if is_train and cfg.INPUT.TRAIN_CROP_GRID != "resized":
                # the same frames with the crop on the scaled frame's grid (PySlowFast's order)
                resized = cfg.clone()
                resized.INPUT.SOURCE = "frames"
                resized.INPUT.TRAIN_CROP_GRID = "resized"
                runners["frames, resized grid"] = _cycle(
                    AVADatasetMapper(resized, is_train=True), order
                )

            def run_floor(i: int, o: list[dict] = order) -> None:
                decode_floor(o[i % len(o)], cfg)

            runners["floor"] = run_floor
            floor_cache = pyav_source.VideoCache(0 if is_train else 2)
            caches.append(floor_cache)

            def run_video_floor(
                i: int, o: list[dict] = order, c: pyav_source.VideoCache = floor_cache
            ) -> None:
                video_decode_floor(o[i % len(o)], cfg, c)

            runners["video floor"] = run_video_floor
            if args.pyslowfast:
                dataset = pyslowfast_dataset(
                    args.pyslowfast, cfg, order, "train" if is_train else "test"
                )

                def run_pyslowfast(i: int, d: Any = dataset) -> object:
                    return d[i % len(d)]

                runners["pyslowfast"] = run_pyslowfast
            np.random.seed(0)
            for fn in runners.values():  # warm-up (imports, first file opens)
                fn(0)
            for cache in caches:
                cache.clear()
            rates: dict[str, list[float]] = {name: [] for name in runners}
            for r in range(args.rounds):
                for name, rate in time_interleaved(runners, r * args.records, args.records).items():
                    rates[name].append(rate)
            med = {name: statistics.median(v) for name, v in rates.items()}
            clip = f"{cfg.INPUT.NUM_FRAMES}x{cfg.INPUT.SAMPLING_RATE}"
            for name, rate in med.items():
                vs_psf = f"{rate / med['pyslowfast']:.2f}" if "pyslowfast" in med else "-"
                rows.append([name, mode, clip, f"{rate:.2f}", f"{1000 / rate:.1f}", vs_psf])
            seen = (
                "shuffled"
                if is_train
                else (
                    "in order"
                    if args.workers == 1
                    else f"every {args.workers}th, as one of {args.workers} workers"
                )
            )
            notes.append(f"{mode} (keyframes {seen}):")
            notes.append(
                _ratio_line(
                    "frames clip time / decode-only floor",
                    med["floor"] / med["frames"],
                    TARGET_FRAMES_VS_FLOOR,
                    higher=False,
                )
            )
            if "frames, resized grid" in med:
                notes.append(
                    f"  (frames, resized crop grid: {med['floor'] / med['frames, resized grid']:.2f}x "
                    f"the floor; the source grid is {med['frames'] / med['frames, resized grid']:.2f}x "
                    "as fast)"
                )
            if "pyslowfast" in med:
                notes.append(
                    _ratio_line(
                        "frames / PySlowFast",
                        med["frames"] / med["pyslowfast"],
                        TARGET_FRAMES_VS_PYSLOWFAST,
                    )
                )
                notes.append(
                    _ratio_line(
                        "video / PySlowFast",
                        med["video"] / med["pyslowfast"],
                        TARGET_VIDEO_VS_PYSLOWFAST,
                    )
                )
                if "video, training cut" in med:
                    notes.append(
                        _ratio_line(
                            "video, training cut / PySlowFast",
                            med["video, training cut"] / med["pyslowfast"],
                            TARGET_VIDEO_VS_PYSLOWFAST,
                        )
                    )
                notes.append(
                    f"  (video decoding alone vs PySlowFast: {med['video floor'] / med['pyslowfast']:.2f}x; "
                    f"video clip time / its decoding: {med['video floor'] / med['video']:.2f}x)"
                )
                in_runs_name = f"video, runs of {args.runs}"
                if in_runs_name in med:
                    notes.append(
                        _ratio_line(
                            f"{in_runs_name} / PySlowFast",
                            med[in_runs_name] / med["pyslowfast"],
                            TARGET_VIDEO_VS_PYSLOWFAST,
                        )
                    )
    print(
        f"AVADatasetMapper, {what}, JPEG decoder {decoder}, arch={args.arch}, 1 process (1 torch/cv2 thread), CPU time, "
        f"{args.rounds} rounds x {args.records} clips interleaved call by call, median of the rounds:"
    )
    print(
        tabulate(
            rows,
            headers=["source", "mode", "clip", "clips/s per core", "CPU ms/clip", "vs PySlowFast"],
            tablefmt="github",
        )
    )
    print("\n".join(notes))
    if not args.pyslowfast:
        print(
            "(--pyslowfast PATH times PySlowFast's Ava loader from a checkout beside these figures)"
        )
    return 0
