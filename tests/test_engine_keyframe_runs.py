"""DATALOADER.CONSECUTIVE_KEYFRAMES: shuffled runs of consecutive keyframes of one video."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.engine.config_checks import config_problems
from ava_detector.engine.data_loading import IterationSeededStream, ResumableLoader
from ava_detector.engine.keyframe_runs import KeyframeRuns, spread_lanes


def _runs_of(order: np.ndarray, videos: list, times: list) -> list[list[int]]:
    """Split an epoch's order into maximal stretches of one video at consecutive keyframes."""
    by_video = {v: sorted(t for w, t in zip(videos, times) if w == v) for v in set(videos)}
    runs: list[list[int]] = []
    for i in order.tolist():
        if runs:
            j = runs[-1][-1]
            seq = by_video[videos[i]]
            if videos[j] == videos[i] and seq.index(times[i]) == seq.index(times[j]) + 1:
                runs[-1].append(i)
                continue
        runs.append([i])
    return runs


def test_every_record_once_in_runs_of_consecutive_keyframes():
    # records listed out of order: video "b" first, times shuffled
    videos = ["b", "a", "a", "b", "a", "a", "a", "b", "a", "a", "a"]
    times = [3.0, 905.0, 902.0, 1.0, 904.0, 903.0, 906.0, 2.0, 907.0, 908.0, 909.0]
    runs = KeyframeRuns(videos, times, 3)
    assert runs.num_videos == 2
    for epoch in range(20):
        order = runs.permutation(torch.Generator().manual_seed(epoch))
        assert sorted(order.tolist()) == list(range(11))
        for run in _runs_of(order, videos, times):
            # a stretch is one or more runs of at most 3, so only whole runs of 3 can be glued
            # to a neighbour by chance; every record's successor in its run follows it directly
            assert len({videos[i] for i in run}) == 1
            assert [times[i] for i in run] == sorted(times[i] for i in run)


def test_run_boundaries_are_the_three_partitions_of_a_three_keyframe_video():
    # one video of 3 keyframes, L = 3: the runs start where position + offset is a multiple of 3,
    # so an offset of 0, 1 or 2 cuts it as 123, 12|3 or 1|23
    runs = KeyframeRuns(["v"] * 3, [1.0, 2.0, 3.0], 3)
    cuts = set()
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        offset = int(torch.randint(0, 3, (1,), generator=g))
        order = runs.permutation(torch.Generator().manual_seed(seed)).tolist()
        cuts.add((offset, tuple(order)))
    # offset 0: one run [0, 1, 2]; offset 1: runs [0, 1] and [2]; offset 2: [0] and [1, 2]
    expected = {
        (0, (0, 1, 2)),
        (1, (0, 1, 2)),
        (1, (2, 0, 1)),
        (2, (0, 1, 2)),
        (2, (1, 2, 0)),
    }
    assert cuts == expected


def test_records_without_a_video_are_runs_of_one():
    runs = KeyframeRuns([None, None, None, None], [0.0, 0.0, 0.0, 0.0], 4)
    assert runs.num_videos == 4
    seen = {tuple(runs.permutation(torch.Generator().manual_seed(s)).tolist()) for s in range(40)}
    assert len(seen) > 6  # every order of 4 singletons is possible, not one fixed order


def test_run_length_must_be_positive():
    with pytest.raises(ValueError, match="run_length"):
        KeyframeRuns(["a"], [1.0], 0)


def _records() -> list[dict]:
    return [
        {"image_id": f"{v},{s}", "video_id": v, "sec": float(s)}
        for v in ("v0", "v1", "v2")
        for s in range(902, 910)
    ]


def _batches(loader, n: int) -> list[list[str]]:
    return [[r for r in batch] for batch in itertools.islice(iter(loader), n)]


