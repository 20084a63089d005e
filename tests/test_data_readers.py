"""AVA readers on hand-written files: CSV parsing (every malformed case), merging, proposal labelling,
frame lists, label maps, box selection, registration."""

from __future__ import annotations

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from hypothesis import given, settings
from hypothesis import strategies as st

from ava_detector.ava.data.csv_formats import (
    parse_annotations,
    parse_exclusions,
    parse_proposals,
    read_annotations,
)
from ava_detector.ava.data.frame_lists import (
    format_frame_list,
    parse_frame_list,
)
from ava_detector.ava.data.label_map import (
    parse_label_map,
    read_label_map,
)
from ava_detector.ava.data.records import (
    build_records,
    label_proposals,
    pairwise_iou,
)
from ava_detector.ava.data.register import register_ava
from ava_detector.ava.data.split_records import (
    records_for_cfg,
    select_boxes,
)
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.errors import InputFileError

GT = """\
vidA,0902,0.1,0.2,0.3,0.4,12,1
vidA,0902,0.1,0.2,0.3,0.4,17,1

vidA,0902,0.5,0.5,0.9,0.9,14,2
vidA,0903
vidB,904,0.0,0.0,1.005,1.0,80
"""


def test_annotations_parse_types_and_values():
    t = parse_annotations(GT).table
    assert t["video_id"].tolist() == ["vidA", "vidA", "vidA", "vidA", "vidB"]
    assert t["sec"].tolist() == [902, 902, 902, 903, 904]
    assert t["action_id"].tolist() == [12, 17, 14, 0, 80]
    assert t["person_id"].tolist() == [1, 1, 2, -1, -1]
    assert t["line"].tolist() == [1, 2, 4, 5, 6]  # blank line 3 still counts
    assert t.loc[4, "x2"] == pytest.approx(1.0)  # 1.005 within tolerance, clipped
    assert np.isnan(t.loc[3, "x1"])


@pytest.mark.parametrize(
    "row, problem",
    [
        ("v,902,0.1,0.2,0.3", "expected 2, 7 or 8 comma-separated columns, got 5"),
        ("v,902,0.1,0.2,0.3,0.4,12,1,9", "expected 2, 7 or 8 comma-separated columns, got 9"),
        ("v,abc,0.1,0.2,0.3,0.4,12", "timestamp is not a number"),
        ("v,902.5,0.1,0.2,0.3,0.4,12", "timestamp must be a whole second"),
        ("v,902,0.1,zz,0.3,0.4,12", "box coordinates x1,y1,x2,y2 must be numbers"),
        ("v,902,0.1,0.2,1.3,0.4,12", "box coordinates must be normalised to [0, 1]"),
        ("v,902,-0.2,0.2,0.3,0.4,12", "box coordinates must be normalised to [0, 1]"),
        ("v,902,0.3,0.2,0.3,0.4,12", "box needs x1 < x2"),
        ("v,902,0.1,0.5,0.3,0.4,12", "box needs y1 < y2"),
        ("v,902,0.1,0.2,0.3,0.4,81", "unknown action id 81 (valid: 1..80)"),
        ("v,902,0.1,0.2,0.3,0.4,0", "unknown action id 0 (valid: 1..80)"),
        ("v,902,0.1,0.2,0.3,0.4,x", "action_id must be an integer"),
        ("v,902,0.1,0.2,0.3,0.4,12,p", "person_id must be an integer"),
        (",902", "empty video_id"),
        ("v,1900,0.1,0.2,0.3,0.4,12", "timestamp outside the video's keyframe seconds [902, 1798]"),
    ],
)
def test_annotations_malformed_rows_name_file_line_problem(row, problem):
    text = "good,0902,0.1,0.2,0.3,0.4,12,1\n\n" + row + "\n"
    with pytest.raises(InputFileError) as err:
        parse_annotations(text, "ann.csv", sec_range=(902, 1798))
    assert str(err.value) == f"ann.csv:3: {problem}"
    assert (err.value.path, err.value.line, err.value.problem) == ("ann.csv", 3, problem)


