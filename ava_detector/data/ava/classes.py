"""One class list: the model's class count from the datasets' label maps, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.data import MetadataCatalog

from .register import ava_metadata

__all__ = ["dataset_num_classes", "resolve_num_classes"]


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


def resolve_num_classes(configured: int, names: Sequence[str]) -> int:
    """The class count the action head needs: ``configured`` (``MODEL.ROI_HEADS.NUM_CLASSES``), or the
    datasets' when it is 0; one ``ValueError`` naming the key and the label maps when they disagree.

    Args:
        configured: the config's value; 0 = from the datasets' label maps.
        names: the training and test datasets.
    """
    counts = dataset_num_classes(names)
    found = sorted(set(counts.values()))
    if len(found) > 1:
        listing = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise ValueError(f"the datasets' label maps disagree on the number of classes ({listing})")
    if configured == 0:
        if not found:
            raise ValueError("MODEL.ROI_HEADS.NUM_CLASSES is 0 (= from the label map) but no dataset "
                             "with a label map is configured")
        return found[0]
    if found and found[0] != configured:
        name = next(iter(counts))
        label_map = getattr(MetadataCatalog.get(name), "label_map_file", "?")
        raise ValueError(
            f"MODEL.ROI_HEADS.NUM_CLASSES is {configured} but the label map of {name} ({label_map}) has "
            f"ids up to {found[0]}: set it to {found[0]}, or to 0 to take it from the label map"
        )
    return int(configured)
