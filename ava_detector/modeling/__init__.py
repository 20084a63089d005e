"""Task-neutral models: the SlowFast backbone and the video model base of the meta-architectures."""
