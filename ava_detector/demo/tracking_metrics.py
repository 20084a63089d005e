"""Identity accuracy of the person tracker on crossing persons whose true identities are known.

:func:`identity_metrics` scores tracked ids against true ids with ``motmetrics`` (IDF1, identity
switches, MOTA; boxes match at IoU >= 0.5). Run as a module it compares the tracker methods on
generated crossing scenes at keyframe and frame rates::

    python -m ava_detector.demo.tracking_metrics [--seeds 5] [--duration 60]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.demo.crossing_scene import (
    CrossingSpec,
    crossing_boxes,
    crossing_persons,
)
from ava_detector.demo.tracking import (
    TRACKER_METHODS,
    PersonTracker,
)

__all__ = ["identity_metrics", "track_crossing_scene"]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of XYXY boxes (motmetrics' own helper needs NumPy < 2)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def identity_metrics(
    frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], min_iou: float = 0.5
) -> dict[str, float]:
    """``{"idf1", "id_switches", "mota", "frames"}`` over ``(true ids, true boxes, track ids, track
    boxes)`` per frame (XYXY boxes, any units).

    Args:
        frames: per frame the ground truth and the tracker's output.
        min_iou: the least IoU for a true box and a tracked box to be the same person.
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for gt_ids, gt_boxes, hyp_ids, hyp_boxes in frames:
        dist = 1.0 - _iou(gt_boxes, hyp_boxes)
        dist[dist > 1 - min_iou] = np.nan  # motmetrics: nan = may not be matched
        acc.update(list(map(int, gt_ids)), list(map(int, hyp_ids)), dist)
    summary = mm.metrics.create().compute(
        acc, metrics=["idf1", "num_switches", "mota", "num_frames"]
    )
    row = summary.iloc[0]
    return {
        "idf1": float(row["idf1"]),
        "id_switches": int(row["num_switches"]),
        "mota": float(row["mota"]),
        "frames": int(row["num_frames"]),
    }


def track_crossing_scene(
    seed: int,
    spec: CrossingSpec,
    every: float,
    method: str = "bytetrack",
    lost_seconds: float = 3.0,
) -> dict[str, float]:
    """Identity metrics of ``method`` on one generated crossing scene sampled every ``every`` s.

    Args:
        seed: seeds the scene and the box noise.
        spec: the crossing scene.
        every: seconds between tracker updates (1 = AVA keyframes, 1/fps = every frame).
        method: one of :data:`TRACKER_METHODS`.
        lost_seconds: the tracker's lost-track time.
    """
    rng = np.random.default_rng(seed)
    persons = crossing_persons(rng, spec)
    times = np.arange(0, spec.scene.duration - 1e-9, every)
    size = (spec.scene.width, spec.scene.height)
    tracker = PersonTracker(method, rate=1 / every, lost_seconds=lost_seconds)
    rows = []
    for time, (ids, boxes) in zip(times, crossing_boxes(rng, spec, persons, times)):
        rows.append((ids, boxes, tracker.update(time, boxes, size=size), boxes))
    return identity_metrics(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="tracker identity accuracy on crossing persons")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--duration", type=int, default=60)
    p.add_argument("--persons", type=int, default=4)
    args = p.parse_args(argv)
    spec = CrossingSpec(
        scene=SceneSpec(duration=args.duration, persons=(args.persons,) * 2),
        absent=((1, 20.0, 22.0),),
    )
    cases = [(m, e) for m in TRACKER_METHODS for e in (1.0, 0.5, 1 / spec.scene.fps)]
    print(f"{'method':10} {'every':>7} {'IDF1':>6} {'IDsw':>5} {'MOTA':>6}")
    for method, every in tqdm(cases, desc="trackers", leave=False):
        res = [track_crossing_scene(s, spec, every, method) for s in range(args.seeds)]
        print(
            f"{method:10} {every:7.3f} {np.mean([r['idf1'] for r in res]):6.3f} "
            f"{np.mean([r['id_switches'] for r in res]):5.1f} {np.mean([r['mota'] for r in res]):6.3f}"
        )


if __name__ == "__main__":
    main()
