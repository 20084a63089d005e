"""The built-in dataset names and their roots (registered by ``ava_detector.builtin_datasets``; nothing is read until a dataset is loaded).

- ``ava_v2.2_{train,val}``, ``ava_v2.1_{train,val}``: the real AVA under a root resolved as
  ``AVA.ROOT`` (when the trainer calls :func:`register_ava_from_cfg`) > ``$AVA_DATASETS`` >
  ``$DETECTRON2_DATASETS/ava`` > ``datasets/ava``; frames cut at 900 s, 30 fps.
- ``ava_synthetic_{train,val}``: the generated set (``data_prep/make_synthetic_ava.py``) under
  ``AVA.SYNTHETIC_ROOT`` > ``$AVA_SYNTHETIC_DATASETS`` > ``datasets/ava_synthetic``; its start second
  and frame rate come from its ``dataset.json``.
- ``NAME_{train,val}`` for every ``"NAME=ROOT"`` of ``AVA.DATASETS`` (the user's own datasets in the
  same layout, e.g. written by ``data_prep/import_annotations.py``): start second and frame rate from
  ``ROOT/dataset.json``, the class count from the root's label map.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypedDict

from detectron2.config import CfgNode

from ava_detector.ava.data.register import register_ava
from ava_detector.data.errors import InputFileError

__all__ = [
    "parse_dataset_spec",
    "register_custom_ava",
    "resolve_ava_root",
    "resolve_synthetic_root",
    "register_all_ava",
    "register_synthetic_ava",
    "register_ava_from_cfg",
]

AVA_START_SEC = 900  # the AVA cuts start at movie second 900
AVA_FPS = 30


def resolve_ava_root(cfg_root: str = "") -> Path:
    """The real-AVA root: ``cfg_root`` > ``$AVA_DATASETS`` > ``$DETECTRON2_DATASETS/ava`` > ``datasets/ava``."""
    if cfg_root:
        return Path(cfg_root)
    if os.environ.get("AVA_DATASETS"):
        return Path(os.environ["AVA_DATASETS"])
    return Path(os.environ.get("DETECTRON2_DATASETS", "datasets")) / "ava"


def resolve_synthetic_root(cfg_root: str = "") -> Path:
    """The synthetic root: ``cfg_root`` > ``$AVA_SYNTHETIC_DATASETS`` > ``datasets/ava_synthetic``."""
    if cfg_root:
        return Path(cfg_root)
    return Path(os.environ.get("AVA_SYNTHETIC_DATASETS", "datasets/ava_synthetic"))


def register_all_ava(
    root: str | Path | None = None,
    *,
    lenient: bool = False,
    gt_iou: float = 0.9,
    allow_paths_outside_root: bool = False,
) -> None:
    """(Re-)register ``ava_v2.{1,2}_{train,val}`` under ``root`` (default: :func:`resolve_ava_root`)."""
    root = Path(root) if root else resolve_ava_root()
    for version in ("v2.2", "v2.1"):
        for split in ("train", "val"):
            register_ava(
                f"ava_{version}_{split}",
                root=root,
                split=split,
                version=version,
                start_sec=AVA_START_SEC,
                fps=AVA_FPS,
                lenient=lenient,
                gt_iou=gt_iou,
                allow_paths_outside_root=allow_paths_outside_root,
            )


def register_synthetic_ava(
    root: str | Path | None = None,
    *,
    prefix: str = "ava_synthetic",
    lenient: bool = False,
    gt_iou: float = 0.9,
    allow_paths_outside_root: bool = False,
) -> None:
    """(Re-)register ``{prefix}_{train,val}`` for a generated dataset under ``root``."""
    root = Path(root) if root else resolve_synthetic_root()
    _register_splits(prefix, root, lenient, gt_iou, allow_paths_outside_root, num_classes=80)


def _register_splits(
    prefix: str,
    root: Path,
    lenient: bool,
    gt_iou: float,
    allow_paths_outside_root: bool,
    num_classes: int | None,
) -> list[str]:
    """``{prefix}_train`` and ``{prefix}_val`` of the generated / custom AVA layout under ``root``
    (v2.2 files, start second and fps from the dataset's own metadata; ``num_classes`` None = the
    label map's); returns the names."""
    names: list[str] = []
    for split in ("train", "val"):
        register_ava(
            f"{prefix}_{split}",
            root=root,
            split=split,
            version="v2.2",
            start_sec=None,
            fps=None,
            lenient=lenient,
            gt_iou=gt_iou,
            num_classes=num_classes,
            allow_paths_outside_root=allow_paths_outside_root,
        )
        names.append(f"{prefix}_{split}")
    return names


def parse_dataset_spec(spec: str) -> tuple[str, Path]:
    """``"NAME=ROOT"`` or ``"ROOT"`` (NAME = the folder's name) -> ``(NAME, ROOT)``.

    Raises:
        ValueError: naming ``AVA.DATASETS`` for an empty name or root.
    """
    name, sep, root = str(spec).partition("=")
    if not sep:
        name, root = Path(spec).name, spec
    name, root = name.strip(), root.strip()
    if not name or not root:
        raise ValueError(f"AVA.DATASETS: expected 'NAME=ROOT' or 'ROOT', got {spec!r}")
    return name, Path(root)


def register_custom_ava(
    name: str,
    root: str | Path,
    *,
    lenient: bool = False,
    gt_iou: float = 0.9,
    allow_paths_outside_root: bool = False,
) -> list[str]:
    """(Re-)register ``{name}_train`` and ``{name}_val`` for a dataset in the AVA layout under
    ``root`` with a ``dataset.json``; the class count comes from its label map. Returns the names.

    Raises:
        InputFileError: naming the root when it has no ``dataset.json``.
    """
    root = Path(root)
    if not (root / "dataset.json").is_file():
        raise InputFileError(
            root / "dataset.json",
            None,
            f"dataset {name!r}: no dataset.json in {root} (see docs/custom_dataset.md)",
        )
    return _register_splits(name, root, lenient, gt_iou, allow_paths_outside_root, num_classes=None)


class _RegisterOptions(TypedDict):
    lenient: bool
    gt_iou: float
    allow_paths_outside_root: bool


def register_ava_from_cfg(cfg: CfgNode) -> None:
    """Re-register the built-ins with the config's roots and ``AVA.LENIENT`` / ``AVA.PROPOSAL_GT_IOU`` /
    ``AVA.ALLOW_PATHS_OUTSIDE_ROOT``, and the user's datasets of ``AVA.DATASETS``."""
    options = _RegisterOptions(
        lenient=bool(cfg.AVA.LENIENT),
        gt_iou=float(cfg.AVA.PROPOSAL_GT_IOU),
        allow_paths_outside_root=bool(cfg.AVA.ALLOW_PATHS_OUTSIDE_ROOT),
    )
    register_all_ava(resolve_ava_root(cfg.AVA.ROOT), **options)
    register_synthetic_ava(resolve_synthetic_root(cfg.AVA.SYNTHETIC_ROOT), **options)
    for spec in cfg.AVA.DATASETS:
        register_custom_ava(*parse_dataset_spec(spec), **options)
