"""AVA-format metadata of any size, without images: annotations, proposals, exclusions, frame lists.

What :mod:`ava_detector.benchmarks.scale` measures the readers, records and loaders on. The default
sizes are AVA v2.2's (235 train / 64 val videos of 27,030 frames, keyframes 902-1798 at 30 fps, about
one person box per keyframe with 1.6 actions each, about 4.75 detector proposals per keyframe). The
files follow the layout of :func:`ava_detector.ava.data.register.ava_layout`; the frame paths exist
only in the frame lists. Generation is seeded: the same arguments give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ava_detector.ava.data.frame_lists import FRAME_LIST_HEADER
from ava_detector.utils.atomic_files import atomic_write_text

__all__ = ["MetadataSpec", "AVA_V22_TRAIN", "AVA_V22_VAL", "write_ava_metadata"]

_ID_CHARS = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8
)


@dataclass(frozen=True)
class MetadataSpec:
    """Size of one generated split.

    Args:
        videos: number of videos.
        boxes_per_keyframe: mean person boxes per keyframe (Poisson).
        extra_actions_per_box: mean actions per box beyond the first (Poisson; 0.6 -> 1.6 rows a box).
        proposals_per_keyframe: mean detector proposals per keyframe (Poisson).
        first_sec, last_sec: the keyframe seconds (AVA: 902-1798).
        start_sec, fps: the frame timeline (AVA: frames from second 900 at 30 fps).
        frames_per_video: frame-list rows per video (AVA: 901 s x 30 = 27,030).
    """

    videos: int
    boxes_per_keyframe: float = 1.0
    extra_actions_per_box: float = 0.6
    proposals_per_keyframe: float = 4.75
    first_sec: int = 902
    last_sec: int = 1798
    start_sec: int = 900
    fps: int = 30
    frames_per_video: int = 27030


AVA_V22_TRAIN = MetadataSpec(videos=235)
AVA_V22_VAL = MetadataSpec(videos=64)


def _video_ids(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 11-character ids from AVA's alphabet."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        vid = _ID_CHARS[rng.integers(0, len(_ID_CHARS), 11)].tobytes().decode()
        if vid not in seen:
            seen.add(vid)
            ids.append(vid)
    return ids


def _boxes(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random normalised XYXY person boxes, float64 (n, 4)."""
    x1, y1 = rng.uniform(0.0, 0.7, n), rng.uniform(0.0, 0.5, n)
    w, h = rng.uniform(0.08, 0.3, n), rng.uniform(0.3, 0.5, n)
    return np.stack([x1, y1, np.minimum(x1 + w, 1.0), np.minimum(y1 + h, 1.0)], axis=1)


def _coords(boxes: np.ndarray) -> np.ndarray:
    """Boxes as 3-decimal strings (AVA's precision), object array (n, 4)."""
    return np.char.mod("%.3f", boxes).astype(object)


