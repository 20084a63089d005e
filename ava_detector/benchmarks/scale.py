"""scale: records, serialised datasets and loader workers at AVA v2.2's real size (metadata only).

Generates AVA-v2.2-sized metadata (235 train / 64 val videos, 27,030 frame-list rows each, ~1 box and
~4.75 proposals per keyframe; :mod:`ava_detector.ava.data.metadata_generator`) unless ``--root``
holds some, then, each split in a fresh process, prints: record build time and peak RSS (and the RSS
of the imports alone), the size of the serialised dataset (Detectron2's ``DatasetFromList``), the
per-sample overhead of the training stream (unpickle + seeded RNGs + frame-path lookup), and the
summed PSS of ``--workers`` DataLoader workers after each has loaded its share of one epoch.

Frame reading is replaced by a stand-in that resolves the clip's frame paths without opening them
(the metadata has no images), so what is measured is the loaders' own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch.utils.data as torchdata
from tabulate import tabulate

if TYPE_CHECKING:
    from ava_detector.engine.data_loading import IterationSeededStream

_NAME = "benchmark_scale"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="", help="metadata folder (generated there if empty)")
    parser.add_argument("--train-videos", type=int, default=235, help="videos of the train split")
    parser.add_argument("--val-videos", type=int, default=64, help="videos of the val split")
    parser.add_argument(
        "--workers", type=int, default=4, help="DataLoader workers for the PSS figure"
    )
    parser.add_argument("--samples", type=int, default=20000, help="samples timed for the overhead")
    parser.add_argument(
        "--epoch-fraction",
        type=float,
        default=1.0,
        help="fraction of an epoch each worker group loads before PSS is read",
    )
    parser.add_argument(
        "--pyslowfast",
        default="",
        metavar="PATH",
        help="a PySlowFast checkout: build its Ava datasets on the same files too",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stand_in_mapper(record: dict) -> int:
    """What a mapper does with the metadata, without reading a frame: the clip's 32 frame paths."""
    from ava_detector.data.video.sampling import clip_indices

    frames = record["frames"]
    paths = [frames[i] for i in clip_indices(record["keyframe_index"], 32, 2, len(frames))]
    return len(paths) + len(record["boxes"])


class _TouchEpoch(torchdata.IterableDataset[float]):
    """An IterableDataset: worker ``w`` of ``n`` loads samples ``w, w + n, ...`` of one epoch through the
    training stream, waits for the others, then yields its PSS (MiB)."""

    def __init__(self, stream: IterationSeededStream, count: int, barrier: Barrier) -> None:
        self.stream, self.count, self.barrier = stream, count, barrier

    def __iter__(self) -> Iterator[float]:
        import psutil

        info = torchdata.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for position in range(worker, self.count, workers):
            self.stream.load(position)
        self.barrier.wait()
        yield psutil.Process().memory_full_info().pss / 2**20
        self.barrier.wait()  # every worker has read its PSS before any exits


class _TouchPySlowFast(torchdata.IterableDataset[float]):
    """:class:`_TouchEpoch` for PySlowFast's ``Ava``: the metadata its ``__getitem__`` reads per
    sample (keyframe entry, boxes and labels, the clip's 32 frame paths), without reading frames."""

    def __init__(self, dataset: Any, barrier: Barrier) -> None:  # PySlowFast's Ava dataset
        self.dataset, self.barrier = dataset, barrier

    def __iter__(self) -> Iterator[float]:
        import psutil

        from ava_detector.data.video.sampling import clip_indices

        info = torchdata.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        d = self.dataset
        for i in range(worker, len(d._keyframe_indices), workers):
            video, sec_idx, _, center = d._keyframe_indices[i]
            _ = d._keyframe_boxes_and_labels[video][sec_idx]
            paths = d._image_paths[video]
            _ = [paths[j] for j in clip_indices(center, 32, 2, len(paths))]
        self.barrier.wait()
        yield psutil.Process().memory_full_info().pss / 2**20
        self.barrier.wait()


