"""Checkpoints: safe loading, the video checkpointer, PySlowFast (.pyth) and Caffe2 (.pkl) import."""
