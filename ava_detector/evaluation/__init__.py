"""ava_detector.evaluation."""
