"""How a tool's labels and attributes become person boxes, actions and skipped frames.

Given by command-line flags or a small YAML/JSON file::

    person_label: person          # label of the person boxes / tracks
    actions_from: attributes      # attributes | labels | both
    attributes:                   # attribute -> action (omit: every checkbox / select / radio one)
      walking: walk               #   checkbox "walking" checked -> action "walk"
      pose: {sit: sit, stand: stand}   # select / radio value -> action (other values: no action)
    labels:                       # label of its own boxes -> action (omit: every other label)
      waving: hand wave
    skip: skip_frame              # tag / label / checkbox attribute / option that marks a frame to skip
    track_attribute: person_id    # VIA: the region attribute that holds the person id
    merge_iou: 0.5                # labels mode: an action box joins the person box it overlaps this much

Pure: a dict in, a :class:`ActionMapping` out; :func:`load_mapping` is the file edge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ava_detector.data.errors import InputFileError

__all__ = [
    "ActionMapping",
    "DEFAULT_MAPPING",
    "mapping_from_dict",
    "load_mapping",
    "NO_ACTION_VALUES",
    "is_checked",
]

# select / radio values that mean "nothing chosen"
NO_ACTION_VALUES = frozenset({"", "__undefined__"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_KEYS = {
    "person_label",
    "actions_from",
    "attributes",
    "labels",
    "skip",
    "track_attribute",
    "merge_iou",
}


def is_checked(value: str) -> bool | None:
    """``True`` / ``False`` for a checkbox value ("true", "false", "1", "0", ...), ``None`` otherwise.

    Args:
        value: the attribute's text.
    """
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


@dataclass(frozen=True)
class ActionMapping:
    """See the module docstring. ``attributes`` / ``labels`` ``None`` = take every one there is."""

    person_label: str = "person"
    actions_from: str = "attributes"
    attributes: dict[str, str | dict[str, str]] | None = None
    labels: dict[str, str] | None = None
    skip: str = ""
    track_attribute: str = ""
    merge_iou: float = 0.5
    ignored_attributes: frozenset[str] = field(default_factory=frozenset)

    def action_of_label(self, label: str) -> str | None:
        """The action a box of ``label`` stands for in labels mode (``None``: not an action label).

        Args:
            label: the tool's label name.
        """
        if self.actions_from not in ("labels", "both") or label == self.person_label:
            return None
        if label == self.skip and self.skip:
            return None
        if self.labels is None:
            return label
        return self.labels.get(label)

    def actions_of_attribute(self, name: str, value: str, input_type: str = "") -> set[str]:
        """The actions that attribute ``name`` with ``value`` stands for in attributes mode.

        Args:
            name: attribute name.
            value: its value on this frame (checkbox: "true" / "false").
            input_type: the tool's input type ("checkbox", "select", "radio", ...; "" if unknown).
        """
        if self.actions_from not in ("attributes", "both") or name == self.skip:
            return set()
        if name in self.ignored_attributes or name == self.track_attribute:
            return set()
        if self.attributes is None:
            if input_type == "checkbox" or (not input_type and is_checked(value) is not None):
                return {name} if is_checked(value) else set()
            if input_type in ("select", "radio", ""):
                v = value.strip()
                return set() if v in NO_ACTION_VALUES else {v}
            return set()
        target = self.attributes.get(name)
        if target is None:
            return set()
        if isinstance(target, str):
            return {target} if is_checked(value) else set()
        mapped = target.get(value.strip())
        return {mapped} if mapped else set()


DEFAULT_MAPPING = ActionMapping()


def mapping_from_dict(d: dict, path: str | Path = "<mapping>") -> ActionMapping:
    """Check a mapping dict (from YAML/JSON or flags) and build the :class:`ActionMapping`.

    Args:
        d: the keys of the module docstring.
        path: named in errors.
    """
    if not isinstance(d, dict):
        raise InputFileError(
            path, None, "the mapping must be a dictionary of the keys " + ", ".join(sorted(_KEYS))
        )
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise InputFileError(
            path, None, f"unknown key(s) {unknown}; expected some of {sorted(_KEYS)}"
        )
    mode = d.get("actions_from", "attributes")
    if mode not in ("attributes", "labels", "both"):
        raise InputFileError(
            path, None, f"actions_from must be attributes, labels or both, got {mode!r}"
        )
    attributes = d.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise InputFileError(path, None, "attributes must map attribute names to actions")
        for name, target in attributes.items():
            ok = isinstance(target, str) or (
                isinstance(target, dict) and all(isinstance(v, str) for v in target.values())
            )
            if not ok:
                raise InputFileError(
                    path,
                    None,
                    f"attributes.{name}: expected an action name or a {{value: action}} dictionary",
                )
        attributes = {
            str(k): (v if isinstance(v, str) else {str(a): b for a, b in v.items()})
            for k, v in attributes.items()
        }
    labels = d.get("labels")
    if labels is not None:
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise InputFileError(path, None, "labels must map label names to action names")
        labels = {str(k): v for k, v in labels.items()}
    iou = d.get("merge_iou", 0.5)
    if not isinstance(iou, (int, float)) or not 0 < iou <= 1:
        raise InputFileError(path, None, f"merge_iou must be a number in (0, 1], got {iou!r}")
    for key in ("person_label", "skip", "track_attribute"):
        if not isinstance(d.get(key, ""), str):
            raise InputFileError(path, None, f"{key} must be a string")
    return ActionMapping(
        person_label=d.get("person_label", "person"),
        actions_from=mode,
        attributes=attributes,
        labels=labels,
        skip=d.get("skip", ""),
        track_attribute=d.get("track_attribute", ""),
        merge_iou=float(iou),
    )


def load_mapping(path: str | Path) -> dict:
    """Read a YAML or JSON mapping file into a dict (check it with :func:`mapping_from_dict`).

    Args:
        path: ``.yaml`` / ``.yml`` / ``.json`` file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputFileError(path, None, f"cannot read mapping: {e.strerror}") from None
    if str(path).endswith(".json"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFileError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    else:
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputFileError(
                path, mark.line + 1 if mark else None, f"invalid YAML: {getattr(e, 'problem', e)}"
            ) from None
    return d if d is not None else {}
