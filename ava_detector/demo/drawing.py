"""Drawing person boxes and their top actions on a frame with OpenCV, legible from 120p to 4K.

Line thickness and font size scale with the frame's short side; each label sits on a filled
background (inside the frame) so it reads on any content. Each person's box and label take the
colour of its track id (:func:`track_colour`); labels are placed so they do not cover each other
(:func:`place_labels`). Pure: arrays in, a new array out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["BOX_COLOUR", "DrawStyle", "draw_persons", "place_labels", "top_actions", "track_colour"]

#: RGB colour of the person boxes without a track id (pure green: easy to find in a decoded frame).
BOX_COLOUR = (0, 255, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GOLDEN = 0.618033988749895


def track_colour(track_id: int | None) -> tuple[int, int, int]:
    """A bright RGB colour for ``track_id`` (hues a golden-ratio step apart, so neighbouring ids
    differ); :data:`BOX_COLOUR` for ``None`` or a negative id.

    Args:
        track_id: the person's track id.
    """
    if track_id is None or track_id < 0:
        return BOX_COLOUR
    hue = (0.1 + track_id * _GOLDEN) % 1.0
    hsv = np.array([[[hue * 180, 255, 255]]], np.uint8)  # OpenCV hue is 0..180
    r, g, b = (int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])
    return (r, g, b)


def _text_colour(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones."""
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0) if luma > 110 else (255, 255, 255)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    boxes: np.ndarray, sizes: Sequence[tuple[int, int]], height: int, width: int, gap: int = 1
) -> list[tuple[int, int, int, int]]:
    """Label rectangles ``(x1, y1, x2, y2)`` (pixels) of the given ``(width, height)`` sizes, one per
    box, inside the frame and not overlapping each other where there is room.

    Each label tries, in order: above its box, inside the box at its top, below the box, inside
    at its bottom, then the same four at the box's right edge; the first spot free of the labels
    already placed (in box order) wins. When none is free, it slides down from above the box
    until free (or keeps the first spot when the frame is full).

    Args:
        boxes: ``(K, 4)`` pixel XYXY person boxes.
        sizes: ``(width, height)`` of each label block.
        height: the frame height.
        width: the frame width.
        gap: pixels kept between a label and the box edge.
    """
    placed: list[tuple[int, int, int, int]] = []
    out: list[tuple[int, int, int, int]] = []
    for box, (w, h) in zip(np.asarray(boxes, np.float64).reshape(-1, 4), sizes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        if w <= 0 or h <= 0:  # no text: nothing to place
            out.append((x1, y1, x1, y1))
            continue

        def rect(left: int, top: int, w: int = w, h: int = h) -> tuple[int, int, int, int]:
            left = min(max(0, left), max(0, width - w))
            top = min(max(0, top), max(0, height - h))
            return (left, top, left + w, top + h)

        tops = [y1 - h - gap, y1 + gap, y2 + gap, y2 - h - gap]
        spots = [rect(x1, t) for t in tops] + [rect(x2 - w, t) for t in tops]
        free = [r for r in spots if not any(_overlaps(r, p) for p in placed)]
        if free:
            placed.append(free[0])
            out.append(free[0])
            continue
        choice = spots[0]
        for top in range(max(0, y1 - h - gap), max(1, height - h + 1)):
            r = rect(x1, top)
            if not any(_overlaps(r, p) for p in placed):
                choice = r
                break
        placed.append(choice)
        out.append(choice)
    return out


@dataclass(frozen=True)
class DrawStyle:
    """Sizes for one frame size: box line ``thickness``, ``font_scale``, text ``font_thickness``."""

    thickness: int
    font_scale: float
    font_thickness: int

    @staticmethod
    def for_frame(height: int, width: int) -> DrawStyle:
        short = min(height, width)
        return DrawStyle(
            thickness=max(2, round(short / 180)),
            font_scale=max(0.3, short / 900),
            font_thickness=max(1, round(short / 500)),
        )


def top_actions(
    scores: np.ndarray, names: Mapping[int, str], k: int, threshold: float | np.ndarray
) -> list[tuple[int, str, float]]:
    """The ``k`` best ``(action_id, name, score)`` with score >= ``threshold`` (ids are 1-based).

    With ``names``, only the named actions compete (e.g. the 60 evaluated AVA classes).

    Args:
        scores: ``(C,)`` action probabilities.
        names: action names by id.
        k: how many at most.
        threshold: one minimum score, or a ``(C,)`` minimum per action (calibrated thresholds).
    """
    scores = np.asarray(scores, np.float64)
    thr = np.broadcast_to(np.asarray(threshold, np.float64), scores.shape)
    scores = np.where(scores >= thr, scores, -np.inf)
    if names:
        scores = np.where(np.isin(np.arange(1, len(scores) + 1), list(names)), scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [
        (int(i) + 1, names.get(int(i) + 1, f"action {int(i) + 1}"), float(scores[i]))
        for i in order
        if np.isfinite(scores[i])
    ]


def draw_persons(
    frame_rgb: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[Sequence[str]],
    style: DrawStyle | None = None,
    track_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """A copy of ``frame_rgb`` with each pixel box (x1, y1, x2, y2) outlined in its track's colour
    and its text lines (e.g. ``"#3"``, ``"walk 0.91"``) in a block placed by :func:`place_labels`.

    Args:
        frame_rgb: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(K, 4)`` pixel boxes.
        labels: text lines per box.
        style: sizes (default: for this frame size).
        track_ids: a track id per box (its colour); ``None``: every box in :data:`BOX_COLOUR`.
    """
    out = np.ascontiguousarray(frame_rgb).copy()
    height, width = out.shape[:2]
    style = style or DrawStyle.for_frame(height, width)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ids = [None] * len(boxes) if track_ids is None else [int(i) for i in track_ids]
    colours = [track_colour(i) for i in ids]
    blocks = []
    for box, lines, colour in zip(boxes, labels, colours):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, style.thickness)
        sizes = [cv2.getTextSize(t, _FONT, style.font_scale, style.font_thickness) for t in lines]
        line_h = max((h + base for (_, h), base in sizes), default=0) + 2
        block = (
            (max((w for (w, _), _ in sizes), default=0) + 2, line_h * len(lines))
            if sizes
            else (0, 0)
        )
        blocks.append((sizes, line_h, block))
    rects = place_labels(boxes, [b[2] for b in blocks], height, width)
    for (sizes, line_h, _), lines, colour, rect in zip(blocks, labels, colours, rects):
        for i, (text, ((w, h), _)) in enumerate(zip(lines, sizes)):
            y = rect[1] + i * line_h
            cv2.rectangle(out, (rect[0], y), (rect[0] + w + 2, y + line_h), colour, cv2.FILLED)
            cv2.putText(
                out,
                text,
                (rect[0] + 1, y + h + 1),
                _FONT,
                style.font_scale,
                _text_colour(colour),
                style.font_thickness,
                cv2.LINE_AA,
            )
    return out
