"""VIA 3 (VGG Image Annotator 3) video project JSON -> :class:`~.tracks.VideoAnnotations`.

A project holds ``attribute`` definitions (``aname``, ``type``: 1 text, 2 checkbox, 3 radio, 4 select,
``options``: id -> text), ``file`` entries (``fname``), ``view`` entries (``fid_list``) and
``metadata`` entries ``{"vid", "z", "xy", "av"}``:

- a box on a video frame: ``z = [t]`` (seconds), ``xy = [2, x, y, w, h]`` (shape 2 = rectangle, pixels
  of the frame, top-left corner and size), ``av`` its attribute values (attribute id -> option id for
  radio / select; a comma-separated list of option ids, or a list, for checkbox; text for text);
- a temporal segment: ``z = [t1, t2]``, ``xy = []``.

Each box is taken at the frame nearest its time (``round(t * fps)``); VIA does not interpolate between
boxes, so a keyframe uses the boxes drawn on its own frame. Actions: the texts of the checked / chosen
options (through ``mapping.attributes`` {attribute: {option text: action}} when given). The person id
is the integer in the text attribute ``mapping.track_attribute``; boxes without one get ids after the
largest given one, in time order. Skipped frames: boxes or temporal segments with an option whose
text is the skip name. Other shapes and metadata are left out and counted. Pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ava_detector.ava.annotations.cvat import safe_video_id
from ava_detector.ava.annotations.json_paths import (
    JsonCtx,
    load_json,
)
from ava_detector.ava.annotations.mapping import (
    DEFAULT_MAPPING,
    ActionMapping,
    is_checked,
)
from ava_detector.ava.annotations.tracks import (
    FrameBox,
    ImportResult,
    VideoAnnotations,
    make_track,
)

__all__ = ["parse_via3", "CHECKBOX", "RADIO", "SELECT", "TEXT"]

TEXT, CHECKBOX, RADIO, SELECT = 1, 2, 3, 4


def _chosen(ctx: JsonCtx, attr: dict[str, Any], value: Any, where: str) -> list[str]:
    """Option texts chosen in ``value`` of attribute ``attr``."""
    options = attr.get("options", {}) or {}
    kind = attr.get("type")
    if kind == CHECKBOX:
        if isinstance(value, str):
            ids = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            ids = [str(v) for v in value]
        elif isinstance(value, dict):
            ids = [str(k) for k, v in value.items() if v is True or is_checked(str(v))]
        else:
            ctx.fail(where, f"checkbox value must be a list of option ids, got {value!r}")
    elif kind in (RADIO, SELECT):
        ids = [str(value)] if str(value).strip() != "" else []
    else:
        return []
    out = []
    for i in ids:
        if i not in options:
            ctx.fail(
                where,
                f"option id {i!r} is not an option of attribute {attr.get('aname')!r} "
                f"(options: {sorted(options)})",
            )
        out.append(str(options[i]))
    return out


def parse_via3(
    data: bytes,
    path: str | Path = "<via project>",
    *,
    mapping: ActionMapping = DEFAULT_MAPPING,
    fps: float | None = None,
    sizes: dict[str, tuple[int, int]] | None = None,
    width: int = 0,
    height: int = 0,
) -> ImportResult:
    """Read a VIA 3 project (its video files; image files are left out).

    Args:
        data: the project JSON's bytes.
        path: the file, named in errors.
        mapping: skip name, person-id attribute, option -> action map.
        fps: the videos' frame rate (VIA projects do not record it).
        sizes: ``{video_id: (width, height)}`` when known (e.g. probed from the video files).
        width, height: pixel size for videos not in ``sizes``.
    """
    ctx = JsonCtx(path)
    project = ctx.dict(load_json(data, path), "")
    if fps is None or not fps > 0:
        ctx.fail("", "VIA projects do not record the frame rate: pass --fps")
    attributes = ctx.dict(project.get("attribute", {}), "attribute")
    files = ctx.dict(project.get("file", {}), "file")
    views = ctx.dict(project.get("view", {}), "view")
    metadata = ctx.dict(project.get("metadata", {}), "metadata")
    result = ImportResult()
    view_file: dict[str, str] = {}
    for vid_key, view in views.items():
        fids = ctx.list(
            ctx.dict(view, f"view.{vid_key}").get("fid_list", []), f"view.{vid_key}.fid_list"
        )
        if len(fids) != 1:
            ctx.fail(f"view.{vid_key}.fid_list", "expected one file per view")
        view_file[str(vid_key)] = str(fids[0])
    per_video: dict[str, dict] = {}
    for fid, f in files.items():
        f = ctx.dict(f, f"file.{fid}")
        name = f.get("fname") or f.get("src") or str(fid)
        if f.get("type", 4) != 4:
            result.ignore("non-video files")
            continue
        video_id = safe_video_id(str(name))
        if any(v["video_id"] == video_id for v in per_video.values()):
            ctx.fail(f"file.{fid}.fname", f"two files give the video id {video_id!r}")
        per_video[str(fid)] = {"video_id": video_id, "boxes": [], "skip": set()}
    for mid, m in metadata.items():
        w = f"metadata.{mid}"
        m = ctx.dict(m, w)
        file_id = view_file.get(str(m.get("vid")))
        if file_id is None:
            ctx.fail(f"{w}.vid", f"view {m.get('vid')!r} is not in the project's views")
        if file_id not in per_video:
            continue
        video = per_video[file_id]
        z = ctx.list(m.get("z", []), f"{w}.z")
        xy = ctx.list(m.get("xy", []), f"{w}.xy")
        av = ctx.dict(m.get("av", {}), f"{w}.av")
        chosen: dict[str, list[str]] = {}
        pid = None
        for aid, value in av.items():
            attr = attributes.get(str(aid))
            if not isinstance(attr, dict):
                ctx.fail(f"{w}.av.{aid}", f"attribute {aid!r} is not defined in the project")
            aname = str(attr.get("aname", aid))
            if mapping.track_attribute and aname == mapping.track_attribute:
                try:
                    pid = int(str(value).strip())
                except ValueError:
                    ctx.fail(f"{w}.av.{aid}", f"person id {value!r} is not an integer")
                continue
            chosen[aname] = _chosen(ctx, attr, value, f"{w}.av.{aid}")
        skipped = bool(mapping.skip) and any(mapping.skip in texts for texts in chosen.values())
        for i, t in enumerate(z):
            if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
                ctx.fail(f"{w}.z[{i}]", f"expected a time in seconds >= 0, got {t!r}")
        if len(z) == 2 and not xy:
            if skipped:
                video["skip"].update(range(round(z[0] * fps), round(z[1] * fps) + 1))
            else:
                result.ignore("temporal segments")
            continue
        if len(z) != 1 or not xy:
            result.ignore("file-level or multi-frame metadata")
            continue
        if xy[0] != 2:
            result.ignore("non-rectangle regions")
            continue
        if len(xy) != 5 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in xy
        ):
            ctx.fail(f"{w}.xy", f"a rectangle is [2, x, y, width, height], got {xy!r}")
        frame = round(z[0] * fps)
        if skipped:
            video["skip"].add(frame)
            continue
        actions: set[str] = set()
        for aname, texts in chosen.items():
            for text in texts:
                if mapping.attributes is None:
                    actions.add(text)
                else:
                    target = mapping.attributes.get(aname)
                    if isinstance(target, dict) and target.get(text):
                        actions.add(target[text])
                    elif isinstance(target, str):
                        actions.add(target)
        video["boxes"].append((frame, float(z[0]), xy[1:], frozenset(actions), pid, w))
    for video in per_video.values():
        result.videos.append(
            _video(ctx, video, fps, (sizes or {}).get(video["video_id"]), width, height, path)
        )
    return result


def _video(
    ctx: JsonCtx,
    video: dict[str, Any],
    fps: float,
    size: tuple[int, int] | None,
    width: int,
    height: int,
    path: str | Path,
) -> VideoAnnotations:
    w, h = size or (width, height)
    if video["boxes"] and (not w or not h):
        ctx.fail(
            "file",
            f"video {video['video_id']!r}: VIA projects do not record the frame size: "
            "pass --width and --height (or --videos-dir with the videos)",
        )
    boxes = sorted(video["boxes"], key=lambda b: (b[1], b[2][0], b[2][1]))
    next_id = max((b[4] for b in boxes if b[4] is not None), default=-1) + 1
    per_person: dict[int, list] = {}
    for frame, _t, (x, y, bw, bh), actions, pid, where in boxes:
        if bw <= 0 or bh <= 0:
            ctx.fail(f"{where}.xy", f"width and height must be positive, got {bw:g} x {bh:g}")
        if pid is None:
            pid, next_id = next_id, next_id + 1
        fb = FrameBox(frame, (x / w, y / h, (x + bw) / w, (y + bh) / h), actions)
        spans = per_person.setdefault(pid, [])
        if any(s[0].frame == frame for s in spans):
            ctx.fail(where, f"person {pid} has two boxes on frame {frame}")
        spans.append([fb])
    tracks = tuple(make_track(pid, spans) for pid, spans in sorted(per_person.items()))
    return VideoAnnotations(
        video_id=video["video_id"],
        fps=float(fps),
        num_frames=0,
        width=int(w or 0),
        height=int(h or 0),
        tracks=tracks,
        skip_frames=frozenset(video["skip"]),
        annotated=None,
        source=str(path),
    )