def _pss_after_epoch(dataset: torchdata.IterableDataset, workers: int) -> tuple[list[float], float]:
    """PSS (MiB) of each of ``workers`` forked DataLoader workers once all have run ``dataset``."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    loader = torchdata.DataLoader(
        dataset, batch_size=None, num_workers=workers, multiprocessing_context="fork"
    )
    pss = [float(v) for v in loader]
    return pss, time.perf_counter() - t0


def _child_pyslowfast(args: argparse.Namespace, split: str) -> dict:
    """PySlowFast's ``Ava(cfg, split)`` on the same files: build time, peak RSS, workers' PSS."""
    import logging
    import multiprocessing

    from ava_detector.benchmarks.pyslowfast_ava import load_pyslowfast

    ava_dataset, defaults = load_pyslowfast(args.pyslowfast)
    logging.getLogger(ava_dataset.__name__).setLevel(logging.WARNING)
    cfg = defaults.get_cfg()
    root = Path(args.root)
    cfg.AVA.FRAME_DIR = str(root / "frames")
    cfg.AVA.FRAME_LIST_DIR = str(root / "frame_lists")
    cfg.AVA.ANNOTATION_DIR = str(root / "annotations")
    cfg.AVA.TRAIN_PREDICT_BOX_LISTS = ["ava_detection_train_boxes_and_labels.csv"]
    cfg.AVA.TEST_PREDICT_BOX_LISTS = ["ava_detection_val_boxes_and_labels.csv"]
    out: dict = {"split": f"{split} (PySlowFast)", "rss_imports_mb": _rss_mb()}
    t0 = time.perf_counter()
    dataset = ava_dataset.Ava(cfg, "train" if split == "train" else "val")
    out["build_s"] = time.perf_counter() - t0
    out["peak_build_mb"] = out["peak_mb"] = _peak_mb()
    out["keyframes"] = out["selected"] = len(dataset._keyframe_indices)
    if split == "train":
        out["rss_one_process_mb"] = _rss_mb()
        barrier = multiprocessing.get_context("fork").Barrier(args.workers)
        out["workers_pss_mb"], out["epoch_s"] = _pss_after_epoch(
            _TouchPySlowFast(dataset, barrier), args.workers
        )
        out["epoch_samples"] = out["keyframes"]
    return out


def _child(args: argparse.Namespace) -> dict:
    """One split in this (fresh) process: build, serialise, time samples, fork workers."""
    import multiprocessing

    from detectron2.data import DatasetCatalog, DatasetFromList

    import ava_detector.builtin_datasets  # noqa: F401  (registers the built-in datasets)
    from ava_detector.ava.data.register import register_ava
    from ava_detector.ava.data.split_records import records_for_cfg
    from ava_detector.config.defaults import get_ava_cfg
    from ava_detector.engine.data_loading import IterationSeededStream

    split = args.child
    if split.startswith("pyslowfast-"):
        return _child_pyslowfast(args, split.split("-", 1)[1])
    out: dict = {"split": split, "rss_imports_mb": _rss_mb()}
    register_ava(f"{_NAME}_{split}", root=args.root, split=split, start_sec=None, fps=None)
    t0 = time.perf_counter()
    records = DatasetCatalog.get(f"{_NAME}_{split}")
    out["build_s"] = time.perf_counter() - t0
    out["peak_build_mb"] = _peak_mb()
    out["keyframes"] = len(records)
    cfg = get_ava_cfg()
    is_train = split == "train"
    records = records_for_cfg(f"{_NAME}_{split}", cfg, is_train)
    out["selected"] = len(records)
    t0 = time.perf_counter()
    serialized = DatasetFromList(records, copy=False)
    out["serialize_s"] = time.perf_counter() - t0
    out["serialized_mb"] = (serialized._lst.nbytes + serialized._addr.nbytes) / 2**20
    del serialized
    out["peak_mb"] = _peak_mb()
    if not is_train:
        return out

    stream = IterationSeededStream(records, _stand_in_mapper, batch_size=1, seed=0)
    del records
    n = min(args.samples, stream._size)
    stream.load(0)
    t0 = time.perf_counter()
    for p in range(n):
        stream.load(p)
    out["per_sample_us"] = (time.perf_counter() - t0) / n * 1e6
    out["rss_one_process_mb"] = _rss_mb()

    count = int(stream._size * args.epoch_fraction)
    barrier = multiprocessing.get_context("fork").Barrier(args.workers)
    out["workers_pss_mb"], out["epoch_s"] = _pss_after_epoch(
        _TouchEpoch(stream, count, barrier), args.workers
    )
    out["epoch_samples"] = count
    return out


def _run_child(args: argparse.Namespace, split: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "ava_detector.benchmarks.scale",
        "--root",
        args.root,
        "--child",
        split,
        "--workers",
        str(args.workers),
        "--samples",
        str(args.samples),
        "--epoch-fraction",
        str(args.epoch_fraction),
        "--pyslowfast",
        args.pyslowfast,
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    if done.returncode != 0:
        raise SystemExit(f"scale benchmark ({split}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    if args.child:
        print(json.dumps(_child(args)))
        return 0
    from ava_detector.ava.data.metadata_generator import (
        MetadataSpec,
        write_ava_metadata,
    )

    tmp = None
    if not args.root:
        tmp = tempfile.TemporaryDirectory(prefix="ava_scale_")
        args.root = tmp.name
    try:
        if not (Path(args.root) / "frame_lists" / "train.csv").is_file():
            t0 = time.perf_counter()
            summary = write_ava_metadata(
                args.root,
                {
                    "train": MetadataSpec(videos=args.train_videos),
                    "val": MetadataSpec(videos=args.val_videos),
                },
            )
            print(
                f"generated metadata in {args.root} ({time.perf_counter() - t0:.1f} s): "
                + ", ".join(
                    f"{s}: {v['videos']} videos, {v['annotation_rows']:,} annotation rows, "
                    f"{v['proposal_rows']:,} proposal rows, {v['frame_rows']:,} frame-list rows"
                    for s, v in summary.items()
                )
            )
        children = ["train", "val"]
        if args.pyslowfast:  # interleaved: ours, theirs, per split
            children = ["train", "pyslowfast-train", "val", "pyslowfast-val"]
        results = [_run_child(args, child) for child in children]
    finally:
        if tmp is not None:
            tmp.cleanup()
    rows = []
    for r in results:
        rows.append(
            [
                r["split"],
                f"{r['keyframes']:,}",
                f"{r['selected']:,}",
                f"{r['build_s']:.1f}",
                f"{r['peak_build_mb'] / 1024:.2f}",
                f"{(r['peak_build_mb'] - r['rss_imports_mb']) / 1024:.2f}",
                f"{r['serialized_mb']:.0f}" if "serialized_mb" in r else "-",
                f"{r['serialize_s']:.1f}" if "serialize_s" in r else "-",
            ]
        )
    print(
        tabulate(
            rows,
            tablefmt="github",
            headers=[
                "split",
                "keyframes",
                "selected",
                "build s",
                "peak RSS GiB",
                "above imports GiB",
                "serialised MiB",
                "serialise s",
            ],
        )
    )
    print(
        f"training stream, stand-in mapper: {results[0]['per_sample_us']:.0f} us per sample "
        "(unpickle, seeded RNGs, 32 frame paths)"
    )
    for r in results:
        if "workers_pss_mb" not in r:
            continue
        pss, one = r["workers_pss_mb"], r["rss_one_process_mb"]
        print(
            f"{r['split']}: {len(pss)} workers after {r['epoch_samples']:,} samples "
            f"({r['epoch_s']:.1f} s): summed PSS {sum(pss) / 1024:.2f} GiB = {sum(pss) / one:.2f} x "
            f"one process's RSS ({one / 1024:.2f} GiB); per worker "
            + ", ".join(f"{p:.0f}" for p in pss)
            + " MiB"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
