"""Compact records: frames by reference into a per-process FrameTable, records equal to the per-keyframe
construction at a large synthetic size, handles that survive pickling, the vectorised proposal labels."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from detectron2.data import DatasetCatalog, DatasetFromList

from ava_detector.ava.data import frame_table as ft
from ava_detector.ava.data.builtin import register_synthetic_ava
from ava_detector.ava.data.csv_formats import (
    read_annotations,
    read_proposals,
)
from ava_detector.ava.data.frame_lists import (
    format_frame_list,
    parse_frame_list,
    read_frame_list,
)
from ava_detector.ava.data.metadata_generator import (
    MetadataSpec,
    write_ava_metadata,
)
from ava_detector.ava.data.records import (
    label_proposals,
    label_proposals_grouped,
    merge_gt_boxes,
)
from ava_detector.ava.data.register import register_ava
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.errors import InputFileError
from ava_detector.data.synthetic_scene import SceneSpec

# Three videos of AVA's real length (27,030 frames, 897 keyframes each): about 2,700 records.
LARGE = MetadataSpec(videos=3)


@pytest.fixture(scope="module")
def large_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("large_ava")
    write_ava_metadata(root, {"train": LARGE}, seed=3)
    return root


def _reference_records(root: Path, gt_iou: float = 0.9) -> list[dict]:
    """The records as built one keyframe at a time, with a list of joined paths per video."""
    gt = read_annotations(root / "annotations/ava_train_v2.2.csv").table
    props = read_proposals(root / "annotations/ava_detection_train_boxes_and_labels.csv").table
    frames = {
        v: [os.path.join(str(root / "frames"), p) for p in rel]
        for v, rel in read_frame_list(root / "frame_lists/train.csv").items()
    }
    boxes, labels = merge_gt_boxes(gt)
    cols = ["x1", "y1", "x2", "y2"]
    keys = pd.concat([gt[["video_id", "sec"]], props[["video_id", "sec"]]]).drop_duplicates()
    out = []
    for vid, sec in sorted(keys.itertuples(index=False)):
        g = (boxes["video_id"] == vid) & (boxes["sec"] == sec)
        p = (props["video_id"] == vid) & (props["sec"] == sec)
        gb, gl = boxes.loc[g, cols].to_numpy(np.float32), labels[g.to_numpy()]
        pb = props.loc[p, cols].to_numpy(np.float32)
        out.append(
            {
                "image_id": f"{vid},{sec:04d}",
                "keyframe_index": int(round((sec - 900) * 30)),
                "boxes": np.concatenate([gb, pb]).reshape(-1, 4),
                "labels": np.concatenate([gl, label_proposals(gb, gl, pb, gt_iou)]).reshape(-1, 80),
                "scores": np.concatenate(
                    [np.ones(len(gb), np.float32), props.loc[p, "score"].to_numpy(np.float32)]
                ),
                "is_gt": np.concatenate([np.ones(len(gb), bool), np.zeros(len(pb), bool)]),
                "frames": frames[vid],
            }
        )
    return out


def test_records_at_large_size_equal_the_per_keyframe_construction(large_root):
    register_ava("compact_large_train", root=large_root, split="train", start_sec=None, fps=None)
    records = DatasetCatalog.get("compact_large_train")
    reference = _reference_records(large_root)
    assert len(records) == len(reference) > 2500
    for rec, ref in zip(records, reference):
        assert rec["image_id"] == ref["image_id"] and rec["keyframe_index"] == ref["keyframe_index"]
        np.testing.assert_array_equal(rec["boxes"], ref["boxes"])
        np.testing.assert_array_equal(rec["labels"].astype(np.float32), ref["labels"])
        np.testing.assert_array_equal(rec["scores"], ref["scores"])
        np.testing.assert_array_equal(rec["is_gt"], ref["is_gt"])
    # Frames: every path of every video, and one handle object per video.
    by_video = {}
    for rec, ref in zip(records, reference):
        by_video.setdefault(rec["video_id"], (rec["frames"], ref["frames"]))
        assert rec["frames"] is by_video[rec["video_id"]][0]
    assert len(by_video) == 3
    for handle, paths in by_video.values():
        assert len(handle) == len(paths) == 27030
        assert list(handle) == paths
        assert handle[-1] == paths[-1] and handle[100:103] == paths[100:103]
    # Some proposals were labelled positive, some not (the test would not see a labelling bug else).
    positives = sum(int(r["labels"][~r["is_gt"]].any(axis=1).sum()) for r in records)
    negatives = sum(int((~r["labels"][~r["is_gt"]].any(axis=1)).sum()) for r in records)
    assert positives > 1000 and negatives > 1000


def test_a_serialised_record_is_small_and_its_frames_resolve(large_root):
    register_ava("compact_large_train", root=large_root, split="train", start_sec=None, fps=None)
    records = DatasetCatalog.get("compact_large_train")
    data = DatasetFromList(records, copy=False)
    per_record = (data._lst.nbytes + data._addr.nbytes) / len(records)
    assert per_record < 2000  # a list of 27,030 paths pickled to ~1.7 MB
    again = data[10]
    assert again["frames"][5] == records[10]["frames"][5]
    assert list(again["frames"]) == list(records[10]["frames"])


def test_handles_read_the_table_in_a_process_that_never_built_it(large_root, tmp_path):
    register_ava("compact_large_train", root=large_root, split="train", start_sec=None, fps=None)
    record = DatasetCatalog.get("compact_large_train")[7]
    blob = tmp_path / "record.pkl"
    blob.write_bytes(pickle.dumps(record))
    code = (
        "import pickle, sys; r = pickle.load(open(sys.argv[1], 'rb')); "
        "print(r['frames'][r['keyframe_index']])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(blob)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == record["frames"][record["keyframe_index"]]
    assert out.endswith(f"{record['video_id']}_{record['keyframe_index'] + 1:06d}.jpg")


def test_a_changed_frame_list_is_an_error_not_other_frames(tmp_path):
    fl = tmp_path / "list.csv"
    fl.write_text(format_frame_list({"a": [f"a/{i}.jpg" for i in range(10)]}))
    handle = pickle.loads(pickle.dumps(ft.frame_table(fl, tmp_path)["a"]))
    fl.write_text(format_frame_list({"a": [f"a/{i}.jpg" for i in range(4)]}))
    with pytest.raises(InputFileError, match="no longer has the 10 frames"):
        handle[0]


@pytest.mark.parametrize("layout", ["pyarrow", "fallback"])
def test_frame_table_equals_the_reference_parser(tmp_path, layout):
    videos = {
        "v1": ["v1/a.jpg", "v1/b.jpg", "/abs/c.jpg"],
        "v2": ["v2/x.jpg"],
        "v3": ["v3/ü.jpg"] * 2,
    }
    text = format_frame_list(videos)
    if layout == "fallback":  # tabs, double spaces, a leading blank line, interleaved videos
        lines = text.splitlines()
        text = (
            "\n"
            + "\n".join(
                [
                    lines[0],
                    lines[1].replace(" ", "\t"),
                    lines[4],
                    lines[2].replace(" ", "  "),
                    lines[5],
                    lines[3],
                    lines[6],
                ]
            )
            + "\n"
        )
    fl = tmp_path / "list.csv"
    fl.write_text(text, encoding="utf-8")
    expected = parse_frame_list(text)
    table = ft.read_frame_table(fl, "/frames")
    assert list(table) == list(expected)
    for vid, rel in expected.items():
        assert list(table[vid]) == [os.path.join("/frames", p) for p in rel]
    assert table["v1"][2] == "/abs/c.jpg"


def test_interleaved_rows_are_grouped_by_video_in_row_order(tmp_path):
    text = "original_vido_id video_id frame_id path labels\n" + "".join(
        f'{v} 0 {i} {v}/{i}.jpg ""\n' for i in range(3) for v in ("b", "a")
    )
    fl = tmp_path / "list.csv"
    fl.write_text(text)
    table = ft.read_frame_table(fl, "")
    assert list(table) == ["b", "a"]  # order of first appearance
    assert list(table["a"]) == ["a/0.jpg", "a/1.jpg", "a/2.jpg"]


def test_malformed_frame_lists_name_the_line(tmp_path):
    fl = tmp_path / "list.csv"
    fl.write_text(
        'original_vido_id video_id frame_id path labels\nv 0 0 v/0.jpg ""\nv 0 x v/1.jpg ""\n'
    )
    with pytest.raises(InputFileError, match=r"list.csv:3: frame_id must be an integer"):
        ft.read_frame_table(fl, "")
    fl.write_text("video path\n")
    with pytest.raises(InputFileError, match=r"list.csv:1: expected the header"):
        ft.read_frame_table(fl, "")
    with pytest.raises(InputFileError, match="cannot read frame list"):
        ft.frame_table(tmp_path / "missing.csv", "")


def test_synthetic_frames_resolve_to_the_same_files(tmp_path):
    root = tmp_path / "syn"
    generate_synthetic_ava(
        root,
        train_videos=2,
        val_videos=1,
        progress=False,
        spec=SceneSpec(duration=4, start_sec=0, width=96, height=80),
    )
    register_synthetic_ava(root, prefix="compact_syn")
    for split in ("train", "val"):
        expected = read_frame_list(root / "frame_lists" / f"{split}.csv")
        records = DatasetCatalog.get(f"compact_syn_{split}")
        seen = {r["video_id"]: r["frames"] for r in records}
        assert set(seen) == set(expected)
        for vid, handle in seen.items():
            paths = [str(root / "frames" / p) for p in expected[vid]]
            assert list(handle) == paths and all(Path(p).is_file() for p in handle)


def test_grouped_proposal_labels_equal_per_keyframe_labels():
    rng = np.random.default_rng(0)
    n_kf, gt_per, p_per = 40, rng.integers(0, 4, 40), rng.integers(0, 6, 40)
    gt_group = np.repeat(np.arange(n_kf), gt_per)
    p_group = np.repeat(np.arange(n_kf), p_per)
    xy = rng.uniform(0, 0.5, (len(gt_group), 2))
    gt_boxes = np.concatenate([xy, xy + rng.uniform(0.1, 0.5, xy.shape)], axis=1).astype(np.float32)
    gt_labels = (rng.random((len(gt_group), 80)) < 0.05).astype(np.uint8)
    # Proposals: copies of a GT box of their keyframe (IoU 1, so duplicated GT boxes tie), or random.
    boxes = rng.uniform(0, 0.5, (len(p_group), 4)).astype(np.float32)
    boxes[:, 2:] += 0.3
    for i, k in enumerate(p_group):
        members = np.flatnonzero(gt_group == k)
        if len(members) and i % 2 == 0:
            boxes[i] = gt_boxes[members[i % len(members)]]
    gt_boxes[1] = gt_boxes[0] if gt_group[1] == gt_group[0] else gt_boxes[1]  # a tie: first wins
    got = label_proposals_grouped(gt_boxes, gt_labels, gt_group, boxes, p_group, 0.5)
    for k in range(n_kf):
        g, p = gt_group == k, p_group == k
        np.testing.assert_array_equal(
            got[p], label_proposals(gt_boxes[g], gt_labels[g], boxes[p], 0.5)
        )
    assert got.any(axis=1).sum() >= len(p_group) // 3


def test_frame_list_paths_leaving_the_frames_folder_are_refused_unless_allowed(tmp_path):
    root = tmp_path / "ds"
    (root / "annotations").mkdir(parents=True)
    (root / "frame_lists").mkdir()
    (root / "annotations" / "ava_val_v2.2.csv").write_text("v,0001,0.1,0.1,0.5,0.9,12,0\n")
    paths = [f"v/v_{i:06d}.jpg" for i in range(1, 61)]
    paths[40] = "../../secret/x.jpg"
    paths[50] = "/etc/y.jpg"
    (root / "frame_lists" / "val.csv").write_text(format_frame_list({"v": paths}))
    (root / "dataset.json").write_text('{"start_sec": 0, "fps": 30}')
    (root / "annotations" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(
        'label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n'
    )
    register_ava("outside_val", root=root, split="val", start_sec=None, fps=None)
    with pytest.raises(
        InputFileError,
        match=r"val.csv:42: path '../../secret/x.jpg' points outside the "
        r"frames folder .* \(2 such rows\); set AVA.ALLOW_PATHS_OUTSIDE_ROOT",
    ):
        DatasetCatalog.get("outside_val")
    register_ava(
        "outside_val",
        root=root,
        split="val",
        start_sec=None,
        fps=None,
        allow_paths_outside_root=True,
    )
    frames = DatasetCatalog.get("outside_val")[0]["frames"]
    assert frames[50] == "/etc/y.jpg" and frames[40] == str(root / "frames" / "../../secret/x.jpg")
    table = ft.read_frame_table(root / "frame_lists" / "val.csv", root / "frames")
    assert table.rows_leaving_root() == [40, 50]