def test_annotations_lenient_skips_and_reports():
    text = "a,902,0.1,0.2,0.3,0.4,12\nb,902,0.1,0.2,0.3\nc,903,0.1,0.2,0.3,0.4,99\nd,904\n"
    parsed = parse_annotations(text, "x.csv", lenient=True)
    assert parsed.table["video_id"].tolist() == ["a", "d"]
    assert [line for line, _ in parsed.skipped] == [2, 3]


def test_proposals_and_exclusions():
    t = parse_proposals("v,0902,0.1,0.2,0.3,0.4,,0.95\nv,902,0.1,0.2,0.3,0.4,-1,0.5\n").table
    assert t["score"].tolist() == pytest.approx([0.95, 0.5])
    with pytest.raises(InputFileError, match=r"p.csv:1: expected 8 comma-separated columns, got 7"):
        parse_proposals("v,0902,0.1,0.2,0.3,0.4,0.9\n", "p.csv")
    with pytest.raises(InputFileError, match=r"p.csv:1: score must be a number"):
        parse_proposals("v,0902,0.1,0.2,0.3,0.4,,nan\n", "p.csv")
    with pytest.raises(InputFileError, match=r"p.csv:1: label must be empty or an integer"):
        parse_proposals("v,0902,0.1,0.2,0.3,0.4,person,0.9\n", "p.csv")
    e = parse_exclusions("v,0902\nw,1000\n").table
    assert list(zip(e["video_id"], e["sec"])) == [("v", 902), ("w", 1000)]
    with pytest.raises(InputFileError, match=r"e.csv:2: expected 2 comma-separated columns, got 3"):
        parse_exclusions("v,0902\nv,903,1\n", "e.csv")


def test_label_maps_both_layouts(shared_dir):
    v21 = 'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem {\n  name: "stand"\n  id: 12\n}\n'
    lm = parse_label_map(v21)
    assert lm.ids == [1, 12] and lm.names[12] == "stand" and lm.types[12] == ""
    v22 = 'label {\n  name: "walk"\n  label_id: 14\n  label_type: PERSON_MOVEMENT\n}\n'
    assert parse_label_map(v22).types == {14: "PERSON_MOVEMENT"}
    real = read_label_map(shared_dir / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    never = {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
    assert len(real.ids) == 60 and set(real.ids) == set(range(1, 81)) - never
    assert real.names[12] == "stand"
    with pytest.raises(InputFileError, match=r"m:1: expected 'item \{' or 'label \{'"):
        parse_label_map("nonsense\n", "m")
    with pytest.raises(InputFileError, match=r"m:1: block opened here is never closed"):
        parse_label_map('item {\n name: "a"\n id: 1\n', "m")
    with pytest.raises(InputFileError, match=r"m:5: action id 1 is defined twice"):
        parse_label_map('item {\nname: "a"\nid: 1\n}\nitem {\nname: "b"\nid: 1\n}\n', "m")


def test_frame_list_parse_and_roundtrip():
    videos = {
        "vidA": ["vidA/vidA_000001.jpg", "vidA/vidA_000002.jpg"],
        "vidB": ["vidB/vidB_000001.jpg"],
    }
    text = format_frame_list(videos)
    assert text.splitlines()[0] == "original_vido_id video_id frame_id path labels"
    assert text.splitlines()[2] == 'vidA 0 1 vidA/vidA_000002.jpg ""'
    assert parse_frame_list(text) == videos
    with pytest.raises(InputFileError, match=r"fl.csv:1: expected the header"):
        parse_frame_list("video_id path\n", "fl.csv")
    with pytest.raises(InputFileError, match=r"fl.csv:3: expected .* got 2 fields"):
        parse_frame_list(text.splitlines()[0] + "\n\nvidA 0\n", "fl.csv")
    with pytest.raises(InputFileError, match=r"fl.csv:2: frame_id must be an integer"):
        parse_frame_list(text.splitlines()[0] + '\nvidA 0 x a.jpg ""\n', "fl.csv")


def test_iou_and_proposal_labels_by_hand():
    assert pairwise_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [4, 4, 5, 5]]).tolist() == [[1 / 7, 0.0]]
    gt_boxes = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    gt_labels = np.zeros((1, 80), np.float32)
    gt_labels[0, [11, 16]] = 1
    props = np.array([[0.1, 0.2, 0.3, 0.41], [0.1, 0.2, 0.3, 0.45]], np.float32)  # IoU 0.952, 0.8
    labels = label_proposals(gt_boxes, gt_labels, props, 0.9)
    assert np.flatnonzero(labels[0]).tolist() == [11, 16] and not labels[1].any()
    assert label_proposals(gt_boxes, gt_labels, props, 0.75)[1].sum() == 2


