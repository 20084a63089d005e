"""Annotation-tool exports (CVAT for video 1.1, Label Studio, VIA 3) <-> the AVA-format dataset layout."""
