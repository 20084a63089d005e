"""Register an AVA-format split in Detectron2's ``DatasetCatalog`` / ``MetadataCatalog``.

Registration reads nothing: files are read when the dataset is first loaded (``DatasetCatalog.get``),
which also fills the metadata that needs them (``evaluated_ids``, ``action_names``, ``label_types``,
``exclusions_file``); :func:`ava_metadata` fills it without loading the records.
A missing file raises :class:`InputFileError` naming its path at that moment.

Layout under a root (PySlowFast's, plus ``videos/`` and an optional ``dataset.json``)::

    frames/<vid>/<vid>_000001.jpg        frame_lists/{train,val}.csv        videos/<vid>.mp4
    annotations/ava_{split}_{version}.csv
    annotations/ava_detection_{split}_boxes_and_labels.csv   (or ava_{split}_predicted_boxes.csv)
    annotations/ava_{split}_excluded_timestamps_{version}.csv
    annotations/ava_action_list_{version}_for_activitynet_{2019|2018}.pbtxt
    dataset.json   {"start_sec", "fps", "keyframe_secs": [first, last], "keyframe_rate", "width", "height"}
                   (optional; keyframe_rate: keyframes per second, 1 = AVA)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata

from ava_detector.ava.data.csv_formats import (
    read_annotations,
    read_proposals,
)
from ava_detector.ava.data.frame_table import (
    FrameTable,
    frame_table,
)
from ava_detector.ava.data.label_map import read_label_map
from ava_detector.ava.data.records import build_records
from ava_detector.data.errors import InputFileError

__all__ = [
    "AVAFiles",
    "ava_layout",
    "read_dataset_json",
    "ava_metadata",
    "load_ava_records",
    "register_ava",
]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
_LABEL_MAPS = {
    "v2.2": "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    "v2.1": "ava_action_list_v2.1_for_activitynet_2018.pbtxt",
}


@dataclass(frozen=True)
class AVAFiles:
    """Paths of one split. ``proposals`` may list candidates (the first existing one is used);
    ``None``/``""`` entries are absent."""

    annotations: str
    label_map: str
    proposals: tuple[str, ...] = ()
    exclusions: str = ""
    frame_list: str = ""
    frames_dir: str = ""
    videos_dir: str = ""
    dataset_json: str = ""


def ava_layout(root: str | Path, split: str, version: str = "v2.2") -> AVAFiles:
    """The files of ``split`` ("train"/"val") under ``root`` in the layout above."""
    root = Path(root)
    ann = root / "annotations"
    return AVAFiles(
        annotations=str(ann / f"ava_{split}_{version}.csv"),
        label_map=str(ann / _LABEL_MAPS.get(version, _LABEL_MAPS["v2.2"])),
        proposals=(
            str(ann / f"ava_detection_{split}_boxes_and_labels.csv"),
            str(ann / f"ava_{split}_predicted_boxes.csv"),
        ),
        exclusions=str(ann / f"ava_{split}_excluded_timestamps_{version}.csv"),
        frame_list=str(root / "frame_lists" / f"{split}.csv"),
        frames_dir=str(root / "frames"),
        videos_dir=str(root / "videos"),
        dataset_json=str(root / "dataset.json"),
    )


def read_dataset_json(path: str | Path) -> dict:
    """``dataset.json`` of a custom/synthetic dataset: start_sec, fps and optional keyframe range/size."""
    try:
        info = json.loads(Path(path).read_text())
    except OSError as e:
        raise InputFileError(path, None, f"cannot read dataset description: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputFileError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    for key in ("start_sec", "fps"):
        if not isinstance(info.get(key), (int, float)):
            raise InputFileError(path, None, f"needs a number {key!r}")
    rate = info.get("keyframe_rate", 1)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
        raise InputFileError(path, None, f"'keyframe_rate' must be a positive number, got {rate!r}")
    return info


def find_videos(videos_dir: str) -> dict[str, str]:
    """``{video_id: path}`` of the video files in ``videos_dir`` (empty if it does not exist)."""
    d = Path(videos_dir) if videos_dir else None
    if d is None or not d.is_dir():
        return {}
    return {p.stem: str(p) for p in sorted(d.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}


def _frames(files: AVAFiles, allow_outside: bool = False) -> FrameTable | dict:
    """The split's frame table (``{video_id: VideoFrames}``), empty without a frame list; a path that
    leaves the frames folder is an error unless ``allow_outside``."""
    if not files.frame_list or not Path(files.frame_list).is_file():
        return {}
    return frame_table(files.frame_list, files.frames_dir, allow_outside=allow_outside)


def _fill_load_time_metadata(name: str, files: AVAFiles) -> None:
    """Metadata that needs the files: the label map's ids/names/types and whether exclusions exist."""
    meta = MetadataCatalog.get(name)
    if not hasattr(meta, "exclusions_file"):
        has_exclusions = bool(files.exclusions) and Path(files.exclusions).is_file()
        meta.set(exclusions_file=files.exclusions if has_exclusions else "")
    if not hasattr(meta, "evaluated_ids"):
        label_map = read_label_map(files.label_map)
        meta.set(
            evaluated_ids=label_map.ids,
            action_names=dict(label_map.names),
            label_types=dict(label_map.types),
        )
    if getattr(meta, "num_classes", None) is None:  # "from the label map": its largest id
        meta.num_classes = max(meta.evaluated_ids, default=0)


