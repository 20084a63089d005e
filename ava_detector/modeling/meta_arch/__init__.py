"""Meta-architectures (``META_ARCH_REGISTRY``): the AVA detector."""

from .ava_detector import AVADetector, batch_clips, rescale_instances

__all__ = ["AVADetector", "batch_clips", "rescale_instances"]
