"""Training-step throughput: clips/s and peak GPU memory of a config at a batch size, AMP on/off.

Runs ``AVATrainLoop`` (the trainer's own step: autocast, grad scaler, clipping, SGD) on one random
in-memory batch of the config's training input (``TRAIN_CROP_SIZE``, ``NUM_FRAMES``), so the figure
is the model + optimizer cost without data loading (see ``benchmark.py data`` for that).
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from tabulate import tabulate

from ava_detector.config import get_ava_cfg
from ava_detector.engine.train_loop import AVATrainLoop, amp_dtype
from ava_detector.engine.trainer import AVATrainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/ava_slowfast_r101.yaml")
    parser.add_argument("--batch", type=int, default=8, help="clips per step")
    parser.add_argument("--boxes", type=int, default=4, help="person boxes per clip")
    parser.add_argument("--iters", type=int, default=30, help="timed steps (after --warmup steps)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--amp", choices=["on", "off", "both"], default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def make_batch(cfg, batch: int, boxes: int, seed: int = 0) -> list[dict]:
    """Random uint8 clips of the config's training input with ``boxes`` labelled boxes each."""
    g = torch.Generator().manual_seed(seed)
    size, t, alpha = cfg.INPUT.TRAIN_CROP_SIZE, cfg.INPUT.NUM_FRAMES, cfg.MODEL.SLOWFAST.ALPHA
    frames = {"slowfast": {"slow": t // alpha, "fast": t}, "slow": {"slow": t // alpha},
              "fast": {"fast": t}}[cfg.MODEL.SLOWFAST.ARCH]
    out = []
    for _ in range(batch):
        xy = torch.rand(boxes, 2, generator=g) * size / 2
        wh = torch.rand(boxes, 2, generator=g) * size / 2 + 8
        inst = Instances((size, size), proposal_boxes=Boxes(torch.cat([xy, xy + wh], 1)),
                         gt_actions=(torch.rand(boxes, 80, generator=g) < 0.05).float())
        clips = {p: torch.randint(0, 256, (3, n, size, size), generator=g, dtype=torch.uint8)
                 for p, n in frames.items()}
        out.append({"clips": clips, "instances": inst, "height": size, "width": size})
    return out


def measure(cfg, batch: int, boxes: int, iters: int, warmup: int, amp: bool) -> dict:
    """Seconds per step, clips/s and peak memory (GiB, CUDA only) of ``iters`` training steps."""
    model = AVATrainer.build_model(cfg)
    optimizer = AVATrainer.build_optimizer(cfg, model)
    data = make_batch(cfg, batch, boxes)
    cuda = str(cfg.MODEL.DEVICE).startswith("cuda")
    loop = AVATrainLoop(model, itertools.repeat(data), optimizer, seed=0, amp=amp and cuda,
                        dtype=amp_dtype(cfg.SOLVER.AMP.DTYPE))
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
    return {"s/step": sec, "clips/s": batch / sec, "peak GiB": peak}


def run(args) -> int:
    cfg = get_ava_cfg()
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    rows = []
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.amp]
    for amp in modes:
        r = measure(cfg, args.batch, args.boxes, args.iters, args.warmup, amp)
        label = f"AMP {cfg.SOLVER.AMP.DTYPE}" if amp and args.device.startswith("cuda") else (
            "fp32" if not amp else "fp32 (AMP needs CUDA)")
        rows.append([label, args.batch, f"{r['s/step']:.3f}", f"{r['clips/s']:.2f}",
                     f"{r['peak GiB']:.2f}"])
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    print(f"config {args.config} on {args.device} "
          f"({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'CPU'})")
    print(tabulate(rows, headers=["precision", "batch", "s/step", "clips/s", "peak GiB"]))
    return 0
