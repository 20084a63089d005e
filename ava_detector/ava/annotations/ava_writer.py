""":class:`~.tracks.VideoAnnotations` -> the AVA-format dataset layout that ``register_ava`` reads.

Pure part (:func:`build_ava_tables`): the person boxes are sampled at the keyframes, ``rate`` per
second (default 1): keyframe ``j`` of a video is at ``t = j / rate`` seconds, on frame
``round(t * fps)``; only keyframes inside the annotated frames are written (when the tool does not say
which frames were annotated: from the first to the last frame with a box or a skip mark). Each box with actions gives one row per action
``video_id,sec,x1,y1,x2,y2,action_id,person_id`` (coordinates normalised, clipped to [0, 1], 4
decimals; person id = track id); an annotated keyframe without any person gives ``video_id,sec``; a
keyframe on a frame marked to skip is written to the excluded timestamps instead. Seconds: the
integer part zero-padded to 4 digits as AVA writes them (``0003``); a fraction only when the rate makes
one (rate 2: ``0002.5``), with the digits that give it exactly, at most 6 (rate 3: ``0000.333333``).
Boxes without any action cannot be written in the AVA format and are counted. Classes get ids 1..N in
the order of ``classes`` (default: sorted names).

File edge (:func:`write_ava_dataset`): everything is written under ``<out>.tmp`` and renamed to
``<out>`` at the end, so a failed run leaves no half-written dataset.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ava_detector.ava.annotations.tracks import (
    VideoAnnotations,
    box_at,
)
from ava_detector.ava.data.frame_lists import format_frame_list
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import folder_beside, replace_folder

__all__ = [
    "AVATables",
    "parse_rate",
    "format_sec",
    "keyframe_times",
    "build_ava_tables",
    "split_videos",
    "label_map_text",
    "list_frames",
    "write_ava_dataset",
    "LABEL_MAP_NAME",
    "IMAGE_SUFFIXES",
]

LABEL_MAP_NAME = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def parse_rate(text: str | float) -> Fraction:
    """Keyframes per second from ``"1"``, ``"2"``, ``"0.5"``, ``"1/3"`` (a positive rational).

    Args:
        text: the rate as written on the command line.
    """
    try:
        rate = Fraction(str(text).strip()).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"keyframe rate {text!r} is not a number") from None
    if rate <= 0:
        raise ValueError(f"keyframe rate must be positive, got {text!r}")
    return rate


def format_sec(t: Fraction) -> str:
    """A keyframe time as written in the CSVs (see the module docstring).

    Args:
        t: seconds, exact.
    """
    whole = t.numerator // t.denominator
    if t.denominator == 1:
        return f"{whole:04d}"
    frac = t - whole
    digits = None
    for n in range(1, 7):
        if (frac * 10**n).denominator == 1:
            digits = f"{int(frac * 10**n):0{n}d}"
            break
    if digits is None:
        scaled = round(frac * 10**6)
        if scaled == 10**6:
            return f"{whole + 1:04d}"
        digits = f"{scaled:06d}".rstrip("0")
    return f"{whole:04d}.{digits}"


def frame_of(sec_text: str, fps: float) -> int:
    """The 0-based frame of a written keyframe time, as the dataset reader computes it.

    Args:
        sec_text: the time as written (``0002.5``).
        fps: frame rate.
    """
    return int(round(float(sec_text) * fps))


def keyframe_times(first: int, last: int, fps: float, rate: Fraction) -> list[str]:
    """The written times of the keyframes whose frame lies in ``first..last``.

    Args:
        first, last: frame range, inclusive.
        fps: frame rate.
        rate: keyframes per second.
    """
    out: list[str] = []
    j = max(0, int((first - 1) / fps * rate))
    while True:
        text = format_sec(Fraction(j) / rate)
        frame = frame_of(text, fps)
        if frame > last:
            return out
        if frame >= first:
            out.append(text)
        j += 1


@dataclass
class AVATables:
    """The CSV lines per video, the classes and what could not be written."""

    rows: dict[str, list[str]] = field(default_factory=dict)
    exclusions: dict[str, list[str]] = field(default_factory=dict)
    secs: dict[str, tuple[str, str]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    left_out_actions: set[str] = field(default_factory=set)

    def count(self, what: str, n: int = 1) -> None:
        """Add ``n`` to the count ``what``.

        Args:
            what: description.
            n: how many.
        """
        self.counts[what] = self.counts.get(what, 0) + n


def _clip(v: float) -> float:
    return min(1.0, max(0.0, v))


def build_ava_tables(
    videos: list[VideoAnnotations], rate: Fraction = Fraction(1), classes: list[str] | None = None
) -> AVATables:
    """Sample every video at the keyframes and build the CSV lines (see the module docstring).

    Args:
        videos: the imported videos (distinct ids).
        rate: keyframes per second.
        classes: the class order (ids 1..N); default: every action name that occurs, sorted.
    """
    tables = AVATables()
    if classes is None:
        names = {
            a for v in videos for t in v.tracks for s in t.spans for fb in s for a in fb.actions
        }
        classes = sorted(names)
    tables.classes = list(classes)
    ids = {name: i + 1 for i, name in enumerate(classes)}
    for video in videos:
        if video.video_id in tables.rows:
            raise ValueError(f"video id {video.video_id!r} comes from two inputs")
        if video.annotated is not None:
            first, last = video.annotated
        else:
            frames = [f for t in video.tracks for f in t.frames] + list(video.skip_frames)
            first, last = (min(frames), max(frames)) if frames else (0, -1)
        rows, excluded, written = [], [], []
        for sec in keyframe_times(first, last, video.fps, rate):
            frame = frame_of(sec, video.fps)
            if frame in video.skip_frames:
                excluded.append(f"{video.video_id},{sec}")
                written.append(sec)
                continue
            lines = []
            for track in video.tracks:
                fb = box_at(track, frame)
                if fb is None:
                    continue
                x1, y1, x2, y2 = (_clip(v) for v in fb.box)
                if x2 <= x1 or y2 <= y1:
                    tables.count("boxes outside the frame (not written)")
                    continue
                known = sorted(ids[a] for a in fb.actions if a in ids)
                tables.left_out_actions |= {a for a in fb.actions if a not in ids}
                if not known:
                    tables.count("person boxes without an action (not written)")
                    continue
                tables.count("person boxes")
                box = f"{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f}"
                lines += [f"{video.video_id},{sec},{box},{a},{track.track_id}" for a in known]
            if lines or video.annotated is not None:
                rows += lines or [f"{video.video_id},{sec}"]
                written.append(sec)
                if not lines:
                    tables.count("keyframes without a person")
        tables.rows[video.video_id] = rows
        tables.exclusions[video.video_id] = excluded
        if written:
            tables.secs[video.video_id] = (written[0], written[-1])
    return tables


def split_videos(
    video_ids: list[str],
    *,
    val_ratio: float = 0.2,
    seed: int = 0,
    val_videos: list[str] | None = None,
) -> dict[str, str]:
    """``{video_id: "train" | "val"}``: the named ``val_videos``, or ``round(val_ratio * n)`` videos
    drawn with ``seed`` (at least one when the ratio is positive and there are two or more videos).

    Args:
        video_ids: all videos.
        val_ratio: share of videos in val (ignored with ``val_videos``).
        seed: seed of the draw.
        val_videos: explicit val videos (each must be one of ``video_ids``).
    """
    ids = sorted(video_ids)
    if val_videos is not None:
        unknown = sorted(set(val_videos) - set(ids))
        if unknown:
            raise ValueError(
                f"--val-videos names videos that were not imported: {unknown} (imported: {ids})"
            )
        val = set(val_videos)
    else:
        if not 0 <= val_ratio < 1:
            raise ValueError(f"--val-ratio must be in [0, 1), got {val_ratio}")
        n = round(val_ratio * len(ids))
        if n == 0 and val_ratio > 0 and len(ids) >= 2:
            n = 1
        val = set(random.Random(seed).sample(ids, n))
    return {v: ("val" if v in val else "train") for v in ids}


def label_map_text(classes: list[str]) -> str:
    """The v2.2-layout label map of ``classes`` (ids 1..N in order).

    Args:
        classes: action names (no quotes, backslashes or line breaks).
    """
    out = []
    for i, name in enumerate(classes, start=1):
        if any(c in name for c in '"\\\n\r') or not name.strip():
            raise ValueError(
                f"action name {name!r} cannot be written in a label map "
                "(empty, or holds a quote, backslash or line break)"
            )
        out.append(f'label {{\n  name: "{name}"\n  label_id: {i}\n}}\n')
    return "".join(out)


def list_frames(frames_dir: str | Path, video_ids: list[str]) -> dict[str, list[str]]:
    """``{video_id: [relative frame paths, sorted]}`` of the extracted frames ``<frames_dir>/<vid>/``.

    Args:
        frames_dir: the frames folder.
        video_ids: the videos that need frames (each must have a non-empty folder).
    """
    out = {}
    for vid in video_ids:
        d = Path(frames_dir) / vid
        names = (
            sorted(p.name for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if d.is_dir()
            else []
        )
        if not names:
            raise InputFileError(
                d, None, f"no extracted frames for video {vid!r} (expected {d}/<frame>.jpg)"
            )
        out[vid] = [f"{vid}/{n}" for n in names]
    return out


def write_ava_dataset(
    out: str | Path,
    videos: list[VideoAnnotations],
    tables: AVATables,
    splits: dict[str, str],
    *,
    rate: Fraction,
    frames_dir: str | Path | None = None,
    videos_dir: str | Path | None = None,
    info: dict | None = None,
    force: bool = False,
) -> dict:
    """Write the layout under ``out`` (atomically); return a summary.

    ``annotations/ava_{train,val}_v2.2.csv``, ``annotations/ava_{train,val}_excluded_timestamps_v2.2.csv``,
    ``annotations/<label map>``, ``dataset.json``, and ``frames`` -> ``frames_dir`` with
    ``frame_lists/{train,val}.csv``, or ``videos`` -> ``videos_dir`` (symbolic links to absolute
    paths: nothing is copied).

    Args:
        out: the dataset root to create.
        videos: the imported videos.
        tables: from :func:`build_ava_tables`.
        splits: from :func:`split_videos`.
        rate: keyframes per second (recorded in dataset.json).
        frames_dir: extracted frames ``<frames_dir>/<vid>/*.jpg`` (optional).
        videos_dir: the video files ``<videos_dir>/<vid>.mp4`` (optional).
        info: more keys for dataset.json (the tool, the input files).
        force: replace an existing ``out``.
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (pass --force to replace it)")
    fps_values = sorted({v.fps for v in videos})
    if len(fps_values) > 1:
        raise ValueError(
            "the videos have different frame rates "
            f"({', '.join(f'{v.video_id}: {v.fps:g}' for v in videos)}): extract their "
            "frames at one rate and pass it as --fps"
        )
    label_map = label_map_text(tables.classes)
    frame_lists = list_frames(frames_dir, [v.video_id for v in videos]) if frames_dir else None
    sizes = {(v.width, v.height) for v in videos}
    width, height = sizes.pop() if len(sizes) == 1 else (0, 0)
    tmp = folder_beside(out, force=True)  # whether out may be replaced was decided above
    (tmp / "annotations").mkdir()
    try:
        summary: dict = {"root": str(out), "splits": {}}
        for split in ("train", "val"):
            vids = [v.video_id for v in videos if splits[v.video_id] == split]
            rows = [r for vid in vids for r in tables.rows[vid]]
            excl = [r for vid in vids for r in tables.exclusions[vid]]
            (tmp / "annotations" / f"ava_{split}_v2.2.csv").write_text(
                "".join(r + "\n" for r in rows)
            )
            (tmp / "annotations" / f"ava_{split}_excluded_timestamps_v2.2.csv").write_text(
                "".join(r + "\n" for r in excl)
            )
            summary["splits"][split] = {
                "videos": len(vids),
                "keyframes": len({tuple(r.split(",")[:2]) for r in rows}),
                "rows": sum(1 for r in rows if r.count(",") == 7),
                "excluded": len(excl),
            }
            if frame_lists is not None:
                (tmp / "frame_lists").mkdir(exist_ok=True)
                (tmp / "frame_lists" / f"{split}.csv").write_text(
                    format_frame_list({vid: frame_lists[vid] for vid in vids})
                )
        (tmp / "annotations" / LABEL_MAP_NAME).write_text(label_map)
        if frames_dir:
            os.symlink(Path(frames_dir).resolve(), tmp / "frames", target_is_directory=True)
        if videos_dir:
            os.symlink(Path(videos_dir).resolve(), tmp / "videos", target_is_directory=True)
        secs = [s for pair in tables.secs.values() for s in pair]
        keyframe_secs = [min(secs, key=float), max(secs, key=float)] if secs else []
        dataset = {
            "format": "ava",
            "start_sec": 0,
            "fps": fps_values[0] if fps_values else 0,
            **({"keyframe_secs": [_number(s) for s in keyframe_secs]} if keyframe_secs else {}),
            "keyframe_rate": float(rate) if rate.denominator != 1 else int(rate),
            "width": width,
            "height": height,
            "classes": tables.classes,
            "videos": {
                v.video_id: {
                    "split": splits[v.video_id],
                    "fps": v.fps,
                    "frames": v.num_frames,
                    "width": v.width,
                    "height": v.height,
                    "source": v.source,
                    "keyframe_secs": [_number(s) for s in tables.secs.get(v.video_id, ())],
                    "annotated_frames": list(v.annotated) if v.annotated else None,
                }
                for v in videos
            },
            **(info or {}),
        }
        (tmp / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n")
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["counts"] = dict(tables.counts)
    summary["classes"] = list(tables.classes)
    return summary


def _number(sec: str) -> int | float:
    v = float(sec)
    return int(v) if v == int(v) else v
