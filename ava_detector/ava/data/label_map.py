"""AVA label maps in both pbtxt layouts: v2.1 ``item { name id }`` and v2.2 ``label { name label_id
label_type }``. Pure parsing of text; ``read_label_map`` is the file edge."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ava_detector.data.errors import InputFileError

_BLOCK_START = re.compile(r"^\s*(item|label)\s*\{\s*$")
_FIELD = re.compile(r'^\s*(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$')
_ID_KEYS = {"id", "label_id"}
# Action ids index the model's outputs and the metric's tables: positive, and not absurdly large.
MAX_ACTION_ID = 100_000


@dataclass(frozen=True)
class LabelMap:
    """Evaluated action classes: ``names[id]``, ``types[id]`` (v2.2 ``label_type`` or ``""``)."""

    names: dict[int, str]
    types: dict[int, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        """The evaluated action ids, ascending (60 for AVA v2.1/v2.2)."""
        return sorted(self.names)


def parse_label_map(text: str, path: str | Path = "<label map>") -> LabelMap:
    """Parse pbtxt text; errors name ``path`` and the line."""
    names: dict[int, str] = {}
    types: dict[int, str] = {}
    current: dict[str, str] | None = None
    start_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if '"' not in raw else raw.strip()
        if not line:
            continue
        if current is None:
            if _BLOCK_START.match(line):
                current, start_line = {}, lineno
                continue
            raise InputFileError(path, lineno, f"expected 'item {{' or 'label {{', got {line!r}")
        if line == "}":
            _finish_block(current, names, types, path, start_line)
            current = None
            continue
        m = _FIELD.match(line)
        if not m:
            raise InputFileError(path, lineno, f"expected 'key: value', got {line!r}")
        current[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    if current is not None:
        raise InputFileError(path, start_line, "block opened here is never closed with '}'")
    if not names:
        raise InputFileError(path, None, "no 'item' or 'label' entries found")
    return LabelMap(names=names, types=types)


def _finish_block(
    block: dict[str, str], names: dict[int, str], types: dict[int, str], path: str | Path, line: int
) -> None:
    id_key = next((k for k in _ID_KEYS if k in block), None)
    if id_key is None or "name" not in block:
        raise InputFileError(
            path, line, "entry needs a 'name' and an 'id' (v2.1) or 'label_id' (v2.2)"
        )
    try:
        action_id = int(block[id_key])
    except ValueError:
        raise InputFileError(
            path, line, f"{id_key} must be an integer, got {block[id_key]!r}"
        ) from None
    if not 1 <= action_id <= MAX_ACTION_ID:
        raise InputFileError(
            path, line, f"{id_key} must lie in 1..{MAX_ACTION_ID}, got {action_id}"
        )
    if action_id in names:
        raise InputFileError(path, line, f"action id {action_id} is defined twice")
    names[action_id] = block["name"]
    types[action_id] = block.get("label_type", "")


def decode_text(data: bytes, path: str | Path) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped); bytes that are not UTF-8 are an
    :class:`InputFileError` naming ``path`` and the line.

    Args:
        data: the file's content.
        path: the file, named in errors.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputFileError(
            path, line, f"not UTF-8 text (byte 0x{data[e.start]:02x} at column {column})"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_label_map(path: str | Path) -> LabelMap:
    """Read a label-map pbtxt file (either layout, UTF-8).

    Args:
        path: the ``.pbtxt`` file.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, None, "is a directory, expected a label map (.pbtxt) file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputFileError(path, None, f"cannot read label map: {e.strerror}") from None
    return parse_label_map(decode_text(data, path), path)
