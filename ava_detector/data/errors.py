"""The one error type for bad input files: it names the file, the line and what was expected."""

from __future__ import annotations

import os


class InputFileError(ValueError):
    """A malformed input file (CSV row, label map entry, frame list line, unreadable frame/video).

    ``str(err)`` reads ``<file>:<line>: <problem>`` (``<file>: <problem>`` when no line applies), so
    a user can open the file at the offending row.
    """

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")

    # picklable across DataLoader worker processes
    def __reduce__(self) -> tuple[type[InputFileError], tuple[str, int | None, str]]:
        return (type(self), (self.path, self.line, self.problem))
