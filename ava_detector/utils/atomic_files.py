"""Atomic file output and the clean-up of what an interrupted write leaves behind.

A file is written to a temporary file in the same folder (``.<name>.<random>.tmp``, the naming
of every atomic writer in the project), flushed and fsync'ed, then renamed over the target with
``os.replace``; the folder is fsync'ed too, so after a crash the target is either the old file or
the complete new one, never a truncated one. A ``kill -9`` can still leave the temporary file:
:func:`remove_stray_temporaries` removes those at the next start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ava_detector.utils.temp_files import temp_beside

__all__ = [
    "TEMPORARY_NAME",
    "atomic_open",
    "atomic_output",
    "atomic_write_text",
    "remove_stray_temporaries",
    "folder_beside",
    "replace_folder",
]

#: ``.<target name>.<8 random characters of tempfile.mkstemp>.tmp``
TEMPORARY_NAME = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform or file system without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` only when the block succeeds.

    Args:
        path: the target file; its folder is created if needed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the target file.
        text: its new content.
    """
    with atomic_open(path) as f:
        f.write(text.encode("utf-8"))


def remove_stray_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the temporary files of interrupted atomic writes under ``folder`` (recursively, not
    following links); returns their paths. A missing folder has none.

    Args:
        folder: e.g. a run's ``OUTPUT_DIR``.
    """
    removed: list[str] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if TEMPORARY_NAME.match(name) and os.path.isfile(path) and not os.path.islink(path):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that takes a file name (a video encoder,
    pandas, matplotlib); it is renamed onto ``path`` only if the block succeeds, else removed.

    Args:
        path: the final file; its folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def folder_beside(out: str | os.PathLike, force: bool = False) -> Path:
    """An empty folder ``<out>.tmp`` beside ``out`` to write a whole folder into, then
    :func:`replace_folder` it onto ``out``.

    Args:
        out: the final folder.
        force: replace an existing ``out``; otherwise an existing one is a ``FileExistsError``.
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (pass force=True / --force to replace it)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def replace_folder(tmp: str | os.PathLike, out: str | os.PathLike) -> None:
    """Put the completed folder ``tmp`` in the place of ``out`` (removing an old ``out``): readers
    see the old folder or the whole new one, never a half-written one.

    Args:
        tmp: the folder written in full, beside ``out``.
        out: the final folder.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
