"""One class list: the model's class count from the datasets' label maps, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog

from ava_detector.ava.data.register import ava_metadata

__all__ = [
    "check_class_subset",
    "dataset_num_classes",
    "resolve_cfg_num_classes",
    "resolve_num_classes",
]


def dataset_num_classes(names: Sequence[str]) -> dict[str, int]:
    """``{dataset: number of classes}`` of registered AVA-format datasets (as registered, else the
    largest label-map id); datasets of other kinds are left out. Reads label maps, never records."""
    out = {}
    for name in names:
        meta = MetadataCatalog.get(name)
        if getattr(meta, "evaluator_type", None) != "ava":
            continue
        if getattr(meta, "num_classes", None) is None:  # from the label map: read it now
            meta = ava_metadata(name)
        out[name] = int(meta.num_classes)
    return out


def check_class_subset(class_ids: Sequence[int], names: Sequence[str]) -> None:
    """``AVA.CLASS_SUBSET``: distinct ids within every dataset's class count; one ``ValueError``
    naming the key otherwise."""
    ids = [int(i) for i in class_ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"AVA.CLASS_SUBSET lists an id twice: {ids}")
    for name, count in dataset_num_classes(names).items():
        outside = [i for i in ids if not 1 <= i <= count]
        if outside:
            raise ValueError(
                f"AVA.CLASS_SUBSET: ids {outside} are not classes of {name} (1..{count})"
            )


def resolve_num_classes(
    configured: int, names: Sequence[str], class_subset: Sequence[int] = ()
) -> int:
    """The class count the action head needs: ``configured`` (``MODEL.ROI_HEADS.NUM_CLASSES``), or the
    datasets' when it is 0; one ``ValueError`` naming the key and the label maps when they disagree.

    Args:
        configured: the config's value; 0 = from the datasets' label maps.
        names: the training and test datasets.
        class_subset: ``AVA.CLASS_SUBSET``: when given, the head has one output per listed id.
    """
    if class_subset:
        check_class_subset(class_subset, names)
        if configured not in (0, len(class_subset)):
            raise ValueError(
                f"MODEL.ROI_HEADS.NUM_CLASSES is {configured} but AVA.CLASS_SUBSET lists "
                f"{len(class_subset)} classes: set it to {len(class_subset)}, or to 0"
            )
        return len(class_subset)
    counts = dataset_num_classes(names)
    found = sorted(set(counts.values()))
    if len(found) > 1:
        listing = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise ValueError(f"the datasets' label maps disagree on the number of classes ({listing})")
    if configured == 0:
        if not found:
            raise ValueError(
                "MODEL.ROI_HEADS.NUM_CLASSES is 0 (= from the label map) but no dataset "
                "with a label map is configured"
            )
        return found[0]
    if found and found[0] != configured:
        name = next(iter(counts))
        label_map = getattr(MetadataCatalog.get(name), "label_map_file", "?")
        raise ValueError(
            f"MODEL.ROI_HEADS.NUM_CLASSES is {configured} but the label map of {name} ({label_map}) has "
            f"ids up to {found[0]}: set it to {found[0]}, or to 0 to take it from the label map"
        )
    return int(configured)


def resolve_cfg_num_classes(cfg: CfgNode, datasets: Sequence[str] | None = None) -> int:
    """Set ``cfg.MODEL.ROI_HEADS.NUM_CLASSES`` (0 = from the label maps) from ``datasets`` (default:
    ``DATASETS.TRAIN`` + ``DATASETS.TEST``) that are registered (built-ins and ``AVA.DATASETS``, which
    this registers first) and ``AVA.CLASS_SUBSET``; returns it. ``cfg`` must not be frozen.

    Raises:
        ValueError / InputFileError: the class counts disagree, or a label map cannot be read.
    """
    from detectron2.data import DatasetCatalog

    from ava_detector.ava.data.builtin import register_ava_from_cfg

    register_ava_from_cfg(cfg)
    wanted = datasets if datasets is not None else (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST)
    names = [n for n in wanted if n in DatasetCatalog.list()]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = resolve_num_classes(
        cfg.MODEL.ROI_HEADS.NUM_CLASSES, names, cfg.AVA.CLASS_SUBSET
    )
    return int(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
