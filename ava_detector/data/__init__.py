"""Data: AVA / Kinetics readers and registration, frame sources, transforms, dataset mappers."""

from .._lazy import lazy_exports
from .errors import AVAFormatError

__getattr__, __dir__, __all__ = lazy_exports(__name__, {".mapper": ["AVADatasetMapper"]})
__all__ += ["AVAFormatError"]
