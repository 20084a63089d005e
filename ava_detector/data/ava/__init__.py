"""AVA readers (annotations, proposals, exclusions, frame lists, label maps) and dataset registration."""

from .label_map import LabelMap, parse_label_map, read_label_map

__all__ = ["LabelMap", "parse_label_map", "read_label_map"]
