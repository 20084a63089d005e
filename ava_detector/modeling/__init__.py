"""ava_detector.modeling: importing it registers the SlowFast backbone and the AVA action head."""

from . import backbone, roi_heads  # noqa: F401  (registration)
