"""Loading checkpoint files without running code from them.

PyTorch files go through ``torch.load(weights_only=True)``; pickles (Caffe2 ``.pkl``, Detectron2
model-zoo ``.pkl``) through a restricted unpickler that admits numpy arrays, dtypes and scalars,
plain containers, and ``_codecs.encode`` (how protocol-2 pickles store bytes). Anything else is
refused with :class:`UnsafeCheckpointError`; an empty, truncated or otherwise unreadable file gives
:class:`CheckpointError`. Both messages are one line that names the file, and both are
``ValueError`` subclasses, so the command-line tools report them as input errors (exit code 2).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, NoReturn

import torch

__all__ = [
    "CheckpointError",
    "RestrictedUnpickler",
    "UnsafeCheckpointError",
    "load_checkpoint_file",
    "safe_unpickle",
]

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    # protocol-5 pickles of arrays: np.frombuffer(buffer, dtype).reshape(shape)
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class CheckpointError(ValueError):
    """A weights file that cannot be used: missing content, truncated, not a checkpoint.

    ``str(err)`` is one line, ``<file>: <problem>``.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.problem}")

    # picklable across processes
    def __reduce__(self) -> tuple[type[CheckpointError], tuple[str, str]]:
        return (type(self), (self.path, self.problem))


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A weights file that would run code (or build objects other than tensors/arrays) if loaded."""


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only the globals listed in ``_ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only numpy arrays and containers are allowed"
        )

    def persistent_load(self, pid: Any) -> NoReturn:
        raise pickle.UnpicklingError(
            "a legacy torch.save file (persistent ids) is not supported: re-save it with a current "
            "PyTorch"
        )


def safe_unpickle(data: bytes) -> Any:
    """Unpickle ``data`` (latin-1 for Python-2 strings, as Caffe2 wrote them) through RestrictedUnpickler.

    Args:
        data: the pickle's bytes.
    """
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _refused_global(message: str) -> str:
    """What torch's multi-line weights-only message says was refused, in a few words."""
    m = re.search(r"GLOBAL ([\w.]+)", message)
    if m:
        return f"global {m[1]}"
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    return lines[-1] if lines else message


def load_checkpoint_file(path: str | os.PathLike, *, mmap: bool = False) -> Any:
    """Load a PyTorch (zip) checkpoint with ``weights_only=True`` or any other pickle restrictedly.

    The format is detected from the content, not the file name.

    Args:
        path: the weights file.
        mmap: map a PyTorch zip file instead of reading it (tensors are read lazily; used to check
            that a checkpoint is complete without reading all of it).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file would run code or build non-tensor objects.
        CheckpointError: a directory, an empty, truncated or unreadable file.
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(p, "is a directory, expected a weights file")
    if not p.exists():
        raise FileNotFoundError(f"weights file not found: {p}")
    try:
        size = p.stat().st_size
        if size == 0:
            raise CheckpointError(p, "empty file (0 bytes): an interrupted write?")
        if zipfile.is_zipfile(p):
            try:
                if mmap:
                    return torch.load(p, map_location="cpu", weights_only=True, mmap=True)
                with open(p, "rb") as f:
                    return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as e:
                raise UnsafeCheckpointError(
                    p,
                    f"refusing to load {_refused_global(str(e))}: only tensors and plain "
                    "containers are loaded from weights files",
                ) from None
        with open(p, "rb") as f:
            data = f.read()
        try:
            return safe_unpickle(data)
        except pickle.UnpicklingError as e:
            if "refusing" in str(e):
                raise UnsafeCheckpointError(p, str(e)) from None
            raise CheckpointError(p, f"not a readable checkpoint ({e})") from None
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(p, f"cannot read: {e.strerror or e}") from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        ImportError,
        MemoryError,
        zipfile.BadZipFile,
    ) as e:
        kind = "truncated or damaged" if isinstance(e, (EOFError, RuntimeError)) else "unreadable"
        first = str(e).split(". ")[0]  # torch's zip errors go on for several sentences
        raise CheckpointError(p, f"{kind} checkpoint ({type(e).__name__}: {first})") from None
