"""Drawing person boxes and their top actions on a frame with OpenCV, legible from 120p to 4K.

Line thickness and font size scale with the frame's short side; each label sits on a filled
background (inside the frame) so it reads on any content. Pure: arrays in, a new array out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["BOX_COLOUR", "DrawStyle", "draw_persons", "top_actions"]

#: RGB colour of the person boxes (pure green: easy to find in a decoded frame).
BOX_COLOUR = (0, 255, 0)
_TEXT_COLOUR = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class DrawStyle:
    """Sizes for one frame size: box line ``thickness``, ``font_scale``, text ``font_thickness``."""

    thickness: int
    font_scale: float
    font_thickness: int

    @staticmethod
    def for_frame(height: int, width: int) -> DrawStyle:
        short = min(height, width)
        return DrawStyle(thickness=max(2, round(short / 180)), font_scale=max(0.3, short / 900),
                         font_thickness=max(1, round(short / 500)))


def top_actions(
    scores: np.ndarray, names: Mapping[int, str], k: int, threshold: float
) -> list[tuple[int, str, float]]:
    """The ``k`` best ``(action_id, name, score)`` with score >= ``threshold`` (ids are 1-based).

    With ``names``, only the named actions compete (e.g. the 60 evaluated AVA classes)."""
    scores = np.asarray(scores, np.float64)
    if names:
        scores = np.where(np.isin(np.arange(1, len(scores) + 1), list(names)), scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i) + 1, names.get(int(i) + 1, f"action {int(i) + 1}"), float(scores[i]))
            for i in order if scores[i] >= threshold]


def draw_persons(
    frame_rgb: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[Sequence[str]],
    style: DrawStyle | None = None,
) -> np.ndarray:
    """A copy of ``frame_rgb`` with each pixel box (x1, y1, x2, y2) outlined and its text lines
    (e.g. ``"walk 0.91"``) stacked above the box (below its top edge when there is no room)."""
    out = np.ascontiguousarray(frame_rgb).copy()
    height, width = out.shape[:2]
    style = style or DrawStyle.for_frame(height, width)
    for box, lines in zip(np.asarray(boxes).reshape(-1, 4), labels):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOUR, style.thickness)
        sizes = [cv2.getTextSize(t, _FONT, style.font_scale, style.font_thickness) for t in lines]
        if not sizes:
            continue
        line_h = max(h + base for (_, h), base in sizes) + 2
        block_h = line_h * len(lines)
        top = y1 - block_h if y1 - block_h >= 0 else min(y1 + style.thickness, height - block_h)
        left = min(max(0, x1), max(0, width - max(w for (w, _), _ in sizes) - 2))
        for i, (text, ((w, h), _)) in enumerate(zip(lines, sizes)):
            y = max(0, top) + i * line_h
            cv2.rectangle(out, (left, y), (left + w + 2, y + line_h), BOX_COLOUR, cv2.FILLED)
            cv2.putText(out, text, (left + 1, y + h + 1), _FONT, style.font_scale, _TEXT_COLOUR,
                        style.font_thickness, cv2.LINE_AA)
    return out
