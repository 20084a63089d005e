"""Training order in runs of consecutive keyframes of one video (``DATALOADER.CONSECUTIVE_KEYFRAMES``).

With ``run_length`` L > 1 an epoch is a shuffled sequence of *runs*: up to L keyframes of one
video that follow each other in time, in time order. A DataLoader worker maps a batch's samples in
turn, so the clips of a run are read one after the other by the same process, and a video source
that keeps the video open (``INPUT.SOURCE video``) decodes forward from the previous clip and reuses
the frames they share instead of seeking back to a key frame for each clip. Every keyframe is still
seen once per epoch; what changes is that a batch holds ``B / L`` runs of L neighbours instead of B
independent keyframes. Each epoch draws where the runs of each video start (an offset in
``[0, L)``), so a keyframe does not always share its run with the same neighbours.

Where the runs go (``DATALOADER.CONSECUTIVE_KEYFRAMES_IN``):

- ``batch``: a run's keyframes next to each other, so a batch of B holds ``B / L`` runs;
- ``worker``: a run's keyframes at the same place of one worker's successive batches
  (:func:`spread_lanes` with B x processes x workers lanes), so every batch holds B keyframes of B
  different runs, as independent as shuffled ones, and each worker keeps B videos open. The order
  then depends on the number of DataLoader workers (a resumed run must keep it).

L = 1 is the plain per-epoch permutation of the records (the default, and the order of an
uninterrupted or resumed run before this option existed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["KeyframeRuns", "spread_lanes"]


class KeyframeRuns:
    """The records ordered by (video, time), cut into runs of ``run_length`` per epoch.

    Args:
        videos: ``(N,)`` the video of each record (any hashable values; None: a video of its own).
        times: ``(N,)`` each record's time in its video (seconds).
        run_length: L, keyframes per run (>= 1).
    """

    def __init__(self, videos: Sequence[object], times: Sequence[float], run_length: int) -> None:
        if int(run_length) < 1:
            raise ValueError(f"run_length must be >= 1, got {run_length}")
        if len(videos) != len(times):
            raise ValueError(f"{len(videos)} videos for {len(times)} times")
        self.run_length = int(run_length)
        codes: dict[object, int] = {}
        video_code = np.fromiter(
            (
                codes.setdefault(v, len(codes)) if v is not None else -1 - i
                for i, v in enumerate(videos)
            ),
            dtype=np.int64,
            count=len(videos),
        )
        time = np.asarray(times, dtype=np.float64)
        # records sorted by video, then time (stable: equal times keep the records' order)
        self.sorted = np.lexsort((np.arange(len(time)), time, video_code))
        sorted_video = video_code[self.sorted]
        first = np.ones(len(time), dtype=bool)
        first[1:] = sorted_video[1:] != sorted_video[:-1]
        starts = np.flatnonzero(first)
        # each sorted record's video (0..V-1) and its position within the video
        self._video = np.cumsum(first) - 1
        self._pos = np.arange(len(time)) - starts[self._video]
        self.num_videos = len(starts)

    def __len__(self) -> int:
        return len(self.sorted)

    def permutation(self, generator: torch.Generator, spread: int = 1) -> np.ndarray:
        """One epoch's order: ``(N,)`` record indices, the runs shuffled, each run in time order
        (``spread`` > 1: in every ``spread``-th position, see :func:`spread_lanes`).

        Args:
            generator: the epoch's seeded generator (offsets first, then the run permutation).
            spread: positions between a run's consecutive keyframes (1: next to each other).
        """
        return spread_lanes(self._runs_in_order(generator), spread)

    def _runs_in_order(self, generator: torch.Generator) -> np.ndarray:
        n, length = len(self.sorted), self.run_length
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        offset = torch.randint(0, length, (self.num_videos,), generator=generator).numpy()
        shifted = self._pos + offset[self._video]
        new_run = (shifted % length == 0) | (self._pos == 0)
        starts = np.flatnonzero(new_run)
        lengths = np.diff(np.append(starts, n))
        order = torch.randperm(len(starts), generator=generator).numpy()
        run_len = lengths[order]
        out_start = np.cumsum(run_len) - run_len  # where each shuffled run begins in the output
        within = np.arange(n) - np.repeat(out_start, run_len)
        return self.sorted[np.repeat(starts[order], run_len) + within]


def spread_lanes(order: np.ndarray, spread: int) -> np.ndarray:
    """``order`` cut into ``spread`` consecutive lanes, lane ``j`` filling positions ``j, j +
    spread, j + 2 * spread, ...``: neighbours in ``order`` (within a lane) end up ``spread``
    positions apart.

    With ``spread`` = B x (processes) x (DataLoader workers), the positions ``spread`` apart are the
    same place of one worker's successive batches, so a run's keyframes are read by one worker, one
    per batch, and every batch holds B keyframes of B runs.

    Args:
        order: ``(N,)`` indices (runs next to each other).
        spread: the number of lanes (1: ``order`` unchanged).
    """
    n, spread = len(order), int(spread)
    if spread <= 1 or n == 0:
        return order
    out = np.empty_like(order)
    start = 0
    for j in range(min(spread, n)):
        size = len(range(j, n, spread))
        out[j::spread] = order[start : start + size]
        start += size
    return out
