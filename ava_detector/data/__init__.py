"""Data: AVA / Kinetics readers and registration, frame sources, transforms, dataset mappers."""

from .errors import AVAFormatError

__all__ = ["AVAFormatError"]
from . import ava  # noqa: E402,F401  (registers the built-in AVA datasets)
