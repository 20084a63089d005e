"""Importing this module registers every model component of ava_detector with Detectron2.

``BACKBONE_REGISTRY``: ``build_slowfast_backbone``; ``ROI_HEADS_REGISTRY``: ``AVAActionHead``;
``META_ARCH_REGISTRY``: ``AVADetector`` and ``VideoClassifier``; ``CLS_HEAD_REGISTRY``: ``build_kinetics_head``. The tools and the trainers import it
(``import ava_detector.builtin_models  # noqa: F401``); a config naming these components needs it
imported before ``build_model(cfg)``.
"""

import ava_detector.ava.modeling.action_head  # noqa: F401  (AVAActionHead)
import ava_detector.ava.modeling.detector  # noqa: F401  (AVADetector)
import ava_detector.kinetics.modeling.classifier  # noqa: F401  (VideoClassifier)
import ava_detector.kinetics.modeling.head  # noqa: F401  (build_kinetics_head)
import ava_detector.modeling.backbone.slowfast  # noqa: F401  (build_slowfast_backbone)
