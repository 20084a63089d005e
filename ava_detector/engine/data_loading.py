"""Train/test loaders whose data are a function of the iteration, so ``--resume`` is exact.

Detectron2's ``TrainingSampler`` restarts its stream at sample 0 after a resume and augmentation
draws from each worker's global RNG, so a resumed run sees other batches than an uninterrupted one.
Here sample ``p`` of the global stream (iteration ``p // total_batch``) is the ``p % size``-th
entry of epoch ``p // size``'s permutation (seeded by ``(seed, epoch)``), and its augmentation is
drawn under RNGs seeded by ``(seed, p)``. Each iteration's batch is built by one DataLoader worker,
and the workers take iterations in turn, which is the order the DataLoader yields them in.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.utils.data as torchdata
from detectron2.data import DatasetFromList, MapDataset
from detectron2.data.build import trivial_batch_collator, worker_init_reset_seed
from detectron2.data.samplers import InferenceSampler
from detectron2.utils import comm

from ava_detector.engine.keyframe_runs import KeyframeRuns

__all__ = [
    "RUNS_IN",
    "IterationSeededStream",
    "ResumableLoader",
    "SeededMapper",
    "build_inference_loader",
    "sample_seed",
    "sample_index",
]

logger = logging.getLogger(__name__)

_MASK = (1 << 31) - 1


#: Where a run of consecutive keyframes goes (``DATALOADER.CONSECUTIVE_KEYFRAMES_IN``).
RUNS_IN = ("batch", "worker")

# What a derived seed is for (kept apart so no two uses share a seed).
SAMPLE, EPOCH, RETRY, ITERATION = 0, 1, 2, 3


def sample_seed(seed: int, position: int, purpose: int = SAMPLE) -> int:
    """A stable 31-bit seed mixed from the run's ``seed``, a non-negative ``position`` and ``purpose``."""
    words = [int(seed) & _MASK, int(purpose), int(position)]
    return int(np.random.SeedSequence(words).generate_state(1)[0]) & _MASK


def sample_index(seed: int, position: int, size: int, shuffle: bool = True) -> int:
    """Dataset index of global sample ``position``: epoch ``position // size`` is one permutation."""
    epoch, offset = divmod(int(position), size)
    if not shuffle:
        return offset
    g = torch.Generator().manual_seed(sample_seed(seed, epoch, EPOCH))
    return int(torch.randperm(size, generator=g)[offset])


class SeededMapper:
    """Wrap a mapper: map ``(position, record)`` with python/numpy/torch RNGs seeded by position.

    The caller's RNG states are restored afterwards, so the training loop's own randomness
    (e.g. dropout) is untouched. The record is passed as it comes: the streams read it from a
    serialised ``DatasetFromList`` (a fresh object per access), and mappers do not modify records.
    """

    def __init__(self, mapper: Callable[[dict], Any], seed: int) -> None:
        self.mapper = mapper
        self.seed = int(seed)

    def __call__(self, item: tuple[int, dict]) -> Any:
        position, record = item
        s = sample_seed(self.seed, position)
        py_state, np_state = random.getstate(), np.random.get_state()
        torch_state = torch.get_rng_state()
        try:
            random.seed(s)
            np.random.seed(s)
            # The CPU generator only: torch.manual_seed would also queue a CUDA seeding (and capture
            # a stack trace for it) on every sample, and mappers draw on the CPU.
            torch.default_generator.manual_seed(s)
            return self.mapper(record)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
            torch.set_rng_state(torch_state)


