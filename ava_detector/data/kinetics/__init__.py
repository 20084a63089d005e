"""Kinetics: ``path label`` lists -> records, dataset registration, test views, the clip mapper.

Importing this package registers the built-in names ``kinetics400_{train,val}`` and
``kinetics_synthetic_{train,val}`` (lazily: nothing is read until a dataset is loaded).
"""

from .lists import parse_kinetics_list, read_kinetics_list
from .mapper import KineticsDatasetMapper
from .register import (
    read_class_names,
    register_all_kinetics,
    register_kinetics,
    register_kinetics_from_cfg,
    resolve_kinetics_root,
    resolve_kinetics_synthetic_root,
)
from .views import (
    UniformCrop,
    clip_span,
    expand_test_views,
    random_clip_start,
    uniform_crop_offset,
    view_clip_start,
)

__all__ = [
    "KineticsDatasetMapper",
    "UniformCrop",
    "clip_span",
    "expand_test_views",
    "parse_kinetics_list",
    "random_clip_start",
    "read_class_names",
    "read_kinetics_list",
    "register_all_kinetics",
    "register_kinetics",
    "register_kinetics_from_cfg",
    "resolve_kinetics_root",
    "resolve_kinetics_synthetic_root",
    "view_clip_start",
    "uniform_crop_offset",
]
