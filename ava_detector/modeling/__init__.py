"""ava_detector.modeling."""
