"""Engine: the AVA trainer, its resumable data loading, the CPU-capable launcher.

Importing it also registers the meta-architectures (``ava_detector.modeling.meta_arch``).
"""

from ava_detector.modeling import meta_arch  # noqa: F401  (registers AVADetector)

from .checkpoint import AVATrainingCheckpointer
from .launch import launch
from .train_loop import AVATrainLoop, NonFiniteLossError
from .trainer import AVATrainer

__all__ = ["AVATrainer", "AVATrainLoop", "AVATrainingCheckpointer", "NonFiniteLossError", "launch"]
