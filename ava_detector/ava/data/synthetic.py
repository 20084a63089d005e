"""Write the synthetic AVA-format dataset (and its tiny Kinetics-format sibling) to disk.

The scene comes from :mod:`.synthetic_scene`; this module is the file edge: JPEG frames in the
PySlowFast layout, frame lists, ground-truth / proposal / exclusion CSVs, a v2.2-layout label map,
H.264 mp4 videos (PyAV) and ``dataset.json``. Everything is written under ``<out>.tmp`` and renamed at
the end, so an interrupted run leaves no half-written dataset. Seeded and deterministic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ava_detector.ava.data.frame_lists import format_frame_list
from ava_detector.ava.data.records import pairwise_iou
from ava_detector.data.synthetic_scene import (
    CARRY_ID,
    MOVEMENTS,
    SceneSpec,
    make_background,
    person_box,
    render_frame,
    simulate_video,
)
from ava_detector.utils.atomic_files import folder_beside, replace_folder
from ava_detector.utils.video_writer import write_mp4

__all__ = ["generate_synthetic_ava", "ACTION_NAMES"]

# Names of the ids used, as in the AVA v2.2 label map.
ACTION_NAMES = {
    7: "jump/leap",
    10: "run/jog",
    12: "stand",
    14: "walk",
    17: "carry/hold (an object)",
    69: "hand wave",
}
_LABEL_TYPES = {
    7: "PERSON_MOVEMENT",
    10: "PERSON_MOVEMENT",
    12: "PERSON_MOVEMENT",
    14: "PERSON_MOVEMENT",
    17: "OBJECT_MANIPULATION",
    69: "PERSON_INTERACTION",
}
LABEL_MAP_NAME = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
DEFAULT_SPEC = SceneSpec()


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> int:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())
    return len(data)


def label_map_text(ids: Iterable[int]) -> str:
    """A v2.2-layout label map of ``ids`` (names from the real AVA map)."""
    return "".join(
        f'label {{\n  name: "{ACTION_NAMES[i]}"\n  label_id: {i}\n  label_type: {_LABEL_TYPES[i]}\n}}\n'
        for i in sorted(ids)
    )


def _proposals(
    rng: np.random.Generator, gt_boxes: np.ndarray, spec: SceneSpec
) -> list[tuple[np.ndarray, float]]:
    """Jittered true boxes (high scores) and 0-2 false positives (lower scores) for one keyframe."""
    out = []
    for box in gt_boxes:
        w, h = box[2] - box[0], box[3] - box[1]
        jitter = rng.uniform(-0.03, 0.03, 4) * [w, h, w, h]
        out.append((np.clip(box + jitter, 0, 1), float(rng.uniform(0.82, 0.99))))
    for _ in range(int(rng.integers(0, 3))):
        w, h = rng.uniform(0.1, 0.2), rng.uniform(0.25, 0.45)
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        box = np.array([x, y, x + w, y + h])
        if len(gt_boxes) and pairwise_iou(box[None], gt_boxes).max() > 0.3:
            continue
        out.append((box, float(rng.uniform(0.05, 0.75))))
    return out


def _fmt_box(box: Iterable[float]) -> str:
    return ",".join(f"{v:.3f}" for v in box)


def _write_video(out: Path, vid: str, seed: int, spec: SceneSpec, quality: int) -> dict:
    """Render and write one video; returns its CSV rows and byte counts."""
    rng = np.random.default_rng(seed)
    persons = simulate_video(rng, spec)
    background = make_background(rng, spec)
    frames = [render_frame(background, persons, t) for t in range(spec.num_frames)]
    frame_dir = out / "frames" / vid
    frame_dir.mkdir(parents=True)
    rel = [f"{vid}/{vid}_{i + 1:06d}.jpg" for i in range(len(frames))]
    nbytes = sum(_write_jpeg(out / "frames" / r, f, quality) for r, f in zip(rel, frames))
    write_mp4(out / "videos" / f"{vid}.mp4", frames, spec.fps, crf=18, gop=15)
    nbytes += (out / "videos" / f"{vid}.mp4").stat().st_size
    gt_rows, prop_rows = [], []
    for sec in spec.keyframe_seconds:
        t = (sec - spec.start_sec) * spec.fps
        k = sec - spec.start_sec
        boxes = np.stack([person_box(p, t, spec) for p in persons])
        for pid, (p, box) in enumerate(zip(persons, boxes)):
            ids = [p.movements[k]] + ([CARRY_ID] if p.carries[k] else [])
            gt_rows += [f"{vid},{sec:04d},{_fmt_box(box)},{a},{pid}" for a in ids]
        for box, score in _proposals(rng, boxes, spec):
            prop_rows.append(f"{vid},{sec:04d},{_fmt_box(box)},,{score:.4f}")
    return {"frames": rel, "gt": gt_rows, "proposals": prop_rows, "bytes": nbytes}


def generate_synthetic_ava(
    out: str | Path,
    *,
    train_videos: int = 16,
    val_videos: int = 6,
    spec: SceneSpec = DEFAULT_SPEC,
    seed: int = 0,
    jpeg_quality: int = 85,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Write the dataset under ``out``; return a summary (counts, bytes, seconds)."""
    start = time.perf_counter()
    out = Path(out)
    tmp = folder_beside(out, force)
    for d in ("frames", "frame_lists", "annotations", "videos"):
        (tmp / d).mkdir()
    splits = {"train": train_videos, "val": val_videos}
    summary: dict = {"root": str(out), "splits": {}, "bytes": 0}
    jobs = [(split, i) for split, n in splits.items() for i in range(n)]
    results: dict[str, list] = {s: [] for s in splits}
    for split, i in tqdm(jobs, desc="synthetic AVA videos", disable=not progress):
        vid = f"syn_{split}_{i:03d}"
        seed_i = int(
            np.random.SeedSequence([seed, 0 if split == "train" else 1, i]).generate_state(1)[0]
        )
        results[split].append((vid, _write_video(tmp, vid, seed_i, spec, jpeg_quality)))
    ann = tmp / "annotations"
    for split, videos in results.items():
        frame_lists = {vid: r["frames"] for vid, r in videos}
        (tmp / "frame_lists" / f"{split}.csv").write_text(format_frame_list(frame_lists))
        gt = [row for _, r in videos for row in r["gt"]]
        # The last keyframe of the first video is left unannotated and listed as excluded.
        excluded = f"{videos[0][0]},{spec.keyframe_seconds[-1]:04d}" if videos else ""
        gt = [row for row in gt if not (excluded and row.startswith(excluded + ","))]
        (ann / f"ava_{split}_v2.2.csv").write_text("".join(row + "\n" for row in gt))
        (ann / f"ava_detection_{split}_boxes_and_labels.csv").write_text(
            "".join(row + "\n" for _, r in videos for row in r["proposals"])
        )
        (ann / f"ava_{split}_excluded_timestamps_v2.2.csv").write_text(
            excluded + "\n" if excluded else ""
        )
        counts: dict[int, int] = {}
        for row in gt:
            a = int(row.split(",")[6])
            counts[a] = counts.get(a, 0) + 1
        summary["splits"][split] = {
            "videos": len(videos),
            "keyframes": len({tuple(row.split(",")[:2]) for row in gt}),
            "boxes": len({tuple(row.split(",")[:6]) for row in gt}),
            "proposals": sum(len(r["proposals"]) for _, r in videos),
            "labels": {ACTION_NAMES[a]: n for a, n in sorted(counts.items())},
        }
        summary["bytes"] += sum(r["bytes"] for _, r in videos)
    (ann / LABEL_MAP_NAME).write_text(label_map_text([*MOVEMENTS.values(), CARRY_ID]))
    info = {
        "format": "ava",
        "start_sec": spec.start_sec,
        "fps": spec.fps,
        "keyframe_secs": [spec.keyframe_seconds[0], spec.keyframe_seconds[-1]],
        "width": spec.width,
        "height": spec.height,
        "seed": seed,
        "scene": asdict(spec),
        "wave_aliases_for": {
            "INPUT.NUM_FRAMES": 16,
            "INPUT.SAMPLING_RATE": 2,
            "MODEL.SLOWFAST.ALPHA": 4,
        }
        if spec.wave_period == 10
        else {},
        "videos": {s: [v for v, _ in r] for s, r in results.items()},
    }
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1) + "\n")
    replace_folder(tmp, out)
    summary["seconds"] = time.perf_counter() - start
    return summary
