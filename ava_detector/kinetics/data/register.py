"""Register Kinetics-style lists in ``DatasetCatalog`` / ``MetadataCatalog`` (lazily: nothing is read
until the dataset is loaded), and the built-in names.

Layout under a root (PySlowFast's): ``{train,val,test}.csv`` lists with paths relative to the root
(or to ``KINETICS.PATH_PREFIX``), and optionally ``classes.json`` (class names in label order).

- ``kinetics400_{train,val}``: ``KINETICS.ROOT`` > ``$KINETICS_DATASETS`` > ``datasets/kinetics``.
- ``kinetics_synthetic_{train,val}``: the generated set (``data_prep/make_synthetic_ava.py
  --kinetics``) under ``KINETICS.SYNTHETIC_ROOT`` > ``$KINETICS_SYNTHETIC_DATASETS`` >
  ``datasets/kinetics_synthetic``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from ava_detector.data.errors import InputFileError
from ava_detector.kinetics.data.lists import read_kinetics_list

__all__ = [
    "read_class_names",
    "register_kinetics",
    "register_all_kinetics",
    "register_kinetics_from_cfg",
    "resolve_kinetics_root",
    "resolve_kinetics_synthetic_root",
]

KINETICS400_CLASSES = 400


def resolve_kinetics_root(cfg_root: str = "") -> Path:
    """``cfg_root`` > ``$KINETICS_DATASETS`` > ``datasets/kinetics``."""
    return Path(cfg_root or os.environ.get("KINETICS_DATASETS", "datasets/kinetics"))


def resolve_kinetics_synthetic_root(cfg_root: str = "") -> Path:
    """``cfg_root`` > ``$KINETICS_SYNTHETIC_DATASETS`` > ``datasets/kinetics_synthetic``."""
    return Path(
        cfg_root or os.environ.get("KINETICS_SYNTHETIC_DATASETS", "datasets/kinetics_synthetic")
    )


def read_class_names(path: str | Path) -> list[str]:
    """Class names in label order from a JSON list (``classes.json``)."""
    try:
        names = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputFileError(path, None, f"cannot read class names: {e}") from e
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputFileError(path, None, "expected a JSON list of class names")
    return names


def register_kinetics(
    name: str,
    list_file: str | Path,
    *,
    prefix: str | None = None,
    num_classes: int | None = None,
    classes_file: str | Path | None = None,
    allow_outside_root: bool = False,
) -> None:
    """(Re-)register ``name`` for one list. Metadata: ``evaluator_type="kinetics"``, ``list_file``,
    ``num_classes``; loading adds ``class_names`` (``classes_file`` when it exists, else ``"class <i>"``).
    ``allow_outside_root``: accept list paths leaving the prefix (``KINETICS.ALLOW_PATHS_OUTSIDE_ROOT``)."""
    list_file = str(list_file)

    def load() -> list[dict]:
        meta = MetadataCatalog.get(name)
        known = meta.as_dict()
        names = None
        if classes_file and Path(classes_file).is_file():
            names = read_class_names(classes_file)
            if known.get("num_classes", len(names)) != len(names):
                raise InputFileError(
                    classes_file,
                    None,
                    f"{len(names)} class names but {name} has {known['num_classes']} classes",
                )
        records = read_kinetics_list(
            list_file,
            prefix=prefix,
            num_classes=len(names) if names else known.get("num_classes"),
            allow_outside_root=allow_outside_root,
        )
        if names is None:
            n = known.get("num_classes") or max(r["label"] for r in records) + 1
            names = [f"class {i}" for i in range(n)]
        if "class_names" not in known:
            meta.set(class_names=names, num_classes=len(names))
        return records

    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, load)
    meta: dict[str, Any] = {"evaluator_type": "kinetics", "list_file": list_file}
    if num_classes is not None:
        meta["num_classes"] = int(num_classes)
    MetadataCatalog.get(name).set(**meta)


def register_all_kinetics(
    root: str | Path | None = None,
    synthetic_root: str | Path | None = None,
    prefix: str = "",
    allow_outside_root: bool = False,
) -> None:
    """(Re-)register the built-in names under their roots (``prefix`` "" = the root)."""
    root = Path(root) if root else resolve_kinetics_root()
    synthetic_root = Path(synthetic_root) if synthetic_root else resolve_kinetics_synthetic_root()
    for split in ("train", "val"):
        register_kinetics(
            f"kinetics400_{split}",
            root / f"{split}.csv",
            prefix=prefix or str(root),
            num_classes=KINETICS400_CLASSES,
            classes_file=root / "classes.json",
            allow_outside_root=allow_outside_root,
        )
        register_kinetics(
            f"kinetics_synthetic_{split}",
            synthetic_root / f"{split}.csv",
            prefix=str(synthetic_root),
            classes_file=synthetic_root / "classes.json",
            allow_outside_root=allow_outside_root,
        )


def register_kinetics_from_cfg(cfg: CfgNode) -> None:
    """Re-register the built-ins with ``KINETICS.ROOT`` / ``SYNTHETIC_ROOT`` / ``PATH_PREFIX`` /
    ``ALLOW_PATHS_OUTSIDE_ROOT``."""
    register_all_kinetics(
        resolve_kinetics_root(cfg.KINETICS.ROOT),
        resolve_kinetics_synthetic_root(cfg.KINETICS.SYNTHETIC_ROOT),
        cfg.KINETICS.PATH_PREFIX,
        allow_outside_root=cfg.KINETICS.ALLOW_PATHS_OUTSIDE_ROOT,
    )
