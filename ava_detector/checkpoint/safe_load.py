"""Loading checkpoint files without running code from them.

PyTorch files go through ``torch.load(weights_only=True)``; pickles (Caffe2 ``.pkl``) through a
restricted unpickler that admits numpy arrays, dtypes and scalars, plain containers, and
``_codecs.encode`` (how protocol-2 pickles store bytes). Anything else raises UnpicklingError.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from typing import Any

import torch

__all__ = ["RestrictedUnpickler", "safe_unpickle", "load_checkpoint_file"]

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only the globals listed in ``_ALLOWED``."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only numpy arrays and containers are allowed"
        )


def safe_unpickle(data: bytes) -> Any:
    """Unpickle ``data`` (latin-1 for Python-2 strings, as Caffe2 wrote them) through RestrictedUnpickler."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_checkpoint_file(path: str) -> Any:
    """Load a PyTorch (zip) checkpoint with ``weights_only=True`` or any other pickle restrictedly.

    The format is detected from the content, not the file name.
    """
    with open(path, "rb") as f:
        data = f.read()
    if zipfile.is_zipfile(io.BytesIO(data)):
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    try:
        return safe_unpickle(data)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{path}: {e}") from e
