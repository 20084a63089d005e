"""feed: does the training loader keep the model busy? Steps fed by the trainer's loader beside steps on one batch.

For each ``--workers`` count W it builds the trainer's own training loader
(``AVATrainer.build_train_loader``: the seeded resumable loader, ``DATALOADER.NUM_WORKERS`` W, the
per-process batch ``--batch``) over a registered dataset (``--dataset``, e.g. AVA's train split) or
over a generated realistic frame set (640x360 natural-looking JPEG frames and x264 mp4s, as
``benchmark.py data`` writes them), and times in wall seconds:

- ``model alone``: the trainer's step (``VideoTrainLoop``: autocast, backward, SGD) on one batch
  of that loader held in memory: what a step costs when its data comes free;
- ``loader alone``: clips/s of the loader with W workers, nothing else running;
- ``fed``: the same steps taking each batch from the loader with W workers, and the time a step
  waits for its batch (the trainer's ``data_time``).

``busy`` is the share of a fed step not spent waiting for its batch: 100% when the loader keeps
up. On CUDA the step reads the losses back before the optimizer step (Detectron2's metrics), so
the wait for the next batch is time the GPU has no more than that step queued. ``vs alone`` is fed
clips/s over model-alone clips/s, the same question asked across two runs (noisier on a shared
machine). ``--decode-device cpu cuda`` times each ``INPUT.DECODE_DEVICE`` in turn over the same
frames; with ``cuda`` the workers deliver JPEG bytes and every step decodes and transforms them on
the GPU, so both the model-alone and the fed steps include the decoding.

Run it on the training machine: on a CPU the workers and the model share the cores, and the
figures say little about a GPU.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.utils.events import EventStorage
from tabulate import tabulate

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.ava.trainer import AVATrainer, resolve_classes
from ava_detector.benchmarks.realistic_set import add_frame_set_arguments, realistic_records
from ava_detector.data.errors import InputFileError
from ava_detector.data.transforms.decode_device import parse_decode_device
from ava_detector.engine.cli import SetupError, load_cfg
from ava_detector.engine.train_loop import VideoTrainLoop, amp_dtype

__all__ = ["busy_fraction", "time_loader", "time_steps", "warmup_steps"]

BUSY_TARGET = 0.95  # the loader "keeps the model busy" when a fed step waits at most 5% of it
PREFETCH_FACTOR = 2  # torch.utils.data.DataLoader's default, which the trainer's loader keeps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config, e.g. configs/ava_slowfast_r101.yaml"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[8],
        help="DATALOADER.NUM_WORKERS values to time, e.g. --workers 4 8 12",
    )
    parser.add_argument("--batch", type=int, default=8, help="clips per step (one process)")
    parser.add_argument("--iters", type=int, default=30, help="timed steps (after --warmup)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed steps first (default: 5, and with W workers 2 W more, the batches they "
        "prefetch while starting, so the timed steps see the loader's steady rate)",
    )
    parser.add_argument("--amp", choices=["on", "off"], default="on", help="SOLVER.AMP on CUDA")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--decode-device",
        nargs="+",
        default=[],
        help="INPUT.DECODE_DEVICE values to time (default: the config's), e.g. --decode-device "
        "cpu cuda: with cuda the workers read JPEG bytes and each step decodes them",
    )
    parser.add_argument(
        "--source", choices=["frames", "video"], default="", help="INPUT.SOURCE (default: config's)"
    )
    parser.add_argument(
        "--dataset",
        default="",
        help="a registered training dataset (e.g. ava_v2.2_train) instead of the generated set",
    )
    add_frame_set_arguments(parser, videos=4, seconds=16)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def busy_fraction(wait_s: float, fed_s: float) -> float:
    """The share of a fed step not spent waiting for its batch: ``1 - wait_s / fed_s`` within
    [0, 1].

    Args:
        wait_s: mean seconds a step waits for its batch.
        fed_s: mean seconds a step takes, the wait included.
    """
    if fed_s <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - wait_s / fed_s))


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def time_steps(
    loop: VideoTrainLoop, iters: int, warmup: int, cuda: bool
) -> tuple[float, list[float]]:
    """Run ``warmup + iters`` steps of ``loop``.

    Returns:
        Wall seconds per timed step, and the timed steps' waits for their batch (seconds).
    """
    with EventStorage() as storage:
        start = time.perf_counter()
        for i in range(warmup + iters):
            if i == warmup:
                _sync(cuda)
                start = time.perf_counter()
            loop.iter = storage.iter = i
            loop.run_step()
        _sync(cuda)
        sec = (time.perf_counter() - start) / max(iters, 1)
        waits = [v for v, _ in storage.history("data_time").values()][warmup:]
    return sec, waits


def time_loader(loader: Iterable[list[Any]], iters: int, warmup: int) -> float:
    """Batches per wall second of ``loader`` over ``iters`` batches after ``warmup`` (its workers
    shut down after)."""
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(iters):
        next(it)
    rate = iters / max(time.perf_counter() - start, 1e-9)
    del it
    gc.collect()
    return rate


def _cfg(args: argparse.Namespace) -> CfgNode:
    """The config file + opts with the command line's settings; :class:`SetupError` if bad."""
    cfg = load_cfg(argparse.Namespace(config_file=args.config, opts=args.opts))
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    cfg.SOLVER.IMS_PER_BATCH = args.batch
    cfg.SOLVER.AMP.ENABLED = args.amp == "on"
    if args.source:
        cfg.INPUT.SOURCE = args.source
    if args.dataset:
        cfg.DATASETS.TRAIN = (args.dataset,)
        resolve_classes(cfg)
    return cfg