def test_stream_batches_hold_runs_and_resume_exactly():
    records = _records()

    def loader(**kw):
        return ResumableLoader(
            records, lambda r: r["image_id"], 4, 3, consecutive_keyframes=4, runs_in="batch", **kw
        )

    batches = _batches(loader(), 12)  # 2 epochs of 24 records
    for epoch in (batches[:6], batches[6:]):
        ids = [i for b in epoch for i in b]
        assert sorted(ids) == sorted(r["image_id"] for r in records)
    # each run of 4 consecutive keyframes is a stretch of one video in time order
    flat = [i for b in batches for i in b]
    runs, run = [], [flat[0]]
    for prev, cur in itertools.pairwise(flat):
        (pv, ps), (cv, cs) = prev.split(","), cur.split(",")
        if pv == cv and int(cs) == int(ps) + 1:
            run.append(cur)
        else:
            runs.append(run)
            run = [cur]
    runs.append(run)
    assert max(len(r) for r in runs) >= 4 and len(runs) <= 2 * (12 * 4) // 4
    assert len(flat) / len(runs) > 2.5  # versus ~1 for independent draws of 24 records
    assert _batches(loader(start_iter=7), 5) == batches[7:]
    two_workers = _batches(loader(num_workers=2), 12)
    assert two_workers == batches


def test_one_keyframe_a_run_is_the_plain_permutation():
    records = _records()
    plain = IterationSeededStream(records, lambda r: r, 1, 9)
    runs = IterationSeededStream(records, lambda r: r, 1, 9, consecutive_keyframes=1)
    assert [plain.index(p) for p in range(48)] == [runs.index(p) for p in range(48)]
    grouped = IterationSeededStream(records, lambda r: r, 1, 9, consecutive_keyframes=3)
    assert [plain.index(p) for p in range(24)] != [grouped.index(p) for p in range(24)]


def test_config_check_names_the_key():
    cfg = get_ava_cfg()
    assert cfg.DATALOADER.CONSECUTIVE_KEYFRAMES == 1
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES = 0
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "epoch"
    problems = config_problems(cfg)
    assert [(p.level, p.key) for p in problems if "CONSECUTIVE" in p.key] == [
        ("error", "DATALOADER.CONSECUTIVE_KEYFRAMES"),
        ("error", "DATALOADER.CONSECUTIVE_KEYFRAMES_IN"),
    ]


def test_spread_lanes_by_hand():
    # 10 indices in 3 lanes of 4, 3, 3: lane j fills positions j, j + 3, ...
    out = spread_lanes(np.arange(10), 3)
    assert out.tolist() == [0, 4, 7, 1, 5, 8, 2, 6, 9, 3]
    assert spread_lanes(np.arange(5), 1).tolist() == [0, 1, 2, 3, 4]
    assert sorted(spread_lanes(np.arange(5), 8).tolist()) == [
        0,
        1,
        2,
        3,
        4,
    ]  # more lanes than items


def _continuations(batches: list[list[str]], workers: int) -> int:
    """How often slot k of a worker's next batch is the next keyframe of slot k's video."""
    n = 0
    for w in range(workers):
        mine = batches[w::workers]
        for a, b in zip(mine, mine[1:]):
            for x, y in zip(a, b):
                (xv, xs), (yv, ys) = x.split(","), y.split(",")
                n += xv == yv and int(ys) == int(xs) + 1
    return n


def test_worker_runs_put_one_keyframe_of_a_run_in_each_batch_of_one_worker():
    records = [
        {"image_id": f"{v},{s}", "video_id": v, "sec": float(s)}
        for v in ("v0", "v1", "v2", "v3", "v4", "v5")
        for s in range(902, 910)
    ]  # 48 keyframes; batches of 4 from 2 workers: 8 lanes of 6

    def loader(**kw):
        return ResumableLoader(
            records,
            lambda r: r["image_id"],
            4,
            3,
            **{"consecutive_keyframes": 4, "runs_in": "worker", **kw},
        )

    assert loader(num_workers=2).runs_spread == 8
    batches = _batches(loader(num_workers=2), 12)  # one epoch
    assert sorted(i for b in batches for i in b) == sorted(r["image_id"] for r in records)
    # each lane of 6 holds runs of up to 4: most steps of a worker's slot continue a run
    assert _continuations(batches, 2) >= 24
    # within a batch, keyframes come from different runs: never two neighbours side by side
    for b in batches:
        keys = {tuple(i.split(",")) for i in b}
        assert not any((v, str(int(s) + 1)) in keys for v, s in keys)
    in_batch = _batches(
        ResumableLoader(
            records, lambda r: r["image_id"], 4, 3, 2, consecutive_keyframes=4, runs_in="batch"
        ),
        12,
    )
    assert _continuations(in_batch, 2) <= 4  # runs side by side in a batch instead
    resumed = _batches(loader(num_workers=2, start_iter=5), 7)
    assert resumed == batches[5:]
    with pytest.raises(ValueError, match="runs_in"):
        loader(num_workers=2, runs_in="epoch")
