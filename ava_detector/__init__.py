"""ava_detector: SlowFast spatiotemporal action detection for AVA, as a Detectron2 project.

Importing the package registers every component with Detectron2: the backbones
(``BACKBONE_REGISTRY``), the action heads (``ROI_HEADS_REGISTRY``), the meta-architectures
(``META_ARCH_REGISTRY``), the frame sources and the built-in AVA / Kinetics datasets
(``DatasetCatalog``). ``_REGISTERING_MODULES`` is that one place.

Subpackages export their names lazily, so ``AVA_DETECTOR_NO_REGISTER=1`` imports the pure parts
(frame-mAP metric, CSV readers, label maps) without loading torch or Detectron2: the offline
evaluator ``tools/evaluate_ava.py`` runs that way and stays within its memory budget.
"""

import importlib
import os
import warnings

# fvcore scripts its focal loss with torch.jit.script at import, which torch 2.14 deprecates loudly.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)

__version__ = "0.1.0"

_REGISTERING_MODULES: tuple[str, ...] = (
    "ava_detector.data.ava.builtin",  # ava_v2.{1,2}_{train,val}, ava_synthetic_{train,val}
    "ava_detector.data.kinetics",  # kinetics400_{train,val}, kinetics_synthetic_{train,val}
    "ava_detector.data.video",  # frame sources "frames", "video"
    "ava_detector.modeling",  # backbone, AVA action head, meta-architectures
    "ava_detector.modeling.meta_arch.video_classifier",  # VideoClassifier (Kinetics)
    "ava_detector.engine",
)


def _register_all() -> None:
    for name in _REGISTERING_MODULES:
        importlib.import_module(name)


if os.environ.get("AVA_DETECTOR_NO_REGISTER", "") != "1":
    _register_all()
