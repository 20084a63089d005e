"""Model throughput: forward and forward+backward clips/s of a config's AVA model core (backbone + action head)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from detectron2.modeling import build_backbone, build_roi_heads

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.modeling.complexity import clip_shapes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="", help="YAML config (default: Base-SlowFast with the options)"
    )
    parser.add_argument("--size", type=int, default=64, help="square clip size (small CPU default)")
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--boxes", type=int, default=4, help="boxes per clip")
    parser.add_argument("--iters", type=int, default=3, help="timed steps (after one warm-up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="KEY VALUE overrides, e.g. MODEL.SLOWFAST.WIDTH_PER_GROUP 8",
    )


def _time(step: Callable[[], None], iters: int, device: str) -> float:
    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def run(args: argparse.Namespace) -> int:
    cfg = get_ava_cfg()
    if args.config:
        cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    backbone = build_backbone(cfg).to(args.device)
    head = build_roi_heads(cfg, backbone.output_shape()).to(args.device)
    clips = {
        p: torch.randn((args.batch, *s[1:]), device=args.device)
        for p, s in clip_shapes(cfg, args.size).items()
    }
    n = args.batch * args.boxes
    rois = torch.tensor(
        [[i // args.boxes, 0.0, 0.0, args.size / 2, args.size - 1] for i in range(n)],
        device=args.device,
    )
    targets = torch.zeros(n, cfg.MODEL.ROI_HEADS.NUM_CLASSES, device=args.device)

    def forward() -> None:
        with torch.no_grad():
            head.forward_boxes(backbone(clips), rois)

    def train_step() -> None:
        logits = head.forward_boxes(backbone(clips), rois)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()

    backbone.eval(), head.eval()
    t_fwd = _time(forward, args.iters, args.device)
    backbone.train(), head.train()
    t_train = _time(train_step, args.iters, args.device)
    shapes = ", ".join(f"{p} {tuple(v.shape[1:])}" for p, v in clips.items())
    print(f"device {args.device}, batch {args.batch}, input {shapes}, {args.boxes} boxes/clip")
    print(f"forward: {args.batch / t_fwd:.2f} clips/s ({t_fwd * 1000:.1f} ms/step)")
    print(f"forward+backward: {args.batch / t_train:.2f} clips/s ({t_train * 1000:.1f} ms/step)")
    return 0
