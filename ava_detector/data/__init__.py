"""Data: AVA / Kinetics readers and registration, frame sources, transforms, dataset mappers."""

from .errors import AVAFormatError

__all__ = ["AVAFormatError"]