def _split_tables(
    spec: MetadataSpec, video_ids: list[str], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(annotation lines, proposal lines) of one split in file order (by video, then second)."""
    secs = np.arange(spec.first_sec, spec.last_sec + 1)
    kf_vid = np.repeat(np.arange(len(video_ids)), len(secs))
    kf_sec = np.tile(secs, len(video_ids))
    vids = np.array(video_ids, dtype=object)
    sec_str = np.char.mod("%04d", kf_sec).astype(object)
    kf_prefix = vids[kf_vid] + "," + sec_str + ","

    n_boxes = rng.poisson(spec.boxes_per_keyframe, len(kf_vid))
    box_kf = np.repeat(np.arange(len(kf_vid)), n_boxes)
    gt_boxes = _boxes(len(box_kf), rng)
    person = np.concatenate([np.arange(k) for k in n_boxes]) if len(n_boxes) else np.zeros(0, int)
    n_actions = 1 + rng.poisson(spec.extra_actions_per_box, len(box_kf))
    row_box = np.repeat(np.arange(len(box_kf)), n_actions)
    first_row = np.r_[0, np.cumsum(n_actions)[:-1]]
    pose = rng.integers(1, 15, len(box_kf))
    actions = rng.integers(15, 81, len(row_box))
    actions[first_row] = pose
    c = _coords(gt_boxes)
    box_str = kf_prefix[box_kf] + c[:, 0] + "," + c[:, 1] + "," + c[:, 2] + "," + c[:, 3] + ","
    ann = (
        box_str[row_box]
        + np.char.mod("%d", actions).astype(object)
        + ","
        + np.char.mod("%d", person[row_box]).astype(object)
    )

    n_props = rng.poisson(spec.proposals_per_keyframe, len(kf_vid))
    prop_kf = np.repeat(np.arange(len(kf_vid)), n_props)
    props = _boxes(len(prop_kf), rng)
    # About half of the proposals sit on a ground-truth box of their keyframe (IoU around 0.9).
    gt_first = np.r_[0, np.cumsum(n_boxes)[:-1]]
    on_gt = (rng.random(len(prop_kf)) < 0.5) & (n_boxes[prop_kf] > 0)
    which = gt_first[prop_kf] + (rng.random(len(prop_kf)) * np.maximum(n_boxes[prop_kf], 1)).astype(
        int
    )
    jitter = rng.normal(0.0, 0.005, (len(prop_kf), 4))
    props[on_gt] = np.clip(gt_boxes[which[on_gt]] + jitter[on_gt], 0.0, 1.0)
    props[:, 2:] = np.maximum(props[:, 2:], props[:, :2] + 0.01)
    props = np.clip(props, 0.0, 1.0)
    c = _coords(props)
    scores = np.char.mod("%.6f", rng.uniform(0.5, 1.0, len(prop_kf))).astype(object)
    prop = (
        kf_prefix[prop_kf] + c[:, 0] + "," + c[:, 1] + "," + c[:, 2] + "," + c[:, 3] + ",," + scores
    )
    return ann, prop


def _frame_list_lines(spec: MetadataSpec, video_ids: list[str]) -> str:
    """Frame-list text: ``vid index frame_id vid/vid_%06d.jpg ""`` per frame (PySlowFast layout)."""
    numbers = np.char.mod("%06d", np.arange(1, spec.frames_per_video + 1)).astype(object)
    frame_ids = np.char.mod("%d", np.arange(spec.frames_per_video)).astype(object)
    parts = [FRAME_LIST_HEADER + "\n"]
    for index, vid in enumerate(video_ids):
        rows = f"{vid} {index} " + frame_ids + f" {vid}/{vid}_" + numbers + '.jpg ""\n'
        parts.append("".join(rows))
    return "".join(parts)


def write_ava_metadata(
    root: str | Path, splits: dict[str, MetadataSpec] | None = None, seed: int = 0
) -> dict:
    """Write the metadata of ``splits`` (default: AVA v2.2's train and val sizes) under ``root``.

    Args:
        root: output folder (``annotations/`` with an 80-class label map, ``frame_lists/``, ``dataset.json``).
        splits: ``{split name: MetadataSpec}``.
        seed: random seed; the same arguments give the same files.

    Returns:
        ``{split: {"videos", "keyframes", "annotation_rows", "proposal_rows", "frame_rows"}}``
    """
    splits = splits if splits is not None else {"train": AVA_V22_TRAIN, "val": AVA_V22_VAL}
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "frame_lists").mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    for i, (split, spec) in enumerate(splits.items()):
        rng = np.random.default_rng([seed, i])
        video_ids = sorted(_video_ids(spec.videos, rng))
        ann, prop = _split_tables(spec, video_ids, rng)
        atomic_write_text(root / "annotations" / f"ava_{split}_v2.2.csv", "\n".join(ann) + "\n")
        atomic_write_text(
            root / "annotations" / f"ava_detection_{split}_boxes_and_labels.csv",
            "\n".join(prop) + "\n",
        )
        atomic_write_text(
            root / "annotations" / f"ava_{split}_excluded_timestamps_v2.2.csv",
            f"{video_ids[0]},{spec.last_sec:04d}\n",
        )
        atomic_write_text(root / "frame_lists" / f"{split}.csv", _frame_list_lines(spec, video_ids))
        summary[split] = {
            "videos": spec.videos,
            "keyframes": spec.videos * (spec.last_sec - spec.first_sec + 1),
            "annotation_rows": len(ann),
            "proposal_rows": len(prop),
            "frame_rows": spec.videos * spec.frames_per_video,
            "spec": asdict(spec),
        }
    atomic_write_text(
        root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        "".join(
            f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
            for i in range(1, 81)
        ),
    )
    first = next(iter(splits.values()))
    atomic_write_text(
        root / "dataset.json",
        json.dumps(
            {
                "start_sec": first.start_sec,
                "fps": first.fps,
                "keyframe_secs": [first.first_sec, first.last_sec],
                "width": 640,
                "height": 360,
            }
        ),
    )
    return summary
