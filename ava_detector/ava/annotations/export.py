""":class:`~.tracks.VideoAnnotations` -> CVAT for video 1.1 XML and Label Studio predictions JSON, so
annotators correct boxes and actions instead of starting from nothing.

CVAT: one XML per video (a task): a ``person`` track per person id (its listed boxes as
``keyframe="1"`` boxes, ``outside="1"`` on the frame after each span), a checkbox attribute per class
(mutable, checked on the boxes that do the action), a ``<tag>`` with the skip label on every skipped
frame, ``start_frame`` / ``stop_frame`` = the annotated frames (from frame 0 when unknown),
``original_size`` the frame size.
Label Studio: one task per video with one prediction; a ``videorectangle`` region per person and run
of keyframes with the same actions (its labels), the person id in the region's ``meta.text``
(``person_id=N``), each run closed by a disabled keyframe on the frame after it; skipped frames as a
``timelinelabels`` result. Both read back through :mod:`.cvat` / :mod:`.label_studio` to the same
boxes, actions, person ids and skipped keyframes. Pure: videos in, text out.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ava_detector.ava.annotations.tracks import (
    FrameBox,
    VideoAnnotations,
    interpolate_box,
)

__all__ = ["to_cvat_xml", "to_label_studio_tasks", "dumps_tasks"]


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for f in sorted(frames):
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs


def to_cvat_xml(
    video: VideoAnnotations,
    classes: list[str],
    *,
    person_label: str = "person",
    skip_label: str = "skip",
    source: str = "auto",
    video_suffix: str = ".mp4",
) -> str:
    """The CVAT for video 1.1 XML of one video (see the module docstring).

    Args:
        video: the video (its frame size must be known: CVAT coordinates are pixels).
        classes: the action names (one checkbox attribute each).
        person_label: the label of the person tracks.
        skip_label: the tag label of skipped frames.
        source: CVAT's ``source`` of the shapes ("auto" for model output, "manual").
        video_suffix: appended to the video id in ``meta/task/source``.
    """
    if not video.width or not video.height:
        raise ValueError(
            f"video {video.video_id!r}: the frame size is unknown (dataset.json has no "
            "width / height): pass --width and --height"
        )
    frames = [f for t in video.tracks for f in t.frames] + sorted(video.skip_frames)
    # the task's frames: the annotated range (a CVAT import's task), else the video from frame 0
    first, last = video.annotated or (0, max(frames) if frames else 0)
    first = min([first] + frames)
    last = max([last] + frames)
    W, H = video.width, video.height
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
        "    <task>",
        f"      <name>{escape(video.video_id)}</name>",
        f"      <size>{last - first + 1}</size>",
        "      <mode>interpolation</mode>",
        "      <overlap>0</overlap>",
        f"      <start_frame>{first}</start_frame>",
        f"      <stop_frame>{last}</stop_frame>",
        "      <frame_filter></frame_filter>",
        "      <labels>",
        "        <label>",
        f"          <name>{escape(person_label)}</name>",
        "          <type>rectangle</type>",
        "          <attributes>",
    ]
    for name in classes:
        out += [
            "            <attribute>",
            f"              <name>{escape(name)}</name>",
            "              <mutable>True</mutable>",
            "              <input_type>checkbox</input_type>",
            "              <default_value>false</default_value>",
            "              <values>false</values>",
            "            </attribute>",
        ]
    out += [
        "          </attributes>",
        "        </label>",
        "        <label>",
        f"          <name>{escape(skip_label)}</name>",
        "          <type>tag</type>",
        "          <attributes></attributes>",
        "        </label>",
        "      </labels>",
        "      <original_size>",
        f"        <width>{W}</width>",
        f"        <height>{H}</height>",
        "      </original_size>",
        f"      <source>{escape(video.video_id + video_suffix)}</source>",
        "    </task>",
        "  </meta>",
    ]

    def box(
        frame: int,
        b: tuple[float, float, float, float],
        outside: bool,
        attrs: list[tuple[str, bool]],
    ) -> str:
        x1, y1, x2, y2 = b
        head = (
            f'    <box frame="{frame - first}" outside="{int(outside)}" occluded="0" keyframe="1" '
            f'xtl="{x1 * W:.4f}" ytl="{y1 * H:.4f}" xbr="{x2 * W:.4f}" ybr="{y2 * H:.4f}" '
            'z_order="0">'
        )
        body = "".join(
            f"<attribute name={quoteattr(n)}>{'true' if on else 'false'}</attribute>"
            for n, on in attrs
        )
        return head + body + "</box>"

    for track in video.tracks:
        out.append(
            f'  <track id="{track.track_id}" label={quoteattr(person_label)} '
            f"source={quoteattr(source)}>"
        )
        for span in track.spans:
            for fb in span:
                out.append(box(fb.frame, fb.box, False, [(n, n in fb.actions) for n in classes]))
            end = span[-1]
            if end.frame + 1 <= last:
                out.append(
                    box(end.frame + 1, end.box, True, [(n, n in end.actions) for n in classes])
                )
        out.append("  </track>")
    for f in sorted(video.skip_frames):
        out.append(
            f'  <tag frame="{f - first}" label={quoteattr(skip_label)} source="manual"></tag>'
        )
    out.append("</annotations>")
    return "\n".join(out) + "\n"


def to_label_studio_tasks(
    videos: list[VideoAnnotations],
    *,
    video_url: str = "videos/{video_id}.mp4",
    from_name: str = "box",
    to_name: str = "video",
    skip_label: str = "skip",
    timeline_from_name: str = "timeline",
    model_version: str = "ava_detector",
) -> list[dict]:
    """Label Studio tasks with one prediction each (see the module docstring).

    Args:
        videos: the videos (their frame count: ``num_frames``, else the frame after the last box).
        video_url: the task's ``data.video``, ``{video_id}`` replaced.
        from_name, to_name: the names of the VideoRectangle and Video tags of the labeling config.
        skip_label: the TimelineLabels label of skipped frames.
        timeline_from_name: the name of the TimelineLabels tag.
        model_version: written in each prediction.
    """
    tasks = []
    for video in videos:
        frames = [f for t in video.tracks for f in t.frames] + sorted(video.skip_frames)
        count = video.num_frames or (max(frames) + 2 if frames else 1)
        value_head = {"framesCount": count, "duration": count / video.fps}
        result = []
        for track in video.tracks:
            runs: list[
                tuple[list, bool]
            ] = []  # (boxes, continued by the next run in the same span)
            for span in track.spans:
                for i, fb in enumerate(span):
                    if i > 0 and runs[-1][0][-1].actions == fb.actions:
                        runs[-1][0].append(fb)
                    else:
                        if i > 0:
                            runs[-1] = (runs[-1][0], True)
                        runs.append(([fb], False))
            for n, (run, continued) in enumerate(runs):
                seq = [_ls_item(fb, video.fps, True) for fb in run]
                end = run[-1]
                close = end.frame + 1
                if continued:
                    nxt = runs[n + 1][0][0]
                    close = nxt.frame - 1
                    if close == end.frame:
                        if len(run) == 1:
                            raise ValueError(
                                f"video {video.video_id!r}, person {track.track_id}: actions change "
                                "on consecutive frames; Label Studio regions cannot express it"
                            )
                        seq[-1]["enabled"] = False
                        close = None
                if close is not None and close < count:
                    t = (close - end.frame) / (nxt.frame - end.frame) if continued else 0.0
                    b = interpolate_box(end.box, nxt.box, t) if continued else end.box
                    seq.append(_ls_item(FrameBox(close, b), video.fps, False))
                result.append(
                    {
                        "id": f"p{track.track_id}_{n}",
                        "type": "videorectangle",
                        "from_name": from_name,
                        "to_name": to_name,
                        "origin": "prediction",
                        "value": {**value_head, "sequence": seq, "labels": sorted(run[0].actions)},
                        "meta": {"text": [f"person_id={track.track_id}"]},
                    }
                )
        if video.skip_frames:
            result.append(
                {
                    "id": "skipped_frames",
                    "type": "timelinelabels",
                    "from_name": timeline_from_name,
                    "to_name": to_name,
                    "origin": "prediction",
                    "value": {
                        "ranges": [
                            {"start": a + 1, "end": b + 1}
                            for a, b in _runs(sorted(video.skip_frames))
                        ],
                        "timelinelabels": [skip_label],
                    },
                }
            )
        tasks.append(
            {
                "data": {"video": video_url.format(video_id=video.video_id)},
                "predictions": [{"model_version": model_version, "result": result}],
            }
        )
    return tasks


def _ls_item(fb: FrameBox, fps: float, enabled: bool) -> dict[str, Any]:
    x1, y1, x2, y2 = fb.box
    return {
        "frame": fb.frame + 1,
        "enabled": enabled,
        "rotation": 0,
        "x": x1 * 100,
        "y": y1 * 100,
        "width": (x2 - x1) * 100,
        "height": (y2 - y1) * 100,
        "time": fb.frame / fps,
    }


def dumps_tasks(tasks: list[dict]) -> str:
    """The tasks as a JSON document (Label Studio's import format).

    Args:
        tasks: from :func:`to_label_studio_tasks`.
    """
    return json.dumps(tasks, indent=1) + "\n"
