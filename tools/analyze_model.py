#!/usr/bin/env python
"""Print GFLOPs (fvcore, one multiply-add = one FLOP) and parameters of a config's classification model
(backbone + Kinetics head) for one clip.

    python tools/analyze_model.py --config configs/kinetics/SLOWFAST_4x16_R50.yaml [--input-size 224] [KEY VALUE ...]
"""

from __future__ import annotations

import argparse
import sys

import torch

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.modeling.complexity import (
    clip_shapes,
    count_flops,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", "--config-file", dest="config", required=True, help="YAML config"
    )
    parser.add_argument(
        "--input-size", type=int, default=224, help="square spatial size of the clip"
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    cfg = get_ava_cfg()
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.SLOWFAST.SPATIAL_STRIDES = [1, 2, 2, 2]
    cfg.MODEL.SLOWFAST.SPATIAL_DILATIONS = [1, 1, 1, 1]
    gflops, params = count_flops(cfg, args.input_size)
    shapes = ", ".join(f"{p} {tuple(s[1:])}" for p, s in clip_shapes(cfg, args.input_size).items())
    print(f"config: {args.config}")
    print(f"input: {shapes}")
    print(f"GFLOPs: {gflops:.2f}")
    print(f"parameters: {params / 1e6:.2f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
