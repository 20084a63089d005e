"""ava_detector: SlowFast spatiotemporal action detection for AVA, as a Detectron2 project.

Importing the package registers every component with Detectron2: the backbones
(``BACKBONE_REGISTRY``), the action heads (``ROI_HEADS_REGISTRY``), the meta-architectures
(``META_ARCH_REGISTRY``) and the built-in datasets (``DatasetCatalog``). ``_register_all`` is
that one place.
"""

import importlib

__version__ = "0.1.0"

# Modules whose import registers components; each is added here as it lands.
_REGISTERING_MODULES: tuple[str, ...] = ()


def _register_all() -> None:
    for name in _REGISTERING_MODULES:
        importlib.import_module(name)


_register_all()