PROPS = """\
vidA,0902,0.1,0.2,0.3,0.41,,0.95
vidA,0902,0.1,0.2,0.3,0.45,,0.85
vidA,0902,0.6,0.1,0.7,0.2,,0.3
vidB,0904,0.2,0.2,0.4,0.4,,0.9
vidB,0905,0.2,0.2,0.4,0.4,,0.9
"""


def _records(start_sec=900, fps=30, frames=None, **kw):
    frames = frames if frames is not None else {"vidA": ["a"] * 200, "vidB": ["b"] * 200}
    return build_records(
        parse_annotations(GT).table,
        parse_proposals(PROPS).table,
        fps=fps,
        start_sec=start_sec,
        frames=frames,
        gt_path="gt.csv",
        proposals_path="p.csv",
        **kw,
    )


def test_build_records_merge_and_keyframes():
    records, skipped = _records(start_sec=899.5, fps=25)
    assert skipped == []
    assert [r["image_id"] for r in records] == ["vidA,0902", "vidA,0903", "vidB,0904", "vidB,0905"]
    a = records[0]
    assert a["keyframe_index"] == 62 and a["fps"] == 25 and a["start_sec"] == 899.5  # 2.5 s * 25
    assert a["is_gt"].tolist() == [True, True, False, False, False]
    assert a["scores"].tolist() == pytest.approx([1, 1, 0.95, 0.85, 0.3])
    assert [np.flatnonzero(lab).tolist() for lab in a["labels"]] == [
        [11, 16],
        [13],
        [11, 16],
        [],
        [],
    ]
    assert a["boxes"].dtype == np.float32 and a["boxes"].shape == (5, 4)
    assert a["source"] == "frames" and a["frames"] is records[1]["frames"]
    assert records[1]["boxes"].shape == (0, 4)  # the 2-column "no person" keyframe
    assert records[3]["labels"].shape == (1, 80) and not records[3]["is_gt"].any()


def test_build_records_missing_video_and_out_of_range_frames():
    with pytest.raises(InputFileError, match=r"^gt.csv:6: video 'vidB' has neither frames"):
        _records(frames={"vidA": ["a"] * 200})
    with pytest.raises(
        InputFileError, match=r"^gt.csv:1: second 902 of video 'vidA' is frame 60, outside"
    ):
        _records(frames={"vidA": ["a"] * 60, "vidB": ["b"] * 200})
    records, skipped = _records(frames={"vidA": ["a"] * 60, "vidB": ["b"] * 200}, lenient=True)
    assert [r["image_id"] for r in records] == ["vidB,0904", "vidB,0905"] and len(skipped) == 2
    records, _ = build_records(
        parse_annotations(GT).table,
        None,
        fps=30,
        start_sec=900,
        video_paths={"vidA": "a.mp4", "vidB": "b.mp4"},
    )
    assert records[0]["source"] == "video" and records[0]["video_path"] == "a.mp4"
    assert "frames" not in records[0]


def test_select_boxes_rules():
    a = _records()[0][0]
    train = select_boxes(a, is_train=True, score_thresh=0.8, gt_iou=0.9)
    assert train["is_gt"].tolist() == [True, True, False, False]  # 0.3 proposal dropped
    assert [int(lab.sum()) for lab in train["labels"]] == [2, 1, 2, 0]
    relabelled = select_boxes(a, is_train=True, score_thresh=0.8, gt_iou=0.75)
    assert int(relabelled["labels"][3].sum()) == 2
    gt_only = select_boxes(a, is_train=True, score_thresh=0.8, use_proposals=False)
    assert gt_only["is_gt"].all() and len(gt_only["boxes"]) == 2
    test = select_boxes(a, is_train=False, score_thresh=0.9)
    assert test["scores"].tolist() == pytest.approx([0.95]) and not test["labels"].any()
    gt_mode = select_boxes(a, is_train=False, score_thresh=0.9, gt_boxes_mode=True)
    assert gt_mode["is_gt"].all() and gt_mode["labels"].sum() == 3
    b = _records()[0][3]  # proposals only
    assert select_boxes(b, is_train=False, score_thresh=0.8, gt_boxes_mode=True) is None
    assert select_boxes(b, is_train=False, score_thresh=0.95) is None
    assert len(a["boxes"]) == 5  # the record itself is untouched


