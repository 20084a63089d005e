"""The synthetic Kinetics-format set: one person doing one movement per clip, the movement is the class."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ava_detector.data.synthetic_scene import (
    MOVEMENTS,
    SceneSpec,
    make_background,
    render_frame,
    simulate_video,
)
from ava_detector.utils.atomic_files import folder_beside, replace_folder
from ava_detector.utils.video_writer import write_mp4

__all__ = ["generate_synthetic_kinetics"]

DEFAULT_SPEC = SceneSpec()


def generate_synthetic_kinetics(
    out: str | Path,
    *,
    train_per_class: int = 8,
    val_per_class: int = 2,
    seconds: int = 3,
    spec: SceneSpec = DEFAULT_SPEC,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """A Kinetics-format set: ``videos/<name>.mp4`` clips of one person doing one movement, and
    ``{train,val}.csv`` lists of ``path label`` (label = index in ``classes.json``)."""
    start = time.perf_counter()
    out = Path(out)
    tmp = folder_beside(out, force)
    (tmp / "videos").mkdir()
    classes = list(MOVEMENTS)
    clip_spec = SceneSpec(
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        start_sec=0,
        duration=seconds,
        persons=(1, 1),
        wave_period=spec.wave_period,
        carry_prob=spec.carry_prob,
    )
    jobs = [
        (split, c, i)
        for split, n in (("train", train_per_class), ("val", val_per_class))
        for c in range(len(classes))
        for i in range(n)
    ]
    lists: dict[str, list[str]] = {"train": [], "val": []}
    nbytes = 0
    for split, c, i in tqdm(jobs, desc="synthetic Kinetics clips", disable=not progress):
        rng = np.random.default_rng([seed, 2 if split == "train" else 3, c, i])
        persons = simulate_video(rng, clip_spec, movement=classes[c])
        background = make_background(rng, clip_spec)
        frames = [render_frame(background, persons, t) for t in range(clip_spec.num_frames)]
        name = f"videos/{split}_{classes[c]}_{i:03d}.mp4"
        write_mp4(tmp / name, frames, clip_spec.fps, crf=18, gop=15)
        nbytes += (tmp / name).stat().st_size
        lists[split].append(f"{name} {c}")
    for split, rows in lists.items():
        (tmp / f"{split}.csv").write_text("".join(r + "\n" for r in rows))
    (tmp / "classes.json").write_text(json.dumps(classes) + "\n")
    replace_folder(tmp, out)
    return {
        "root": str(out),
        "clips": {s: len(r) for s, r in lists.items()},
        "bytes": nbytes,
        "seconds": time.perf_counter() - start,
    }