class IterationSeededStream(torchdata.IterableDataset):
    """Infinite stream of this rank's mapped training samples from ``start_iter`` on.

    Rank ``r`` of ``W`` takes samples ``r * B + k`` (``k < B``) of every iteration's ``W * B``
    global samples. Inside a DataLoader with ``n`` workers, worker ``w`` produces the iterations
    ``start_iter + w, start_iter + w + n, ...``; with ``batch_size=B`` every batch is one iteration.
    A sample the mapper drops (``None``) is replaced by a seeded draw, keeping batches aligned.

    Args:
        dataset: the training records (Detectron2 dataset dicts); not empty.
        mapper: record -> model input dict, or None to drop it.
        batch_size: B, samples per iteration on this rank.
        seed: the seed of the shuffling, the replacement draws and every sample's augmentation.
        start_iter: the first iteration produced.
        shuffle: a seeded permutation per epoch (False: the records in order).
        max_retries: replacement draws per sample before giving up (``RuntimeError``).
        consecutive_keyframes: L > 1 shuffles runs of L consecutive keyframes of one video (the
            records' ``video_id`` and ``sec``) instead of single records
            (:class:`~.keyframe_runs.KeyframeRuns`); 1: a permutation of the records.
        runs_spread: positions between a run's consecutive keyframes (1: next to each other; B x
            processes x workers: one per batch of the same worker).
    """

    def __init__(
        self,
        dataset: list[dict],
        mapper: Callable[[dict], Any],
        batch_size: int,
        seed: int,
        start_iter: int = 0,
        shuffle: bool = True,
        max_retries: int = 10,
        consecutive_keyframes: int = 1,
        runs_spread: int = 1,
    ) -> None:
        self._runs_spread = int(runs_spread)
        self._runs = (
            KeyframeRuns(
                [r.get("video_id") for r in dataset],
                [float(r.get("sec", 0.0)) for r in dataset],
                consecutive_keyframes,
            )
            if shuffle and int(consecutive_keyframes) > 1
            else None
        )
        self._data = DatasetFromList(dataset, copy=False)
        self._size = len(dataset)
        if self._size == 0:
            raise ValueError("the training dataset is empty")
        self._map = SeededMapper(mapper, seed)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.start_iter = int(start_iter)
        self.shuffle = shuffle
        self.max_retries = int(max_retries)
        self.rank = comm.get_rank()
        self.world_size = comm.get_world_size()
        self._perm: tuple[int, torch.Tensor | np.ndarray] | None = None

    def positions(self, iteration: int) -> list[int]:
        """Global sample positions this rank loads for ``iteration``."""
        first = (iteration * self.world_size + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))

    def index(self, position: int) -> int:
        """Dataset index of ``position`` (as :func:`sample_index`, or the epoch's order of runs;
        one epoch's permutation cached)."""
        epoch, offset = divmod(int(position), self._size)
        if not self.shuffle:
            return offset
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(sample_seed(self.seed, epoch, EPOCH))
            perm = (
                self._runs.permutation(g, self._runs_spread)
                if self._runs is not None
                else torch.randperm(self._size, generator=g)
            )
            self._perm = (epoch, perm)
        return int(self._perm[1][offset])

    def load(self, position: int) -> Any:
        """The mapped sample at ``position``; a dropped one is replaced by a seeded random record."""
        index = self.index(position)
        for retry in range(self.max_retries + 1):
            out = self._map((position, self._data[index]))
            if out is not None:
                return out
            index = sample_seed(self.seed, position * 64 + retry, RETRY) % self._size
        raise RuntimeError(
            f"the mapper dropped {self.max_retries + 1} samples in a row at {position}"
        )

    def __iter__(self) -> Iterator[Any]:
        info = torchdata.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for iteration in itertools.count(self.start_iter + worker, workers):
            for p in self.positions(iteration):
                yield self.load(p)


