"""Label Studio JSON export (video object tracking) -> :class:`~.tracks.VideoAnnotations`.

The export is an array of tasks ``{"id", "data": {"video": URL, ...}, "annotations": [{"result": [...],
"was_cancelled"}], "predictions": [...]}``; one task is one video. Read from the first annotation that
was not cancelled (or the first prediction, ``use_predictions``):

- ``videorectangle`` regions: ``value.sequence`` of keyframes ``{frame, enabled, x, y, width, height,
  rotation, time}`` in percent of the frame (top-left corner, size), ``frame`` 1-based;
  ``value.framesCount`` / ``value.duration`` give the frame rate and length; ``value.labels`` the
  region's labels. Between an enabled keyframe and the next keyframe the box is linear in x, y, width
  and height (as Label Studio interpolates); a keyframe with ``enabled: false`` is shown on its own
  frame and hides the region from the next frame until the next keyframe; after the last keyframe, if
  enabled, the box stays until the end of the video. Rotation is not used (counted).
- Actions: the region's labels other than the person label and the skip label, and the choices /
  taxonomy results that refer to the region (same ``id``; a taxonomy path gives its last item).
  A region is one action set over its whole life: a person whose actions change is drawn as several
  regions; regions whose ``meta.text`` says ``person_id=N`` are one person ``N`` (other regions get
  ids after the largest given one, in order).
- Skipped frames: ``timelinelabels`` ranges (1-based, inclusive) with the skip label, and the frames
  of a region labelled with the skip label.

Other results are left out and counted. Errors name the file and the JSON path. Pure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ava_detector.ava.annotations.cvat import safe_video_id
from ava_detector.ava.annotations.json_paths import (
    JsonCtx,
    load_json,
)
from ava_detector.ava.annotations.mapping import (
    DEFAULT_MAPPING,
    ActionMapping,
)
from ava_detector.ava.annotations.tracks import (
    FrameBox,
    ImportResult,
    VideoAnnotations,
    make_track,
)

__all__ = ["parse_label_studio", "region_spans", "PERSON_ID_META"]

PERSON_ID_META = re.compile(r"^\s*person_id\s*[=:]\s*(\d+)\s*$")
_VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


def region_spans(
    ctx: JsonCtx, sequence: list, where: str, frames_count: int, actions: frozenset[str]
) -> list[list[FrameBox]]:
    """The visible spans of one ``videorectangle`` region (see the module docstring).

    Args:
        ctx: names the file in errors.
        sequence: ``value.sequence``.
        where: JSON path of the sequence.
        frames_count: frames in the video (0: unknown; the last enabled keyframe then ends its span).
        actions: the region's actions, on every frame.
    """
    items = []
    for i, item in enumerate(ctx.list(sequence, where)):
        w = f"{where}[{i}]"
        item = ctx.dict(item, w)
        frame = ctx.int(item, "frame", w)
        if frame < 1 or (frames_count and frame > frames_count):
            ctx.fail(
                f"{w}.frame", f"frame {frame} outside the video's frames 1..{frames_count or '?'}"
            )
        x, y = ctx.number(item, "x", w), ctx.number(item, "y", w)
        width, height = ctx.number(item, "width", w), ctx.number(item, "height", w)
        if width <= 0 or height <= 0:
            ctx.fail(w, f"width and height must be positive, got {width:g} x {height:g}")
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            ctx.fail(f"{w}.enabled", f"expected true or false, got {enabled!r}")
        box = (x / 100, y / 100, (x + width) / 100, (y + height) / 100)
        items.append((frame, enabled, box, w))
    items.sort(key=lambda t: t[0])
    spans: list[list[FrameBox]] = []
    current: list[FrameBox] | None = None
    last = None
    for frame, enabled, box, w in items:
        if frame == last:
            ctx.fail(w, f"frame {frame} appears twice in the sequence")
        last = frame
        fb = FrameBox(frame - 1, box, actions)
        if current is not None:
            current.append(fb)
            if not enabled:
                spans.append(current)
                current = None
        elif enabled:
            current = [fb]
    if current is not None:
        end = frames_count - 1
        if frames_count and current[-1].frame < end:
            current.append(FrameBox(end, current[-1].box, actions, keyframe=False))
        spans.append(current)
    return spans


def _url_name(url: str) -> str:
    """The file named by a task's video URL (Label Studio's local-files URLs carry it in ``?d=``)."""
    parts = urlsplit(url)
    d = parse_qs(parts.query).get("d")
    return d[0] if d else parts.path


def _video_id(ctx: JsonCtx, task: dict[str, Any], where: str, video_key: str) -> str:
    data = ctx.dict(task.get("data", {}), f"{where}.data")
    if video_key:
        if not isinstance(data.get(video_key), str):
            ctx.fail(f"{where}.data.{video_key}", "missing (the video's URL or path, --video-key)")
        return safe_video_id(_url_name(data[video_key]))
    for key in ("video", "video_url", "url"):
        if isinstance(data.get(key), str):
            return safe_video_id(_url_name(data[key]))
    for value in data.values():
        if isinstance(value, str) and _url_name(value).lower().endswith(_VIDEO_SUFFIXES):
            return safe_video_id(_url_name(value))
    return f"task_{task.get('id', '')}"


def _choice_actions(ctx: JsonCtx, value: dict[str, Any], where: str) -> set[str]:
    out: set[str] = set()
    for key in ("choices", "labels"):
        for c in ctx.list(value.get(key, []), f"{where}.{key}"):
            if isinstance(c, str):
                out.add(c)
    for path in ctx.list(value.get("taxonomy", []), f"{where}.taxonomy"):
        if isinstance(path, list) and path and isinstance(path[-1], str):
            out.add(path[-1])
    return out


def parse_label_studio(
    data: bytes,
    path: str | Path = "<label studio json>",
    *,
    mapping: ActionMapping = DEFAULT_MAPPING,
    fps: float | None = None,
    width: int = 0,
    height: int = 0,
    video_key: str = "",
    use_predictions: bool = False,
) -> ImportResult:
    """Read a Label Studio JSON export of video tasks.

    Args:
        data: the file's bytes.
        path: the file, named in errors.
        mapping: person label (a region label that is not an action), skip label, label -> action map
            (``mapping.labels``; ``None``: every other label is an action).
        fps: frame rate; default ``framesCount / duration`` of the regions.
        width, height: pixel size of the videos (Label Studio does not export it; 0 = unknown).
        video_key: the task data field holding the video; default ``video`` or the first video URL.
        use_predictions: read the tasks' first prediction instead of their annotations.
    """
    ctx = JsonCtx(path)
    tasks = load_json(data, path)
    if isinstance(tasks, dict):
        tasks = [tasks]
    ctx.list(tasks, "")
    result = ImportResult()
    seen_ids: dict[str, str] = {}
    for ti, task in enumerate(tasks):
        where = f"[{ti}]"
        task = ctx.dict(task, where)
        vid = _video_id(ctx, task, where, video_key)
        if vid in seen_ids:
            ctx.fail(where, f"video id {vid!r} also used by the task at {seen_ids[vid]}")
        seen_ids[vid] = where
        key = "predictions" if use_predictions else "annotations"
        entries = ctx.list(task.get(key, []), f"{where}.{key}")
        chosen = None
        for ai, ann in enumerate(entries):
            ann = ctx.dict(ann, f"{where}.{key}[{ai}]")
            if not ann.get("was_cancelled", False):
                chosen = (ann, f"{where}.{key}[{ai}]")
                break
        if chosen is None:
            result.ignore(f"tasks without {key}")
            continue
        result.videos.append(
            _read_annotation(ctx, vid, *chosen, mapping, fps, width, height, result)
        )
    return result


def _read_annotation(
    ctx: JsonCtx,
    vid: str,
    ann: dict[str, Any],
    where: str,
    mapping: ActionMapping,
    fps: float | None,
    width: int,
    height: int,
    result: ImportResult,
) -> VideoAnnotations:
    results = ctx.list(ann.get("result", []), f"{where}.result")
    regions: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    extra_actions: dict[str, set[str]] = {}
    skip: set[int] = set()
    frames_count, duration = 0, 0.0
    for ri, r in enumerate(results):
        w = f"{where}.result[{ri}]"
        r = ctx.dict(r, w)
        rtype = str(r.get("type", "")).lower()
        value = ctx.dict(r.get("value", {}), f"{w}.value")
        if rtype == "videorectangle":
            regions.append((r, value, w))
            if "framesCount" in value:
                frames_count = max(frames_count, ctx.int(value, "framesCount", f"{w}.value"))
            if "duration" in value:
                duration = max(duration, ctx.number(value, "duration", f"{w}.value"))
        elif rtype in ("choices", "taxonomy", "labels"):
            extra_actions.setdefault(str(r.get("id")), set()).update(
                _choice_actions(ctx, value, f"{w}.value")
            )
        elif rtype == "timelinelabels" and mapping.skip:
            timeline = ctx.list(value.get("timelinelabels", []), f"{w}.value.timelinelabels")
            if mapping.skip in timeline:
                for gi, rng in enumerate(ctx.list(value.get("ranges", []), f"{w}.value.ranges")):
                    gw = f"{w}.value.ranges[{gi}]"
                    rng = ctx.dict(rng, gw)
                    a, b = ctx.int(rng, "start", gw), ctx.int(rng, "end", gw)
                    skip.update(range(a - 1, b))
            else:
                result.ignore("timelinelabels results")
        else:
            result.ignore(f"{rtype or 'untyped'} results")
    if fps is None:
        if not frames_count or not duration > 0:
            ctx.fail(f"{where}.result", "the regions give no framesCount and duration: pass --fps")
        fps = frames_count / duration
        rounded = round(fps, 6)
        fps = rounded if abs(fps - rounded) < 1e-9 * fps else fps
    region_ids = {str(r.get("id")) for r, _, _ in regions}
    stray = sum(1 for rid in extra_actions if rid not in region_ids)
    if stray:
        result.ignore("choices / taxonomy results not tied to a region", stray)
    explicit: dict[int, list] = {}
    others: list = []
    for r, value, w in regions:
        labels = {
            x for x in ctx.list(value.get("labels", []), f"{w}.value.labels") if isinstance(x, str)
        }
        labels |= extra_actions.get(str(r.get("id")), set())
        if mapping.skip and mapping.skip in labels:
            for span in region_spans(
                ctx, value.get("sequence", []), f"{w}.value.sequence", frames_count, frozenset()
            ):
                skip.update(range(span[0].frame, span[-1].frame + 1))
            continue
        actions = set()
        for label in labels - {mapping.person_label}:
            if mapping.labels is None:
                actions.add(label)
            elif label in mapping.labels:
                actions.add(mapping.labels[label])
        if float(
            next(
                (
                    s.get("rotation", 0)
                    for s in value.get("sequence", [])
                    if isinstance(s, dict) and s.get("rotation", 0)
                ),
                0,
            )
            or 0
        ):
            result.ignore("rotated regions (rotation not used)")
        spans = region_spans(
            ctx, value.get("sequence", []), f"{w}.value.sequence", frames_count, frozenset(actions)
        )
        pid = None
        meta = r.get("meta", {})
        if isinstance(meta, dict):
            for text in (
                meta.get("text", []) if isinstance(meta.get("text"), list) else [meta.get("text")]
            ):
                m = PERSON_ID_META.match(text) if isinstance(text, str) else None
                if m:
                    pid = int(m.group(1))
        (explicit.setdefault(pid, []) if pid is not None else others).append((spans, w))
    next_id = max(explicit, default=-1) + 1
    for spans, w in others:
        explicit[next_id] = [(spans, w)]
        next_id += 1
    tracks = []
    for pid in sorted(explicit):
        all_spans = [s for spans, _ in explicit[pid] for s in spans]
        try:
            tracks.append(make_track(pid, all_spans))
        except ValueError:
            ctx.fail(
                ", ".join(w for _, w in explicit[pid]),
                f"regions of person_id={pid} overlap in time",
            )
    annotated = (0, frames_count - 1) if frames_count else None
    return VideoAnnotations(
        video_id=vid,
        fps=float(fps),
        num_frames=frames_count,
        width=width,
        height=height,
        tracks=tuple(tracks),
        skip_frames=frozenset(skip),
        annotated=annotated,
        source=str(ctx.path),
    )
