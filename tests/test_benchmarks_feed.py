"""``tools/benchmark.py feed``: the trainer's loader feeding the trainer's step, beside the step on a
batch in memory; what it counts and how it fails on bad input."""

from __future__ import annotations

import argparse
import itertools

import pytest
import torch
from torch import nn

from ava_detector.ava.trainer import AVATrainer
from ava_detector.benchmarks import feed
from ava_detector.engine.train_loop import VideoTrainLoop

TINY = "configs/synthetic/tiny_slowfast.yaml"

# torchvision 0.29 marks its image decoders deprecated (for torchcodec's); cpu:bytes uses them
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torchvision.io.image")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    feed.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_busy_fraction_is_the_share_of_a_step_not_waiting():
    assert feed.busy_fraction(0.1, 0.4) == pytest.approx(0.75)
    assert feed.busy_fraction(0.0, 0.3) == 1.0
    assert feed.busy_fraction(0.3, 0.3) == 0.0
    assert feed.busy_fraction(0.31, 0.30) == 0.0  # clock noise: a wait a little over the step
    assert feed.busy_fraction(0.1, 0.0) == 1.0


def test_default_warmup_covers_the_batches_the_workers_prefetch():
    assert feed.warmup_steps(None, 0) == 5
    assert feed.warmup_steps(None, 8) == 5 + 2 * 8
    assert feed.warmup_steps(3, 8) == 3  # given: as given


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, batch: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": sum((self.w * x).sum() for x in batch)}


class _Counted:
    """An endless loader of one-tensor batches that counts the batches taken."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self):
        for _ in itertools.count():
            self.taken += 1
            yield [torch.full((3,), float(self.taken))]


def test_time_steps_times_the_steps_after_the_warmup_and_reports_their_waits():
    model = _Linear()
    loader = _Counted()
    loop = VideoTrainLoop(model, loader, torch.optim.SGD(model.parameters(), lr=0.0), seed=0)
    sec, waits = feed.time_steps(loop, iters=4, warmup=3, cuda=False)
    assert loader.taken == 7  # 3 warm-up steps + 4 timed ones, one batch each
    assert len(waits) == 4 and all(w >= 0 for w in waits)
    assert sec > 0


def test_time_loader_takes_warmup_plus_timed_batches():
    loader = _Counted()
    rate = feed.time_loader(loader, iters=5, warmup=2)
    assert loader.taken == 7
    assert rate > 0


def test_the_trainer_loader_takes_given_records_instead_of_the_datasets(cfg_factory, monkeypatch):
    cfg = cfg_factory(TINY, DATALOADER__NUM_WORKERS=0)
    cfg.DATASETS.TRAIN = ("no_such_dataset",)  # never read: the records are given
    monkeypatch.setattr(
        AVATrainer, "build_mapper", classmethod(lambda cls, cfg, is_train: lambda r: r["sec"])
    )
    records = [{"video_id": "v", "sec": 1}, {"video_id": "v", "sec": 2}]
    batch = next(iter(AVATrainer.build_train_loader(cfg, seed=0, records=records)))
    assert len(batch) == cfg.SOLVER.IMS_PER_BATCH
    assert set(batch) == {1, 2}


def test_feed_benchmark_prints_a_row_per_worker_count(capsys, repo_root):
    args = _args(
        *("--config", str(repo_root / TINY), "--workers", "0", "1", "--batch", "2", "--iters", "2"),
        *("--warmup", "1", "--videos", "1", "--seconds", "5", "--size", "120", "160"),
        *("--device", "cpu", "--decode-device", "cpu", "cpu:bytes"),
    )
    assert feed.run(args) == 0
    out = capsys.readouterr().out
    assert out.count("model alone (one batch in memory), INPUT.DECODE_DEVICE") == 2
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| ")]
    assert [(r[0].strip(), r[1].strip()) for r in rows[1:]] == [
        ("cpu", "0"),
        ("cpu", "1"),
        ("cpu:bytes", "0"),
        ("cpu:bytes", "1"),
    ]
    for r in rows[1:]:
        loader_clips, fed_s, fed_clips, _, wait_ms = (float(r[i]) for i in range(2, 7))
        assert loader_clips > 0 and fed_s > 0
        assert fed_clips == pytest.approx(2 / fed_s, rel=0.05)  # batch 2 per fed step
        busy = float(r[7].strip().rstrip("%"))
        assert busy == pytest.approx(100 * (1 - wait_ms / 1000 / fed_s), abs=1)


def test_feed_benchmark_names_an_unknown_dataset(capsys, repo_root):
    args = _args(
        "--config", str(repo_root / TINY), "--dataset", "no_such_dataset", "--device", "cpu"
    )
    assert feed.run(args) == 2
    err = capsys.readouterr().err
    assert "no_such_dataset" in err and "registered AVA datasets" in err


def test_feed_benchmark_names_a_bad_decode_device_before_any_work(capsys, repo_root):
    args = _args("--config", str(repo_root / TINY), "--device", "cpu", "--decode-device", "gpu")
    assert feed.run(args) == 2
    assert "INPUT.DECODE_DEVICE='gpu'" in capsys.readouterr().err


def test_feed_benchmark_names_a_bad_config_key(capsys, repo_root):
    args = _args("--config", str(repo_root / TINY), "--device", "cpu", "INPUT.NO_SUCH_KEY", "1")
    assert feed.run(args) == 2
    assert "INPUT.NO_SUCH_KEY" in capsys.readouterr().err