def test_register_ava_lazy_load_metadata_and_cfg(tmp_path, shared_dir):
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "ava_val_v2.2.csv").write_text(GT)
    (ann / "ava_detection_val_boxes_and_labels.csv").write_text(PROPS)
    (ann / "ava_val_excluded_timestamps_v2.2.csv").write_text("vidA,0903\n")
    label_map = shared_dir / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(label_map.read_text())
    (tmp_path / "frame_lists").mkdir()
    frames = {v: [f"{v}/{v}_{i:06d}.jpg" for i in range(1, 301)] for v in ("vidA", "vidB")}
    (tmp_path / "frame_lists" / "val.csv").write_text(format_frame_list(frames))
    (tmp_path / "dataset.json").write_text(
        '{"start_sec": 900, "fps": 30, "width": 64, "height": 48}'
    )
    name = "test_readers_val"
    register_ava(name, root=tmp_path, split="val", start_sec=None, fps=None)
    meta = MetadataCatalog.get(name)
    assert meta.evaluator_type == "ava" and meta.gt_boxes_mode is False
    assert not hasattr(meta, "evaluated_ids")  # nothing read yet
    records = DatasetCatalog.get(name)
    assert len(records) == 4 and records[0]["frames"][0] == str(
        tmp_path / "frames/vidA/vidA_000001.jpg"
    )
    assert (records[0]["width"], records[0]["height"]) == (64, 48)
    assert len(meta.evaluated_ids) == 60 and meta.action_names[14] == "walk"
    assert meta.exclusions_file.endswith("ava_val_excluded_timestamps_v2.2.csv")
    cfg = get_ava_cfg()
    cfg.AVA.TEST_PROPOSAL_SCORE_THRESH = 0.8
    assert [r["image_id"] for r in records_for_cfg(name, cfg, False)] == [
        "vidA,0902",
        "vidB,0904",
        "vidB,0905",
    ]
    cfg.AVA.EVAL_EVERY_K_SECONDS = 2
    assert [r["image_id"] for r in records_for_cfg(name, cfg, False)] == ["vidA,0902", "vidB,0904"]
    cfg.AVA.GT_BOXES = True
    assert [r["image_id"] for r in records_for_cfg(name, cfg, False)] == ["vidA,0902", "vidB,0904"]
    assert [r["image_id"] for r in records_for_cfg(name, cfg, True)] == [
        "vidA,0902",
        "vidB,0904",
        "vidB,0905",
    ]
    cfg.AVA.GT_BOXES, cfg.AVA.TEST_PROPOSAL_SCORE_THRESH = False, 0.99
    with pytest.raises(ValueError, match="none of 2 keyframes has a box for testing"):
        records_for_cfg(name, cfg, False)
    (ann / "ava_val_v2.2.csv").unlink()
    with pytest.raises(InputFileError, match=r"ava_val_v2.2.csv: annotation file not found"):
        DatasetCatalog.get(name)
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


_CSV_CHARS = st.sampled_from(
    list("v0123456789.,-e \n\r\tnaN") + ["inf", "0902", "1e309", "\x00", "é"]
)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=200), st.lists(_CSV_CHARS, max_size=80).map("".join)))
def test_fuzz_parsers_raise_only_format_errors(text):
    for parse in (
        parse_annotations,
        parse_proposals,
        parse_exclusions,
        parse_frame_list,
        parse_label_map,
    ):
        try:
            parse(text)
        except InputFileError:
            pass
    for parse in (parse_annotations, parse_proposals, parse_exclusions):
        parse(text, lenient=True)  # lenient mode never raises on rows