def warmup_steps(warmup: int | None, workers: int) -> int:
    """``warmup`` if given, else 5 plus the batches ``workers`` workers prefetch (2 each: the
    DataLoader's ``prefetch_factor``)."""
    return 5 + PREFETCH_FACTOR * workers if warmup is None else warmup


def _loader(cfg: CfgNode, workers: int, records: list[dict]) -> Iterable[list[Any]]:
    wcfg = cfg.clone()
    wcfg.DATALOADER.NUM_WORKERS = workers
    return AVATrainer.build_train_loader(wcfg, seed=0, records=records)


def _measure(
    cfg: CfgNode, records: list[dict], args: argparse.Namespace, cuda: bool
) -> tuple[float, float, list[tuple[int, float, float, float]]]:
    """The model-alone step of ``cfg`` (seconds, peak GiB on CUDA) and, for each of
    ``args.workers``: ``(workers, loader batches/s, fed s/step, mean wait s)``."""
    model = AVATrainer.build_model(cfg)
    optimizer = AVATrainer.build_optimizer(cfg, model)
    amp = AVATrainer.amp_enabled(cfg)

    def loop(data: Iterable[list[Any]]) -> VideoTrainLoop:
        return VideoTrainLoop(
            model, data, optimizer, seed=0, amp=amp, dtype=amp_dtype(cfg.SOLVER.AMP.DTYPE)
        )

    batch = next(iter(_loader(cfg, 0, records)))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    alone_s, _ = time_steps(
        loop(itertools.repeat(batch)), args.iters, warmup_steps(args.warmup, 0), cuda
    )
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    measured = []
    for workers in args.workers:
        warmup = warmup_steps(args.warmup, workers)
        loader_rate = time_loader(_loader(cfg, workers, records), args.iters, warmup)
        fed = loop(_loader(cfg, workers, records))
        fed_s, waits = time_steps(fed, args.iters, warmup, cuda)
        del fed
        gc.collect()
        measured.append((workers, loader_rate, fed_s, statistics.mean(waits) if waits else 0.0))
    return alone_s, peak, measured


def run(args: argparse.Namespace) -> int:
    try:
        cfg = _cfg(args)
        for decode in args.decode_device:
            parse_decode_device(decode)
        records = None
        if args.dataset:  # loaded once for all the loaders
            records = AVATrainer.load_records(cfg, cfg.DATASETS.TRAIN, is_train=True)
    except (SetupError, KeyError, ValueError, FileNotFoundError, InputFileError) as err:
        detail = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"benchmark feed: error: {' '.join(str(detail).split())}", file=sys.stderr)
        return 2
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        if records is not None:
            what = f"dataset {args.dataset} ({len(records)} keyframes)"
        else:
            records, what = realistic_records(
                Path(tmp),
                args.videos,
                args.seconds,
                tuple(args.size),
                clip_span=cfg.INPUT.NUM_FRAMES * cfg.INPUT.SAMPLING_RATE,
                cut=False,
            )
        rows, alone_lines = [], []
        for decode in args.decode_device or [cfg.INPUT.DECODE_DEVICE]:
            dcfg = cfg.clone()
            dcfg.INPUT.DECODE_DEVICE = decode
            alone_s, peak, measured = _measure(dcfg, records, args, cuda)
            gc.collect()  # the model and its optimizer go before the next one is built
            if cuda:
                torch.cuda.empty_cache()
            alone_lines.append(
                f"model alone (one batch in memory), INPUT.DECODE_DEVICE {decode}: "
                f"{alone_s:.3f} s/step, {args.batch / alone_s:.2f} clips/s"
                + (f", peak {peak:.2f} GiB" if cuda else "")
            )
            for workers, loader_rate, fed_s, wait in measured:
                busy = busy_fraction(wait, fed_s)
                rows.append(
                    [
                        decode,
                        workers,
                        f"{loader_rate * args.batch:.1f}",
                        f"{fed_s:.3f}",
                        f"{args.batch / fed_s:.2f}",
                        f"{alone_s / fed_s:.2f}",
                        f"{1000 * wait:.1f}",
                        f"{100 * busy:.0f}%",
                        "yes" if busy >= BUSY_TARGET else "no",
                    ]
                )
    device = torch.cuda.get_device_name() if cuda else "CPU"
    precision = f"AMP {cfg.SOLVER.AMP.DTYPE}" if AVATrainer.amp_enabled(cfg) else "fp32"
    print(
        f"config {args.config} on {args.device} ({device}), {precision}, batch {args.batch}, "
        f"INPUT.SOURCE {cfg.INPUT.SOURCE}; {what}; {args.iters} timed steps after "
        f"{args.warmup if args.warmup is not None else '5 + 2 x workers'}, wall time"
    )
    print("\n".join(alone_lines))
    print(
        tabulate(
            rows,
            headers=[
                "decode",
                "workers",
                "loader alone clips/s",
                "fed s/step",
                "fed clips/s",
                "vs alone",
                "wait ms/step",
                "busy",
                f"kept busy (>= {100 * BUSY_TARGET:.0f}%)",
            ],
            tablefmt="github",
        )
    )
    if not cuda:
        print("(on the CPU the workers and the model share the cores: run it on the GPU machine)")
    return 0
