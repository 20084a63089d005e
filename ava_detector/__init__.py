"""ava_detector: SlowFast spatiotemporal action detection for AVA, as a Detectron2 project.

Importing the package registers every component with Detectron2: the backbones
(``BACKBONE_REGISTRY``), the action heads (``ROI_HEADS_REGISTRY``), the meta-architectures
(``META_ARCH_REGISTRY``) and the built-in datasets (``DatasetCatalog``). ``_register_all`` is
that one place.
"""

import importlib

__version__ = "0.1.0"

# Each subpackage's __init__ imports the modules that register components (registries, datasets).
_REGISTERING_MODULES: tuple[str, ...] = (
    "ava_detector.data",
    "ava_detector.modeling",
    "ava_detector.evaluation",
    "ava_detector.engine",
)


def _register_all() -> None:
    for name in _REGISTERING_MODULES:
        importlib.import_module(name)


_register_all()