class ResumableLoader:
    """An iterable over training batches that starts at ``start_iter`` when first iterated.

    ``iter()`` returns a generator, so nothing (no worker process) starts before the first batch
    is requested; the trainer sets ``start_iter`` after loading a checkpoint.

    Args:
        dataset: the training records (Detectron2 dataset dicts).
        mapper: record -> model input dict, or None to drop the record (replaced by a seeded
            random one).
        batch_size: records per batch on this rank.
        seed: the seed of the shuffling and of every sample's augmentation draws.
        num_workers: DataLoader worker processes (0: map in the main process).
        start_iter: the iteration of the first batch (batches depend only on the iteration).
        consecutive_keyframes: ``DATALOADER.CONSECUTIVE_KEYFRAMES`` (see
            :class:`IterationSeededStream`).
        runs_in: ``DATALOADER.CONSECUTIVE_KEYFRAMES_IN``: "worker" (a run's keyframes one per
            batch of the worker that reads the run) or "batch" (side by side in one batch); see
            :mod:`~.keyframe_runs`.
    """

    def __init__(
        self,
        dataset: list[dict],
        mapper: Callable[[dict], Any],
        batch_size: int,
        seed: int,
        num_workers: int = 0,
        start_iter: int = 0,
        consecutive_keyframes: int = 1,
        runs_in: str = "worker",
    ) -> None:
        self.dataset = dataset
        self.mapper = mapper
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.start_iter = int(start_iter)
        self.consecutive_keyframes = int(consecutive_keyframes)
        if runs_in not in RUNS_IN:
            raise ValueError(f"runs_in must be one of {', '.join(RUNS_IN)}, got {runs_in!r}")
        self.runs_in = runs_in
        if self.consecutive_keyframes > 1:
            logger.info(
                "training order: shuffled runs of %d consecutive keyframes of one video, %s "
                "(DATALOADER.CONSECUTIVE_KEYFRAMES, _IN)",
                self.consecutive_keyframes,
                "in one batch"
                if runs_in == "batch"
                else "one per batch of the worker that reads the run",
            )
            if runs_in == "batch" and self.batch_size % self.consecutive_keyframes:
                logger.warning(
                    "DATALOADER.CONSECUTIVE_KEYFRAMES %d does not divide the per-process batch "
                    "of %d: runs are split between batches (read by different workers)",
                    self.consecutive_keyframes,
                    self.batch_size,
                )

    def _loader(self) -> torchdata.DataLoader:
        stream = IterationSeededStream(
            self.dataset,
            self.mapper,
            self.batch_size,
            self.seed,
            self.start_iter,
            consecutive_keyframes=self.consecutive_keyframes,
            runs_spread=self.runs_spread,
        )
        return torchdata.DataLoader(
            stream,
            batch_size=self.batch_size,
            drop_last=True,
            num_workers=self.num_workers,
            collate_fn=trivial_batch_collator,
            worker_init_fn=worker_init_reset_seed,
            persistent_workers=False,
        )

    @property
    def order(self) -> dict[str, int]:
        """What the sample order depends on besides the seed and the records (saved with the
        trainer's checkpoints; a resumed run with another order is warned about)."""
        return {
            "consecutive_keyframes": self.consecutive_keyframes,
            "runs_spread": self.runs_spread if self.consecutive_keyframes > 1 else 1,
        }

    @property
    def runs_spread(self) -> int:
        """Positions between a run's consecutive keyframes in the global sample stream."""
        if self.runs_in == "batch":
            return 1
        return self.batch_size * comm.get_world_size() * max(1, self.num_workers)

    def __iter__(self) -> Iterator[list[Any]]:
        yield from self._loader()


def build_inference_loader(
    dataset: list[dict], mapper: Callable[[dict], Any], batch_size: int = 1, num_workers: int = 0
) -> torchdata.DataLoader:
    """Every record exactly once over all ranks (``InferenceSampler``), ``batch_size`` per batch.

    Args:
        dataset: the records (Detectron2 dataset dicts).
        mapper: record -> model input dict; never None here (Detectron2's ``MapDataset`` would
            put another record in its place).
        batch_size: records per batch.
        num_workers: DataLoader worker processes (0: map in the main process).
    """
    data = MapDataset(DatasetFromList(dataset, copy=False), mapper)
    return torchdata.DataLoader(
        data,
        batch_size=int(batch_size),
        sampler=InferenceSampler(len(data)),
        num_workers=int(num_workers),
        collate_fn=trivial_batch_collator,
    )