@settings(max_examples=150, deadline=None)
@given(text=st.lists(_CSV_CHARS, max_size=80).map("".join))
def test_fast_and_reference_splitting_agree(text):
    from ava_detector.ava.data.csv_formats import (
        _split_rows,
        _split_rows_python,
    )

    fast, ref = _split_rows(text), _split_rows_python(text)
    assert fast[1].tolist() == ref[1].tolist() and fast[2].tolist() == ref[2].tolist()
    for i in range(fast[0].shape[1] if len(fast[1]) else 0):
        a = fast[0][i].fillna("").tolist()
        b = ref[0][i].tolist() if i in ref[0].columns else [""] * len(a)
        assert a == b


def test_builtin_roots(monkeypatch, tmp_path):
    from ava_detector.ava.data.builtin import (
        resolve_ava_root,
        resolve_synthetic_root,
    )

    monkeypatch.delenv("AVA_DATASETS", raising=False)
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    monkeypatch.delenv("AVA_SYNTHETIC_DATASETS", raising=False)
    assert str(resolve_ava_root()) == "datasets/ava"
    assert str(resolve_synthetic_root()) == "datasets/ava_synthetic"
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    assert resolve_ava_root() == tmp_path / "ava"
    monkeypatch.setenv("AVA_DATASETS", "/x/ava")
    assert str(resolve_ava_root()) == "/x/ava" and str(resolve_ava_root("/cfg")) == "/cfg"
    assert {
        "ava_v2.2_train",
        "ava_v2.2_val",
        "ava_v2.1_train",
        "ava_v2.1_val",
        "ava_synthetic_train",
        "ava_synthetic_val",
    } <= set(DatasetCatalog.list())


def test_readers_refuse_what_they_cannot_represent(tmp_path):
    """Huge numbers, scores beyond float32, non-UTF-8 bytes, a BOM, a folder, and one very wide line."""
    big = "vidA,99999999999999999999,0.1,0.2,0.3,0.4,12,1\n"
    with pytest.raises(InputFileError, match=r"^<annotations>:1: timestamp out of range"):
        parse_annotations(big)
    with pytest.raises(InputFileError, match=r"^<annotations>:1: person_id out of range"):
        parse_annotations("vidA,0902,0.1,0.2,0.3,0.4,12,9223372036854775808\n")
    with pytest.raises(InputFileError, match=r"^<proposals>:1: score out of range"):
        parse_proposals("vidA,0902,0.1,0.2,0.3,0.4,,1e39\n")
    f = tmp_path / "gt.csv"
    f.write_bytes(b"vidA,0902,0.1,0.2,0.3,0.4,12,1\nvid\xff,0903,0.1,0.2,0.3,0.4,12,1\n")
    with pytest.raises(
        InputFileError, match=r"gt.csv:2: annotations is not UTF-8 text \(byte 34\)"
    ):
        read_annotations(f)
    f.write_bytes(b"\xef\xbb\xbfvidA,0902,0.1,0.2,0.3,0.4,12,1\n")
    assert read_annotations(f).table["video_id"].tolist() == ["vidA"]
    with pytest.raises(InputFileError, match="cannot read annotations"):
        read_annotations(tmp_path)
    wide = "vidA,0902,0.1,0.2,0.3,0.4,12,1\n" + "vidA," * 200_000 + "x\n"
    with pytest.raises(
        InputFileError,
        match=r"^<annotations>:2: expected 2, 7 or 8 comma-separated "
        r"columns, got 200001",
    ):
        parse_annotations(wide)
    table, skipped = parse_annotations(wide, lenient=True)
    assert len(table) == 1 and skipped == [
        (2, "expected 2, 7 or 8 comma-separated columns, got 200001")
    ]


def test_label_map_ids_out_of_range_name_the_entry():
    for value in ("-69", "0", "99999999999999999999"):
        text = f'label {{\n  name: "a"\n  label_id: {value}\n  label_type: PERSON_MOVEMENT\n}}\n'
        with pytest.raises(
            InputFileError, match=rf"^m.pbtxt:\d: label_id must lie in 1\.\.100000, got {value}"
        ):
            parse_label_map(text, "m.pbtxt")
