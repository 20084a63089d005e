"""Temporary files beside their target, with the permissions a plain ``open`` would give.

``tempfile.mkstemp`` creates files readable by their owner only (mode 0600) whatever the umask, so a
file renamed into place from one (a checkpoint, ``detections.csv``, a demo video) would not be
readable by the others who share a machine or a results folder. :func:`temp_beside` returns such a
file with mode ``0666 & ~umask`` instead, as ``open(path, "w")`` would create it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["temp_beside", "umask"]


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(target: str | os.PathLike) -> tuple[int, str]:
    """``(fd, path)`` of a new file ``.<name>.<random>.tmp`` in ``target``'s folder, mode
    ``0666 & ~umask``; the caller closes ``fd`` and renames or removes the file.

    Args:
        target: the file the temporary one will replace.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~umask())
    return fd, tmp
