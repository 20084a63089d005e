"""Synthetic persons whose paths cross, with known identities: the ground truth for tracking.

The synthetic AVA scene (:mod:`ava_detector.data.synthetic_scene`) keeps every person in its
own band of the frame, so nobody ever crosses anybody. Here persons walk across the whole width
back and forth on overlapping lanes at different speeds, so their boxes overlap and swap sides,
and one person may be out of view for a while (``absent``). The persons are that module's
:class:`PersonTrack` objects, so :func:`render_frame` draws them and :func:`person_box` gives their
boxes. Pure and seeded: a ``numpy.random.Generator`` in, arrays out; no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ava_detector.data.synthetic_scene import (
    MOVEMENTS,
    PersonTrack,
    SceneSpec,
    person_box,
    render_frame,
)

__all__ = ["CrossingSpec", "crossing_boxes", "crossing_persons", "render_crossing"]

_BOX_W = 26  # the synthetic scene's person box width in pixels (person_box)
_BOX_H = 56
_TEXTURE = (26, 14)  # body texture rows, columns


@dataclass(frozen=True)
class CrossingSpec:
    """Persons crossing each other in a :class:`SceneSpec` frame.

    ``speed``: pixels per second range of the walkers; ``absent``: ``(person, first second, last
    second)`` intervals when that person is out of view (not drawn, no box); ``jitter``: box noise
    as a fraction of the box size; ``miss``: probability that a visible person gets no box.
    """

    scene: SceneSpec = SceneSpec(duration=60, persons=(4, 4))
    speed: tuple[float, float] = (8.0, 20.0)
    absent: tuple[tuple[int, float, float], ...] = ()
    jitter: float = 0.03
    miss: float = 0.05


def crossing_persons(rng: np.random.Generator, spec: CrossingSpec) -> list[PersonTrack]:
    """The persons of one crossing video: each walks the full width, bouncing at the frame edges,
    on a lane whose height overlaps the others'.

    Args:
        rng: the random generator (seeded by the caller).
        spec: the scene and the walkers' speeds.
    """
    scene = spec.scene
    n = int(scene.persons[0])
    frames = scene.num_frames
    lo, hi = _BOX_W / 2 + 1, scene.width - _BOX_W / 2 - 2
    tops = np.linspace(4, max(5, scene.height - _BOX_H - 4), n)
    persons = []
    for i in range(n):
        speed = rng.uniform(*spec.speed) / scene.fps * (1 if i % 2 == 0 else -1)
        x = lo + (hi - lo) * (i + 0.5) / n
        cx = np.empty(frames)
        for t in range(frames):
            x += speed
            if not lo <= x <= hi:
                speed, x = -speed, float(np.clip(x, lo, hi))
            cx[t] = x
        r, g, b = (int(c) for c in rng.integers(40, 230, 3))
        colour = (r, g, b)
        stripes = (np.arange(_TEXTURE[0]) // (2 + i)) % 2 == 1
        texture = np.where(stripes[:, None, None], np.array(colour) * 0.5, np.array(colour))
        texture = np.broadcast_to(texture, (*_TEXTURE, 3)).astype(np.uint8)
        persons.append(
            PersonTrack(
                cx=cx,
                top=np.full(frames, tops[i]),
                hand=np.zeros(frames),
                carry=np.zeros(frames, bool),
                movements=[MOVEMENTS["walk"]] * scene.duration,
                carries=[False] * scene.duration,
                colour=colour,
                texture=texture,
            )
        )
    return persons


def _visible(spec: CrossingSpec, person: int, time: float) -> bool:
    return not any(p == person and a <= time <= b for p, a, b in spec.absent)


def crossing_boxes(
    rng: np.random.Generator, spec: CrossingSpec, persons: list[PersonTrack], times: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per time: ``(true ids (K,), normalised XYXY boxes (K, 4))`` of the visible persons, with
    box noise and missed detections as ``spec`` says; order shuffled (as a detector's would be).

    Args:
        rng: the random generator for the noise.
        spec: the scene, noise and absences.
        persons: from :func:`crossing_persons`.
        times: seconds into the video (the frame shown at each is used).
    """
    scene = spec.scene
    out = []
    for time in np.asarray(times, np.float64):
        t = min(scene.num_frames - 1, int(round(time * scene.fps)))
        ids, boxes = [], []
        for pid, p in enumerate(persons):
            if not _visible(spec, pid, time) or rng.random() < spec.miss:
                continue
            box = person_box(p, t, scene)
            size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
            boxes.append(np.clip(box + rng.normal(0, spec.jitter, 4) * size, 0, 1))
            ids.append(pid)
        order = rng.permutation(len(ids))
        out.append(
            (np.asarray(ids, np.int64)[order], np.asarray(boxes, np.float32).reshape(-1, 4)[order])
        )
    return out


def render_crossing(
    background: np.ndarray, spec: CrossingSpec, persons: list[PersonTrack], t: int
) -> np.ndarray:
    """RGB frame ``t`` with the persons in view at that time drawn (later persons in front).

    Args:
        background: the scene background (``make_background``).
        spec: the scene and absences.
        persons: from :func:`crossing_persons`.
        t: the frame index.
    """
    time = t / spec.scene.fps
    return render_frame(
        background, [p for i, p in enumerate(persons) if _visible(spec, i, time)], t
    )
