#!/usr/bin/env python
"""Convert a PySlowFast checkpoint (.pyth or Caffe2 .pkl) into a Detectron2 checkpoint + ava_detector YAML,
or verify parity against a reference in the ../shared/pyslowfast_reference layout.

    python tools/convert_pyslowfast.py IN --output OUT.pth --config-out OUT.yaml [--pyslowfast-config FILE]
    python tools/convert_pyslowfast.py --verify DIR/NAME [--caffe2 PKL] [--pyslowfast-config FILE]

Inputs are read without running code from them (``torch.load(weights_only=True)`` or a restricted
unpickler for pickles); a file that would, a damaged file or a bad config is a one-line error and
exit code 2. Outputs are written atomically.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import torch
import yaml
from detectron2.utils.logger import setup_logger

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.checkpoint.convert import convert_any
from ava_detector.checkpoint.pyslowfast_config import (
    is_detection_cfg,
    translate_pyslowfast_cfg,
    write_config,
)
from ava_detector.checkpoint.safe_load import (
    CheckpointError,
    load_checkpoint_file,
)
from ava_detector.checkpoint.verify import verify_reference
from ava_detector.utils.atomic_files import atomic_open

TOLERANCE = {"outputs": 1e-4, "logits": 1e-3}


def convert(args) -> int:
    logger = logging.getLogger("convert_pyslowfast")
    obj = load_checkpoint_file(args.input)
    cfg_text = (
        Path(args.pyslowfast_config).read_text() if args.pyslowfast_config else obj.get("cfg")
    )
    if not isinstance(cfg_text, str):
        raise CheckpointError(
            args.input, "carries no PySlowFast config: pass --pyslowfast-config FILE"
        )
    psf = yaml.safe_load(cfg_text)
    if not isinstance(psf, dict):
        raise ValueError(
            f"{args.pyslowfast_config or args.input}: the PySlowFast config is not a YAML mapping"
        )
    detection = is_detection_cfg(psf)
    try:
        result = convert_any(obj, "backbone.", "roi_heads." if detection else "cls_head.")
    except ValueError as err:
        raise CheckpointError(args.input, str(err)) from None
    for name, why in sorted(result.unmapped.items()):
        logger.warning("not converted: %s (%s)", name, why)
    with atomic_open(args.output) as f:
        torch.save(
            {"model": result.state_dict, "__author__": f"pyslowfast ({result.source_format})"}, f
        )
    write_config(
        translate_pyslowfast_cfg(psf),
        args.config_out,
        detection=detection,
        weights=args.output,
        header=f"converted from {os.path.basename(args.input)} by tools/convert_pyslowfast.py",
    )
    print(
        f"wrote {args.output} ({len(result.state_dict)} tensors, {len(result.unmapped)} not converted)"
    )
    print(f"wrote {args.config_out} ({'AVA detector' if detection else 'video classifier'})")
    return 0


def verify(args) -> int:
    diffs = verify_reference(
        args.verify, caffe2=args.caffe2, pyslowfast_config=args.pyslowfast_config
    )
    ok = True
    for key, value in diffs.items():
        print(f"{key} max_abs_diff {value:.3e} (tolerance {TOLERANCE[key]:g})")
        ok &= value <= TOLERANCE[key]
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help="PySlowFast .pyth or Caffe2 .pkl")
    parser.add_argument("--output", help="Detectron2 checkpoint to write (.pth)")
    parser.add_argument("--config-out", help="ava_detector YAML config to write")
    parser.add_argument("--pyslowfast-config", help="PySlowFast YAML (needed for .pkl files)")
    parser.add_argument("--verify", metavar="DIR/NAME", help="check parity against a reference")
    parser.add_argument(
        "--caffe2", metavar="PKL", help="with --verify: load the weights from this .pkl"
    )
    args = parser.parse_args(argv)
    setup_logger(name="convert_pyslowfast")
    setup_logger(name="ava_detector")
    if not args.verify and not (args.input and args.output and args.config_out):
        parser.error("IN, --output and --config-out are required (or use --verify)")
    try:
        return verify(args) if args.verify else convert(args)
    except (
        CheckpointError,
        FileNotFoundError,
        IsADirectoryError,
        ValueError,
        KeyError,
        yaml.YAMLError,
    ) as err:
        message = " ".join(str(err).split())
        print(f"convert_pyslowfast.py: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
