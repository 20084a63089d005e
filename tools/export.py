#!/usr/bin/env python
"""Export the action model (backbone + head on clip tensors and person boxes) as TorchScript and ONNX.

    python tools/export.py --config CFG --weights CKPT --output-dir DIR [--format torchscript onnx]
        [--dataset NAME] [--height H --width W] [--num-boxes R] [--opset 17] [--tolerance 1e-4] [opts]

Inputs of the exported models: per pathway a normalised float clip ``(N, 3, T, H, W)`` (H, W padded to
the backbone's size divisibility), then ``rois (R, 5) = [batch index, x1, y1, x2, y2]`` in clip pixels;
output ``scores (R, C)`` (probabilities). Every exported file is run back (TorchScript; ONNX with
onnxruntime) and compared with the eager model: on one keyframe of ``--dataset`` (mapped exactly as at
test time) or, without it, on random clips of ``--height`` x ``--width``. A difference above
``--tolerance`` or a missing file is an error (exit code 2), as are weights that would run code
when loaded (they are read with ``torch.load(weights_only=True)`` or a restricted unpickler) and a
config that is not plain YAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.data.errors import InputFileError
from ava_detector.demo.predictor import (
    build_cfg,
    load_detector,
)
from ava_detector.engine.cli import check_yaml_file
from ava_detector.export.action_model import (
    ActionModel,
    example_inputs,
)
from ava_detector.export.exporters import (
    export_onnx,
    export_torchscript,
    max_abs_diff,
    run_onnx,
    run_torchscript,
)
from ava_detector.utils.atomic_files import atomic_output


def dataset_inputs(cfg, detector, name: str) -> tuple[torch.Tensor, ...]:
    """The model inputs of the first keyframe with boxes of dataset ``name`` (test-time mapping)."""
    from detectron2.data import DatasetCatalog
    from detectron2.modeling.poolers import convert_boxes_to_pooler_format

    from ava_detector.ava.mapper import AVADatasetMapper

    mapper = AVADatasetMapper(cfg, is_train=False)
    record = next(r for r in DatasetCatalog.get(name) if len(r["boxes"]))
    clips, proposals = detector.preprocess([mapper(record)])
    rois = convert_boxes_to_pooler_format([p.proposal_boxes for p in proposals])
    return (*(clips[p].cpu() for p in detector.pathways), rois.cpu())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config-file", "--config", dest="config_file", required=True, metavar="FILE")
    p.add_argument("--weights", required=True, help="checkpoint of the trained detector")
    p.add_argument("--output-dir", required=True)
    p.add_argument(
        "--format", nargs="+", default=["torchscript", "onnx"], choices=["torchscript", "onnx"]
    )
    p.add_argument(
        "--dataset", default=None, help="registered dataset whose first keyframe is the example"
    )
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--num-boxes", type=int, default=3)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    args = p.parse_args(argv)
    try:
        if Path(args.config_file).is_file():
            check_yaml_file(args.config_file)  # no yaml.unsafe_load fallback
        cfg = build_cfg(args.config_file, [*args.opts, "MODEL.DEVICE", "cpu"])
        detector = load_detector(cfg, args.weights)
        if args.dataset:
            inputs = dataset_inputs(cfg, detector, args.dataset)
        else:
            div = max(detector.size_divisibility, 1)
            inputs = example_inputs(
                detector,
                num_frames=cfg.INPUT.NUM_FRAMES,
                alpha=cfg.MODEL.SLOWFAST.ALPHA,
                height=-(-args.height // div) * div,
                width=-(-args.width // div) * div,
                num_boxes=args.num_boxes,
            )
        model = ActionModel(detector).eval()
        out = Path(args.output_dir)
        report = {}
        for fmt in args.format:
            if fmt == "torchscript":
                path = export_torchscript(model, inputs, out / "action_model.ts")
                diff = max_abs_diff(model, inputs, run_torchscript(path, inputs))
            else:
                path = export_onnx(
                    model,
                    inputs,
                    out / "action_model.onnx",
                    input_names=model.input_names,
                    opset=args.opset,
                )
                diff = max_abs_diff(model, inputs, run_onnx(path, inputs))
            report[fmt] = {"path": str(path), "max_abs_diff": diff}
            print(f"{fmt}: {path}  max |exported - eager| = {diff:.3g}")
    except (InputFileError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with atomic_output(out / "export.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    bad = [f for f, r in report.items() if not r["max_abs_diff"] <= args.tolerance]
    if bad:
        print(
            f"error: {', '.join(bad)} differ from the eager model by more than {args.tolerance}",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
