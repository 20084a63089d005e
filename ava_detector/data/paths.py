"""Paths read from dataset files (Kinetics lists, AVA frame lists) stay inside the dataset's root.

A list entry such as ``../../../etc/passwd`` or ``/home/x/video.mp4`` would otherwise be read from
wherever it points. :func:`resolve_under_root` is pure (string operations, no file system access):
it joins an entry to its root and refuses, with an :class:`InputFileError` naming the list file and
line, entries that are absolute or climb above the root with ``..`` — unless the user opted in
(``KINETICS.ALLOW_PATHS_OUTSIDE_ROOT`` / ``AVA.ALLOW_PATHS_OUTSIDE_ROOT``). Symbolic links inside the
root are not followed: a root whose folders are links to another disk stays usable.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from ava_detector.data.errors import InputFileError

__all__ = ["leaves_root", "resolve_under_root"]


def leaves_root(entry: str) -> bool:
    """Whether a relative-path ``entry`` of a list points outside the folder it is relative to:
    absolute (``/x``, ``\\\\x``, ``C:x``) or climbing above it with ``..`` once normalised.

    Args:
        entry: the path as written in the list.
    """
    text = entry.replace("\\", "/")
    drive = len(text) > 1 and text[0].isalpha() and text[1] == ":"
    if posixpath.isabs(text) or os.path.isabs(entry) or drive:
        return True
    normal = posixpath.normpath(text)
    return normal == ".." or normal.startswith("../")


def resolve_under_root(
    entry: str,
    root: str | os.PathLike,
    *,
    source: str | os.PathLike = "<list>",
    line: int | None = None,
    allow_outside: bool = False,
    opt_in_key: str = "KINETICS.ALLOW_PATHS_OUTSIDE_ROOT",
) -> str:
    """``os.path.join(root, entry)``, refusing entries that leave ``root``.

    Args:
        entry: the path as written in the list file (relative to ``root``).
        root: the folder the list's paths are relative to.
        source: the list file, named in errors.
        line: its 1-based line number, named in errors (None: no line).
        allow_outside: accept absolute entries and entries with ``..`` leaving the root.
        opt_in_key: the config key that sets ``allow_outside``, named in the error.

    Raises:
        InputFileError: an empty entry, a NUL byte, or an entry leaving the root while not allowed.
    """
    if not entry or not entry.strip():
        raise InputFileError(source, line, "empty path")
    if "\x00" in entry:
        raise InputFileError(source, line, f"path {entry!r} holds a NUL byte")
    if not allow_outside and leaves_root(entry):
        raise InputFileError(
            source,
            line,
            f"path {entry!r} points outside the dataset root {str(Path(root))!r}; "
            f"set {opt_in_key} True to allow it",
        )
    return os.path.join(root, entry)