def ava_metadata(name: str) -> Metadata:
    """``MetadataCatalog.get(name)`` with the label-map and exclusions keys filled (reads the files)."""
    meta = MetadataCatalog.get(name)
    files = getattr(meta, "ava_files", None)
    if files is not None:
        _fill_load_time_metadata(name, files)
    return meta


def load_ava_records(
    files: AVAFiles,
    *,
    start_sec: float | None = 900,
    fps: float | None = 30,
    lenient: bool = False,
    gt_iou: float = 0.9,
    num_classes: int | None = 80,
    allow_paths_outside_root: bool = False,
) -> list[dict]:
    """Read one split's files into records (docs/interfaces.md). ``start_sec``/``fps`` ``None`` =
    read them from ``files.dataset_json``; ``num_classes`` ``None`` = the label map's largest id."""
    if num_classes is None:
        num_classes = max(read_label_map(files.label_map).ids, default=0)
    height = width = 0
    sec_range = None
    keyframe_rate = 1.0
    if start_sec is None or fps is None:
        info = read_dataset_json(files.dataset_json)
        start_sec = info["start_sec"] if start_sec is None else start_sec
        fps = info["fps"] if fps is None else fps
        height, width = int(info.get("height", 0)), int(info.get("width", 0))
        if "keyframe_secs" in info:
            sec_range = tuple(info["keyframe_secs"])
        keyframe_rate = float(info.get("keyframe_rate", 1.0))
    frames = _frames(files, allow_paths_outside_root)
    videos = find_videos(files.videos_dir)
    if not frames and not videos:
        raise InputFileError(
            files.frame_list or files.videos_dir,
            None,
            f"dataset not found: no frame list {files.frame_list!r} and no videos in "
            f"{files.videos_dir!r}",
        )
    if not Path(files.annotations).is_file():
        raise InputFileError(files.annotations, None, "annotation file not found")
    gt = read_annotations(
        files.annotations,
        num_classes=num_classes,
        sec_range=sec_range,
        keyframe_rate=keyframe_rate,
        lenient=lenient,
    )
    proposals_path = next((p for p in files.proposals if p and Path(p).is_file()), None)
    proposals = None
    if proposals_path is None:
        logger.warning(
            "No proposals file among %s: only ground-truth boxes.", list(files.proposals)
        )
    else:
        proposals = read_proposals(
            proposals_path, sec_range=sec_range, keyframe_rate=keyframe_rate, lenient=lenient
        ).table
    records, skipped = build_records(
        gt.table,
        proposals,
        fps=fps,
        start_sec=start_sec,
        frames=frames,
        video_paths=videos,
        gt_path=files.annotations,
        proposals_path=proposals_path or "<proposals>",
        num_classes=num_classes,
        gt_iou=gt_iou,
        height=height,
        width=width,
        lenient=lenient,
    )
    if skipped:
        logger.warning("Skipped %d keyframes (lenient mode); first: %s", len(skipped), skipped[0])
    logger.info("Loaded %d AVA keyframes from %s", len(records), files.annotations)
    return records


def register_ava(
    name: str,
    *,
    root: str | Path | None = None,
    split: str | None = None,
    version: str = "v2.2",
    files: AVAFiles | None = None,
    start_sec: float | None = 900,
    fps: float | None = 30,
    lenient: bool = False,
    gt_iou: float = 0.9,
    num_classes: int | None = 80,
    allow_paths_outside_root: bool = False,
    **overrides: str | tuple[str, ...],
) -> None:
    """Register (or re-register) ``name``: files from ``files`` or ``ava_layout(root, split, version)``,
    individual paths overridable by keyword (``annotations=...``, ``proposals=(...)``, ...).
    ``start_sec``/``fps`` ``None`` = from the root's ``dataset.json`` at load time; ``num_classes``
    ``None`` = the label map's largest id (in the metadata once the label map is read)."""
    if files is None:
        if root is None or split is None:
            raise ValueError("register_ava needs either files=AVAFiles(...) or root= and split=")
        files = ava_layout(root, split, version)
    changes: dict[str, Any] = dict(overrides)  # AVAFiles fields: str, proposals a tuple
    if isinstance(changes.get("proposals"), str):
        changes["proposals"] = (changes["proposals"],)
    files = replace(files, **changes)

    def load() -> list[dict]:
        records = load_ava_records(
            files,
            start_sec=start_sec,
            fps=fps,
            lenient=lenient,
            gt_iou=gt_iou,
            num_classes=num_classes,
            allow_paths_outside_root=allow_paths_outside_root,
        )
        _fill_load_time_metadata(name, files)
        return records

    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(
        evaluator_type="ava",
        label_map_file=files.label_map,
        groundtruth_file=files.annotations,
        gt_boxes_mode=False,
        proposal_gt_iou=float(gt_iou),
        ava_files=files,
        **({} if num_classes is None else {"num_classes": int(num_classes)}),
    )
