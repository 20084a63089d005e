"""ava_detector.engine."""
