"""Person proposals for every keyframe of a dataset, written as AVA's detection CSV, resumably.

``video_id,sec,x1,y1,x2,y2,,score`` rows (normalised XYXY, empty label, score), one per person box a
detector finds on the keyframe, videos and seconds in the dataset's order. Work is kept per video in
``OUT.partial/`` (each video's rows written atomically once it is done), so a run that is stopped
continues with the first unfinished video; the final file is written atomically and the folder
removed. The detector is any ``detect_batch(frames) -> [(boxes, scores), ...]`` (e.g.
:class:`~ava_detector.demo.person_detector.PersonDetector`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ava_detector.data.video.frame_source import (
    build_frame_source,
    keyframe_time,
)
from ava_detector.utils.atomic_files import atomic_write_text

__all__ = ["format_proposal_rows", "make_proposals"]

logger = logging.getLogger(__name__)

Detector = Callable[[list[np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]


def format_proposal_rows(
    video_id: str, sec: int, boxes: np.ndarray, scores: np.ndarray
) -> list[str]:
    """AVA detection-CSV lines of one keyframe's boxes (4 decimals, scores 6); boxes that are empty
    once rounded (a detection squeezed against the frame's edge) are left out.

    Args:
        video_id, sec: the keyframe.
        boxes: float (K, 4) normalised XYXY; scores: float (K,).
    """
    boxes = np.round(np.clip(np.asarray(boxes, np.float64).reshape(-1, 4), 0.0, 1.0), 4)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return [
        f"{video_id},{int(sec):04d},{b[0]:.4f},{b[1]:.4f},{b[2]:.4f},{b[3]:.4f},,{s:.6f}"
        for b, s in zip(boxes[keep], np.asarray(scores, np.float64)[keep])
    ]


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def make_proposals(
    records: Sequence[dict],
    detector: Detector,
    out: str | Path,
    *,
    source: str = "frames",
    batch_size: int = 8,
    progress: bool = True,
) -> dict:
    """Detect persons on every record's keyframe and write ``out`` (AVA detection CSV).

    Args:
        records: the dataset's records (one per keyframe; ``frames`` or ``video_path``).
        detector: ``detector(list of uint8 (H, W, 3) RGB frames) -> [(boxes, scores), ...]``.
        out: the CSV to write; ``out.partial/`` holds finished videos while it runs.
        source: ``INPUT.SOURCE`` to read keyframes from ("frames" or "video").
        batch_size: keyframes per detector call.
        progress: show a progress bar.

    Returns:
        ``{"keyframes", "boxes" (found by this run), "videos", "resumed_videos"}``.
    """
    out = Path(out)
    work = out.with_name(out.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    videos = [(vid, list(group)) for vid, group in groupby(records, key=lambda r: r["video_id"])]
    done = {p.stem for p in work.glob("*.csv")}
    resumed = sum(1 for vid, _ in videos if vid in done)
    if resumed:
        logger.info("Resuming: %d of %d videos already done in %s", resumed, len(videos), work)
    total = sum(len(group) for vid, group in videos if vid not in done)
    n_boxes = 0
    with tqdm(total=total, desc="proposals", unit="keyframe", disable=not progress) as bar:
        for vid, group in videos:
            if vid in done:
                continue
            frame_source = build_frame_source(source, group[0])
            lines: list[str] = []
            for chunk in _chunks(group, max(1, int(batch_size))):
                frames = [frame_source.read_times([keyframe_time(r, source)])[0] for r in chunk]
                for record, (boxes, scores) in zip(chunk, detector(frames)):
                    rows = format_proposal_rows(vid, record["sec"], boxes, scores)
                    lines += rows
                    n_boxes += len(rows)
                bar.update(len(chunk))
            atomic_write_text(work / f"{vid}.csv", "".join(line + "\n" for line in lines))
    parts = [work / f"{vid}.csv" for vid, _ in videos]
    atomic_write_text(out, "".join(p.read_text() for p in parts))
    shutil.rmtree(work)
    return {
        "keyframes": len(records),
        "boxes": n_boxes,
        "videos": len(videos),
        "resumed_videos": resumed,
    }
