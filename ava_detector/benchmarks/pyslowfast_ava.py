"""PySlowFast's AVA loader from a user's checkout, fed the benchmark's records (read, never copied).

Used by ``tools/benchmark.py data`` and ``scale`` to time PySlowFast's own ``Ava`` dataset beside
this project's loader on the same frames, keyframes and boxes.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from detectron2.config import CfgNode

__all__ = ["load_pyslowfast", "pyslowfast_dataset"]


def load_pyslowfast(path: str | Path) -> tuple[Any, Any]:
    """PySlowFast's ``slowfast.datasets.ava_dataset`` and ``slowfast.config.defaults`` from a
    checkout, without running its package ``__init__`` files (they import every dataset and model
    and their dependencies). Where SciPy is missing, ``scipy.ndimage`` is a stand-in (PySlowFast
    imports it for augmentations its AVA loader does not use).

    Args:
        path: the checkout (the folder holding ``slowfast/``).
    """
    root = Path(path).resolve() / "slowfast"
    if not (root / "datasets" / "ava_dataset.py").is_file():
        raise SystemExit(f"--pyslowfast {path}: no slowfast/datasets/ava_dataset.py there")
    for name, folder in (
        ("slowfast", root),
        ("slowfast.datasets", root / "datasets"),
        ("slowfast.utils", root / "utils"),
        ("slowfast.config", root / "config"),
    ):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
    try:
        importlib.import_module("scipy.ndimage")
    except ImportError:
        ndimage: Any = types.ModuleType("scipy.ndimage")

        def gaussian_filter(*args: Any, **kwargs: Any) -> NoReturn:
            raise ImportError("scipy is not installed (stand-in for the data benchmark)")

        ndimage.gaussian_filter = gaussian_filter
        scipy: Any = sys.modules.setdefault("scipy", types.ModuleType("scipy"))
        scipy.ndimage = ndimage
        sys.modules["scipy.ndimage"] = ndimage
    return (
        importlib.import_module("slowfast.datasets.ava_dataset"),
        importlib.import_module("slowfast.config.defaults"),
    )


def pyslowfast_dataset(path: str, cfg: CfgNode, records: list[dict], split: str) -> Any:
    """PySlowFast's ``Ava`` dataset for ``split`` ("train" / "test") over our records: its
    ``_load_data`` (CSV reading) is replaced by tables built from the records; ``__getitem__`` and
    all preprocessing are its own.

    Args:
        path: the PySlowFast checkout.
        cfg: our config (clip length, stride, scales, crop).
        records: the keyframes, in the order to index them.
        split: PySlowFast's split name.
    """
    ava_dataset, defaults = load_pyslowfast(path)
    pcfg = defaults.get_cfg()
    pcfg.DATA.NUM_FRAMES = cfg.INPUT.NUM_FRAMES
    pcfg.DATA.SAMPLING_RATE = cfg.INPUT.SAMPLING_RATE
    pcfg.DATA.TRAIN_JITTER_SCALES = list(cfg.INPUT.TRAIN_JITTER_SCALES)
    pcfg.DATA.TRAIN_CROP_SIZE = cfg.INPUT.TRAIN_CROP_SIZE
    pcfg.DATA.TEST_CROP_SIZE = cfg.INPUT.TEST_SHORT_SIDE
    pcfg.MODEL.ARCH = (
        cfg.MODEL.SLOWFAST.ARCH if cfg.MODEL.SLOWFAST.ARCH in ("slowfast", "slow") else "slowfast"
    )
    pcfg.MODEL.NUM_CLASSES = 80
    pcfg.SLOWFAST.ALPHA = cfg.MODEL.SLOWFAST.ALPHA

    videos = list(dict.fromkeys(r["video_id"] for r in records))
    frames = {r["video_id"]: r["frames"] for r in records}

    base: Any = ava_dataset.Ava  # a class of a module loaded from a path at run time

    class Ava(base):
        def _load_data(self, _cfg: Any) -> None:
            self._video_idx_to_name = videos
            self._image_paths = [[str(frames[v][k]) for k in range(len(frames[v]))] for v in videos]
            per_video: list[list] = [[] for _ in videos]
            self._keyframe_indices = []
            for r in records:
                vi = videos.index(r["video_id"])
                boxes_labels = [
                    [list(map(float, b)), [int(j) + 1 for j in np.flatnonzero(lab)]]
                    for b, lab in zip(r["boxes"], r["labels"])
                ]
                self._keyframe_indices.append(
                    (vi, len(per_video[vi]), r["sec"], int(r["keyframe_index"]))
                )
                per_video[vi].append(boxes_labels)
            self._keyframe_boxes_and_labels = per_video
            self._num_boxes_used = sum(len(r["boxes"]) for r in records)

    logging.getLogger(ava_dataset.__name__).setLevel(logging.WARNING)
    return Ava(pcfg, split)
