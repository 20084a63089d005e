"""The common in-memory form of an annotation-tool export: per video its frame rate, frame count, size,
person tracks (per-frame boxes and per-frame action sets) and the frames marked to skip.

Every importer (:mod:`.cvat`, :mod:`.label_studio`, :mod:`.via`) produces :class:`VideoAnnotations`;
:mod:`.ava_writer` samples them at the keyframes. Frames are 0-based indices of the video's own frame
timeline (frame ``k`` is shown at ``k / fps`` seconds); boxes are normalised XYXY in [0, 1] (the tools
store pixels or percents, and a video's pixel size is not always known).

A track is a list of *spans*: runs of frames where the person is visible. Inside a span the listed
frames are the tool's boxes; a frame between two listed ones takes the box linearly interpolated between
them (x1, y1, x2, y2 each linear in the frame index, which is linear in x, y, width, height) and the
actions of the earlier one. Between spans the person is absent. Everything here is pure.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Box",
    "FrameBox",
    "Track",
    "VideoAnnotations",
    "ImportResult",
    "box_at",
    "interpolate_box",
    "make_track",
]

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameBox:
    """A person's box on one frame.

    Attributes:
        frame: 0-based video frame.
        box: normalised (x1, y1, x2, y2).
        actions: the action names the person does on this frame.
        keyframe: drawn or edited by the annotator (False: the tool interpolated it).
        occluded: the tool's occlusion flag (kept, not written to AVA files).
    """

    frame: int
    box: Box
    actions: frozenset[str] = frozenset()
    keyframe: bool = True
    occluded: bool = False


@dataclass(frozen=True)
class Track:
    """One person: ``spans`` of :class:`FrameBox` sorted by frame, spans in time order, disjoint."""

    track_id: int
    spans: tuple[tuple[FrameBox, ...], ...]

    @property
    def frames(self) -> list[int]:
        """The listed frames of all spans, ascending."""
        return [fb.frame for span in self.spans for fb in span]


@dataclass(frozen=True)
class VideoAnnotations:
    """One video's annotations.

    Attributes:
        video_id: the id written in the AVA CSVs (no commas or white space).
        fps: frame rate of the video's frame timeline.
        num_frames: frames in the video (0 if unknown).
        width, height: pixel size of the frames (0 if unknown).
        tracks: the persons.
        skip_frames: frames marked to skip (their keyframes become excluded timestamps).
        annotated: (first, last) frame, inclusive, the annotator worked on: a keyframe there without a
            person is written as an annotated keyframe with no person. ``None``: only keyframes that
            have a box are written.
        source: the file it was read from (named in messages).
    """

    video_id: str
    fps: float
    num_frames: int
    width: int
    height: int
    tracks: tuple[Track, ...]
    skip_frames: frozenset[int] = frozenset()
    annotated: tuple[int, int] | None = None
    source: str = ""


@dataclass
class ImportResult:
    """What an importer read: the videos and, per kind of element it left out, how many."""

    videos: list[VideoAnnotations] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)

    def ignore(self, what: str, n: int = 1) -> None:
        """Count ``n`` elements of kind ``what`` as left out.

        Args:
            what: a short description ("polygon shapes", "tracks of label 'car'").
            n: how many.
        """
        self.ignored[what] = self.ignored.get(what, 0) + n

    def extend(self, other: ImportResult) -> None:
        """Append ``other``'s videos and add its counts.

        Args:
            other: another file's result.
        """
        self.videos.extend(other.videos)
        for what, n in other.ignored.items():
            self.ignore(what, n)


def interpolate_box(a: Box, b: Box, t: float) -> Box:
    """The box ``a + (b - a) * t`` coordinate by coordinate.

    Args:
        a: box at t = 0.
        b: box at t = 1.
        t: position between them, 0..1.
    """
    return tuple(p + (q - p) * t for p, q in zip(a, b))  # type: ignore[return-value]


def make_track(track_id: int, spans: Iterable[Sequence[FrameBox]]) -> Track:
    """A :class:`Track` from spans (each sorted here by frame; empty spans dropped; spans ordered by
    their first frame).

    Args:
        track_id: the person id.
        spans: runs of visible frames.

    Raises:
        ValueError: a frame listed twice, or two spans that overlap.
    """
    clean = [tuple(sorted(s, key=lambda fb: fb.frame)) for s in spans if len(s)]
    clean.sort(key=lambda s: s[0].frame)
    last = None
    for span in clean:
        for fb in span:
            if last is not None and fb.frame <= last:
                raise ValueError(
                    f"track {track_id}: frame {fb.frame} listed twice or spans overlap"
                )
            last = fb.frame
    return Track(track_id, tuple(clean))


def box_at(track: Track, frame: int) -> FrameBox | None:
    """The person's box on ``frame``: listed, interpolated inside a span, or ``None`` (absent).

    Args:
        track: the person.
        frame: 0-based video frame.
    """
    i = bisect.bisect_right(track.spans, frame, key=lambda span: span[0].frame) - 1
    if i < 0:
        return None
    span = track.spans[i]
    if frame > span[-1].frame:
        return None
    j = bisect.bisect_left(span, frame, key=lambda fb: fb.frame)
    if span[j].frame == frame:
        return span[j]
    a, b = span[j - 1], span[j]
    t = (frame - a.frame) / (b.frame - a.frame)
    return FrameBox(
        frame, interpolate_box(a.box, b.box, t), a.actions, keyframe=False, occluded=a.occluded
    )
