"""CVAT for video 1.1 XML -> :class:`~.tracks.VideoAnnotations`.

What is read (the format: ``<annotations><version>1.1</version><meta><task>…</task></meta><track>…``):

- ``meta/task`` (or ``meta/job``): ``size``, ``start_frame``, ``stop_frame``, ``frame_filter``
  (``step=N``: annotation frame ``k`` is video frame ``start_frame + k * N``), ``original_size``
  (``width`` / ``height``, the pixel size the coordinates refer to), the labels' attribute definitions
  (``input_type`` checkbox / select / radio / ...), ``source`` (the video's file name, in ``task``
  or ``meta``; it gives the video id).
- ``<track id label>`` of ``<box frame outside occluded keyframe xtl ytl xbr ybr>``: a box with
  ``outside="0"`` is visible; ``outside="1"`` ends the span (the person is absent from that frame
  until a later visible box). CVAT lists every frame of a track (``keyframe="0"`` for the ones it
  interpolated); frames between two listed boxes of a span (sparse files, or video frames between
  two annotation frames when ``step`` > 1) take the linearly interpolated box.
- Actions: per-frame ``<attribute name>`` values of the person boxes (checkbox -> the attribute's
  action, select / radio -> the value's action; immutable attributes only when the mapping names
  them) and / or tracks of other labels whose label is an action (each of their boxes adds the action
  to the person box it overlaps most, IoU >= ``merge_iou``; a box that overlaps none is a person of
  its own), as the :class:`~.mapping.ActionMapping` says.
- Skipped frames: a ``<tag frame label>`` with the skip label, or the skip checkbox on a person box.

Other shapes (polygons, points, ...), tags and labels are left out and counted. Errors name the file
and the line of the element. Pure: bytes in, :class:`~.tracks.ImportResult` out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, overload

from ava_detector.ava.annotations.mapping import (
    DEFAULT_MAPPING,
    ActionMapping,
    is_checked,
)
from ava_detector.ava.annotations.tracks import (
    FrameBox,
    ImportResult,
    VideoAnnotations,
    box_at,
    make_track,
)
from ava_detector.ava.annotations.xml_nodes import (
    XmlNode,
    parse_xml,
)
from ava_detector.ava.data.records import pairwise_iou
from ava_detector.data.errors import InputFileError

__all__ = ["parse_cvat_video", "cvat_video_id", "safe_video_id"]

_SHAPES = ("box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton")


def safe_video_id(name: str) -> str:
    """``name`` usable as an AVA video id: its file stem, characters other than letters, digits,
    ``-``, ``_`` and ``.`` replaced by ``_``.

    Args:
        name: a file name, path or task name.
    """
    stem = Path(name.replace("\\", "/")).name
    for suffix in (".mp4", ".mkv", ".webm", ".avi", ".mov", ".xml", ".json", ".zip"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return re.sub(r"[^\w.-]", "_", stem) or "video"


class _Ctx:
    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, node: XmlNode, problem: str) -> NoReturn:
        raise InputFileError(self.path, node.line, f"<{node.tag}> {problem}")

    def int_attr(self, node: XmlNode, key: str, default: int | None = None) -> int:
        raw = node.attrib.get(key)
        if raw is None:
            if default is None:
                self.fail(node, f"needs the attribute {key!r}")
            return default
        try:
            return int(raw.strip())
        except ValueError:
            self.fail(node, f"{key}={raw!r} is not an integer")

    def float_attr(self, node: XmlNode, key: str) -> float:
        raw = node.attrib.get(key)
        if raw is None:
            self.fail(node, f"needs the attribute {key!r}")
        try:
            value = float(raw)
        except ValueError:
            self.fail(node, f"{key}={raw!r} is not a number")
        if value != value or value in (float("inf"), float("-inf")):
            self.fail(node, f"{key}={raw!r} is not a finite number")
        return value

    def flag(self, node: XmlNode, key: str) -> bool:
        raw = node.attrib.get(key, "0").strip()
        if raw not in ("0", "1"):
            self.fail(node, f"{key}={raw!r} must be 0 or 1")
        return raw == "1"

    @overload
    def int_text(self, node: XmlNode | None, what: str, default: int) -> int: ...
    @overload
    def int_text(self, node: XmlNode | None, what: str, default: None) -> int | None: ...

    def int_text(self, node: XmlNode | None, what: str, default: int | None) -> int | None:
        if node is None or node.text == "":
            return default
        try:
            return int(node.text)
        except ValueError:
            self.fail(node, f"{what} {node.text!r} is not an integer")


def _meta(ctx: _Ctx, root: XmlNode) -> tuple[XmlNode, dict[str, dict[str, str]]]:
    meta = root.find("meta")
    if meta is None:
        ctx.fail(root, "has no <meta> (is this a CVAT XML export?)")
    task = meta.find("task") or meta.find("job")
    project = meta.find("project")
    if task is None:
        if project is not None:
            ctx.fail(
                project,
                "project exports hold several tasks: export each task "
                "(or job) as 'CVAT for video 1.1'",
            )
        ctx.fail(meta, "has no <task> or <job>")
    labels: dict[str, dict[str, str]] = {}
    label_nodes = task.find("labels")
    if label_nodes is None and project is not None:
        label_nodes = project.find("labels")
    for label in label_nodes.findall("label") if label_nodes is not None else []:
        attrs = {}
        attr_nodes = label.find("attributes")
        for a in attr_nodes.findall("attribute") if attr_nodes is not None else []:
            kind = a.child_text("input_type").lower()
            mutable = a.child_text("mutable", "true").strip().lower() != "false"
            attrs[a.child_text("name")] = kind if mutable else f"immutable {kind}"
        labels[label.child_text("name")] = attrs
    return task, labels


def _frame_mapping(ctx: _Ctx, task: XmlNode) -> tuple[int, int, int | None, int | None]:
    """(start_frame, step, stop_frame, size) of the task."""
    start = ctx.int_text(task.find("start_frame"), "start_frame", 0)
    stop = ctx.int_text(task.find("stop_frame"), "stop_frame", None)
    size = ctx.int_text(task.find("size"), "size", None)
    step = 1
    node = task.find("frame_filter")
    if node is not None and node.text:
        m = re.fullmatch(r"\s*step\s*=\s*(\d+)\s*", node.text)
        if not m or int(m.group(1)) < 1:
            ctx.fail(node, f"frame_filter {node.text!r}: expected 'step=N' with N >= 1")
        step = int(m.group(1))
    if start < 0:
        ctx.fail(task.find("start_frame") or task, "start_frame must be >= 0")
    return start, step, stop, size


def _attributes(ctx: _Ctx, node: XmlNode, inherited: dict[str, str]) -> dict[str, str]:
    values = dict(inherited)
    for a in node.findall("attribute"):
        if "name" not in a.attrib:
            ctx.fail(a, "needs the attribute 'name'")
        values[a.attrib["name"]] = a.text
    return values


def cvat_video_id(data: bytes, path: str | Path = "<cvat xml>") -> str:
    """The video id :func:`parse_cvat_video` gives this file by default (to look its video up first).

    Args:
        data: the XML file's bytes.
        path: the file, named in errors.
    """
    ctx = _Ctx(path)
    root = parse_xml(data, path)
    task, _ = _meta(ctx, root)
    return _default_id(root, task, path)


def _default_id(root: XmlNode, task: XmlNode, path: str | Path) -> str:
    meta = root.find("meta")
    source = task.child_text("source") or (meta.child_text("source") if meta is not None else "")
    return safe_video_id(source or task.child_text("name") or Path(str(path)).stem)


def parse_cvat_video(
    data: bytes,
    path: str | Path = "<cvat xml>",
    *,
    mapping: ActionMapping = DEFAULT_MAPPING,
    fps: float | None = None,
    video_id: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> ImportResult:
    """Read one CVAT for video 1.1 export (one task or job = one video).

    Args:
        data: the XML file's bytes.
        path: the file, named in errors.
        mapping: person label, where actions come from, the skip marker.
        fps: the video's frame rate (CVAT files do not record it).
        video_id: the id to write; default: the stem of ``meta/task/source``, else the task name,
            else the file's stem.
        width, height: pixel size when the file has no ``original_size``.

    Returns:
        one video, and the counts of what was left out.
    """
    ctx = _Ctx(path)
    root = parse_xml(data, path)
    if root.tag != "annotations":
        ctx.fail(root, "is not a CVAT export (expected the root <annotations>)")
    image = root.find("image")
    if image is not None:
        ctx.fail(
            image, "belongs to a 'CVAT for images' export: export the task as 'CVAT for video 1.1'"
        )
    if fps is None or not fps > 0:
        raise InputFileError(
            path,
            None,
            "CVAT exports do not record the frame rate: pass --fps "
            "(or --videos-dir with the video)",
        )
    task, label_attrs = _meta(ctx, root)
    start, step, stop, size = _frame_mapping(ctx, task)
    orig = task.find("original_size")
    if orig is not None:
        w = ctx.int_text(orig.find("width"), "width", None)
        h = ctx.int_text(orig.find("height"), "height", None)
    else:
        w = h = None
    w, h = w or width, h or height
    if not w or not h:
        ctx.fail(task, "has no <original_size> (width, height): pass --width and --height")
    if size is None:
        size = (stop - start) // step + 1 if stop is not None else None
    if stop is None:
        stop = start + (size - 1) * step if size else None
    result = ImportResult()
    vid = video_id or _default_id(root, task, path)

    def video_frame(node: XmlNode) -> int:
        k = ctx.int_attr(node, "frame")
        if k < 0 or (size is not None and k >= size):
            ctx.fail(node, f"frame {k} outside the task's frames 0..{(size or 0) - 1}")
        return start + k * step

    skip: set[int] = set()
    for tag in root.findall("tag"):
        if mapping.skip and tag.attrib.get("label") == mapping.skip:
            skip.add(video_frame(tag))
        else:
            result.ignore(f"tags of label {tag.attrib.get('label', '')!r}")
    for shape in _SHAPES:
        n = len(root.findall(shape))
        if n:
            result.ignore(f"{shape} shapes outside tracks", n)

    persons: dict[int, list[list[FrameBox]]] = {}
    action_tracks: list[tuple[int, str, XmlNode]] = []
    for track in root.findall("track"):
        tid = ctx.int_attr(track, "id")
        label = track.attrib.get("label", "")
        action = mapping.action_of_label(label)
        if label != mapping.person_label and action is None:
            result.ignore(f"tracks of label {label!r}")
            continue
        if tid in persons or any(t == tid for t, _, _ in action_tracks):
            ctx.fail(track, f"track id {tid} appears twice")
        if action is not None:
            action_tracks.append((tid, action, track))
            continue
        persons[tid] = _spans(
            ctx, track, video_frame, w, h, mapping, label_attrs.get(label, {}), skip, result
        )
    for tid, action, track in action_tracks:
        _merge_action_track(ctx, tid, action, track, video_frame, w, h, persons, mapping, result)
    tracks = []
    for tid, spans in sorted(persons.items()):
        try:
            tracks.append(make_track(tid, spans))
        except ValueError as e:
            raise InputFileError(path, None, str(e)) from None
    num_frames = (stop + 1) if stop is not None else 0
    annotated = (start, stop) if stop is not None else None
    result.videos.append(
        VideoAnnotations(
            video_id=vid,
            fps=float(fps),
            num_frames=num_frames,
            width=int(w),
            height=int(h),
            tracks=tuple(tracks),
            skip_frames=frozenset(skip),
            annotated=annotated,
            source=str(path),
        )
    )
    return result


def _box(ctx: _Ctx, node: XmlNode, w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1 = ctx.float_attr(node, "xtl"), ctx.float_attr(node, "ytl")
    x2, y2 = ctx.float_attr(node, "xbr"), ctx.float_attr(node, "ybr")
    if x2 <= x1 or y2 <= y1:
        ctx.fail(node, f"needs xtl < xbr and ytl < ybr, got {x1:g},{y1:g},{x2:g},{y2:g}")
    return (x1 / w, y1 / h, x2 / w, y2 / h)


def _spans(
    ctx: _Ctx,
    track: XmlNode,
    video_frame: Callable[[XmlNode], int],
    w: int,
    h: int,
    mapping: ActionMapping,
    input_types: dict[str, str],
    skip: set[int],
    result: ImportResult,
) -> list[list[FrameBox]]:
    """The visible spans of a person track, with per-frame actions."""
    inherited = _attributes(ctx, track, {})
    boxes = []
    for child in track.children:
        if child.tag == "box":
            boxes.append(child)
        elif child.tag in _SHAPES:
            result.ignore(f"{child.tag} shapes in person tracks")
    boxes.sort(key=lambda b: ctx.int_attr(b, "frame"))
    spans: list[list[FrameBox]] = []
    current: list[FrameBox] = []
    seen: set[int] = set()
    for b in boxes:
        frame = video_frame(b)
        if frame in seen:
            ctx.fail(b, f"frame {b.attrib['frame']} listed twice in track {track.attrib.get('id')}")
        seen.add(frame)
        if ctx.flag(b, "outside"):
            if current:
                spans.append(current)
            current = []
            continue
        values = _attributes(ctx, b, inherited)
        actions: set[str] = set()
        for name, value in values.items():
            if mapping.skip and name == mapping.skip:
                if is_checked(value):
                    skip.add(frame)
                continue
            kind = input_types.get(name, "")
            if kind.startswith("immutable"):
                if mapping.attributes is None:
                    continue  # an immutable attribute describes the person, not an action
                kind = kind.split(" ", 1)[1]
            actions |= mapping.actions_of_attribute(name, value, kind)
        current.append(
            FrameBox(
                frame,
                _box(ctx, b, w, h),
                frozenset(actions),
                keyframe=ctx.flag(b, "keyframe") if "keyframe" in b.attrib else True,
                occluded=ctx.flag(b, "occluded"),
            )
        )
    if current:
        spans.append(current)
    return spans


def _merge_action_track(
    ctx: _Ctx,
    tid: int,
    action: str,
    track: XmlNode,
    video_frame: Callable[[XmlNode], int],
    w: int,
    h: int,
    persons: dict[int, list[list[FrameBox]]],
    mapping: ActionMapping,
    result: ImportResult,
) -> None:
    """Labels mode: each visible box of an action track adds ``action`` to the person box it overlaps
    most (IoU >= mapping.merge_iou) on that frame; the boxes that overlap none form a person of their
    own (the action track's id)."""
    own: list[list[FrameBox]] = []
    current: list[FrameBox] = []
    # geometry only: adding an action never moves a box, so these stay valid while actions are added
    geometry = {pid: make_track(pid, spans) for pid, spans in persons.items()}
    for b in sorted(
        (c for c in track.children if c.tag == "box"), key=lambda b: ctx.int_attr(b, "frame")
    ):
        frame = video_frame(b)
        if ctx.flag(b, "outside"):
            if current:
                own.append(current)
            current = []
            continue
        box = _box(ctx, b, w, h)
        best, best_iou = None, mapping.merge_iou
        for pid, person in geometry.items():
            fb = box_at(person, frame)
            if fb is None:
                continue
            iou = float(pairwise_iou([box], [fb.box])[0, 0])
            if iou >= best_iou:
                best, best_iou = (pid, fb), iou
        if best is None:
            current.append(FrameBox(frame, box, frozenset({action})))
            continue
        if current:
            own.append(current)
            current = []
        pid, fb = best
        _add_action(persons[pid], fb, action)
    if current:
        own.append(current)
    if own:
        if tid in persons:
            ctx.fail(track, f"track id {tid} appears twice")
        persons[tid] = own


def _add_action(spans: list[list[FrameBox]], fb: FrameBox, action: str) -> None:
    """Add ``action`` to the person's box on ``fb.frame`` (inserting it when it was interpolated)."""
    for span in spans:
        if span[0].frame <= fb.frame <= span[-1].frame:
            for i, x in enumerate(span):
                if x.frame == fb.frame:
                    span[i] = FrameBox(x.frame, x.box, x.actions | {action}, x.keyframe, x.occluded)
                    return
                if x.frame > fb.frame:
                    span.insert(
                        i, FrameBox(fb.frame, fb.box, fb.actions | {action}, False, fb.occluded)
                    )
                    return
