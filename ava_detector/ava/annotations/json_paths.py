"""Reading JSON exports with errors that name the element: ``file: at [0].annotations[1].x: ...``.

Pure helpers shared by the Label Studio and VIA readers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NoReturn

from ava_detector.data.errors import InputFileError

__all__ = ["load_json", "JsonCtx"]

# (module-level names: inside JsonCtx, ``dict`` / ``list`` / ``int`` are its methods)
JsonObject = dict[str, Any]
JsonArray = list[Any]


def load_json(data: bytes, path: str | Path) -> Any:
    """Parse JSON bytes (UTF-8, a byte-order mark allowed); malformed JSON names the line.

    Args:
        data: the file's bytes.
        path: the file, named in errors.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputFileError(path, data.count(b"\n", 0, e.start) + 1, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None


class JsonCtx:
    """Typed access to JSON values; a wrong one raises naming the file and its JSON path.

    Args:
        path: the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> NoReturn:
        """Raise :class:`InputFileError` for the element at ``where``.

        Args:
            where: its JSON path (``[0].data.video``).
            problem: what is wrong.
        """
        raise InputFileError(self.path, None, f"at {where or '$'}: {problem}")

    def dict(self, value: Any, where: str) -> JsonObject:
        """``value`` if it is an object.

        Args:
            value: the JSON value.
            where: its JSON path.
        """
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, got {type(value).__name__}")
        return value

    def list(self, value: Any, where: str) -> JsonArray:
        """``value`` if it is an array.

        Args:
            value: the JSON value.
            where: its JSON path.
        """
        if not isinstance(value, list):
            self.fail(where, f"expected an array, got {type(value).__name__}")
        return value

    def number(self, obj: JsonObject, key: str, where: str, default: float | None = None) -> float:
        """``obj[key]`` as a finite number (``default`` when missing, if given).

        Args:
            obj: the JSON object.
            key: the key.
            where: the object's JSON path.
            default: returned when the key is missing; ``None``: the key is required.
        """
        if key not in obj:
            if default is None:
                self.fail(f"{where}.{key}", "missing (a number is required)")
            return default
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(f"{where}.{key}", f"expected a number, got {v!r}")
        return float(v)

    def int(self, obj: JsonObject, key: str, where: str, default: int | None = None) -> int:
        """``obj[key]`` as an integer (a float with no fraction accepted).

        Args:
            obj: the JSON object.
            key: the key.
            where: the object's JSON path.
            default: returned when the key is missing; ``None``: required.
        """
        v = self.number(obj, key, where, default)
        if v != int(v):
            self.fail(f"{where}.{key}", f"expected an integer, got {obj[key]!r}")
        return int(v)
