"""Data: AVA / Kinetics readers and registration, frame sources, transforms, dataset mappers."""

from .errors import AVAFormatError

__all__ = ["AVAFormatError"]
from . import (  # noqa: F401,E402  (importing registers datasets and frame sources)
    ava,  # the built-in AVA datasets
    transforms,
    video,  # the frame sources "frames" and "video" (INPUT.SOURCE)
)
from .mapper import AVADatasetMapper  # noqa: E402

__all__ += ["AVADatasetMapper"]
