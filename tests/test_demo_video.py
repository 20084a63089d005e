"""tools/demo.py end to end on a tiny synthetic AVA video with a tiny random-weight model.

Checks the things a user sees: boxes drawn where the persons are (pixels of a decoded output frame),
the CSV's keyframes, one JSON per keyframe, bounded buffering, clear errors on bad input, and that
the demo's clips are the test mapper's clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_tool
from detectron2.modeling import build_model

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.data.video.yuv_frames import frame_to_rgb
from ava_detector.demo.drawing import track_colour
from ava_detector.demo.frame_buffer import FrameRingBuffer
from ava_detector.demo.predictor import (
    ActionPredictor,
    build_cfg,
)
from ava_detector.demo.video_demo import open_video

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]
VID = "syn_val_000"
START_SEC = 100


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 4 s synthetic video (160x120, 30 fps), a tiny config and random weights."""
    root = tmp_path_factory.mktemp("demo")
    generate_synthetic_ava(
        root / "syn", train_videos=0, val_videos=1, spec=SceneSpec(duration=4), progress=False
    )
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.TEST_SHORT_SIDE = 120
    (root / "tiny.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, root / "model.pth")
    return root


def _gt_boxes(root: Path) -> pd.DataFrame:
    gt = pd.read_csv(
        root / "syn/annotations/ava_val_v2.2.csv",
        header=None,
        names=["vid", "sec", "x1", "y1", "x2", "y2", "action", "pid"],
    )
    return gt.drop_duplicates(["sec", "pid"])


def _decoded_frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has fewer than {index + 1} frames")


@pytest.fixture(scope="module")
def demo_run(setup):
    out = setup / "out" / "demo.mp4"
    tool = load_tool("demo")
    rc = tool.main(
        [
            "--config",
            str(setup / "tiny.yaml"),
            "--weights",
            str(setup / "model.pth"),
            "--input",
            str(setup / f"syn/videos/{VID}.mp4"),
            "--output",
            str(out),
            "--boxes",
            str(setup / "syn/annotations/ava_val_v2.2.csv"),
            "--start-sec",
            str(START_SEC),
            "--every",
            "1",
            "--no-progress",
            "--snapshot",
            str(setup / "out" / "frame.png"),
        ]
    )
    assert rc == 0
    return out


def _is_colour(rgb: np.ndarray, colour) -> np.ndarray:
    return (np.abs(rgb.astype(int) - np.array(colour)) < 60).all(axis=-1)


def test_boxes_are_drawn_where_the_persons_are_in_their_track_colours(setup, demo_run):
    frame = _decoded_frame(demo_run, 30)  # video time 1.0 s = keyframe 0101
    assert frame.shape == (120, 160, 3)
    payload = json.loads((demo_run.parent / "demo_keyframes" / f"{VID}_0101.json").read_text())
    ids = [p["track_id"] for p in payload["persons"]]
    assert len(ids) >= 2 and len(set(ids)) == len(ids)
    colours = [track_colour(i) for i in ids]
    assert len(set(colours)) == len(colours)  # one colour per person
    boxes = _gt_boxes(setup).query("sec == 101")
    assert len(boxes) == len(ids)
    original = _decoded_frame(setup / f"syn/videos/{VID}.mp4", 30)
    for person, colour in zip(payload["persons"], colours):
        painted = _is_colour(frame, colour)
        x1, y1, x2, y2 = (int(round(v)) for v in np.array(person["box"]) * [160, 120, 160, 120])
        # the left and right edges of the box: its colour along most of their height
        for x in (x1, x2):
            column = painted[y1 + 2 : y2 - 2, max(0, x - 1) : x + 2].any(axis=1)
            assert column.mean() > 0.8, (person, column.mean())
        assert not painted[(y1 + y2) // 2, (x1 + x2) // 2]  # the person itself is not painted over
        # the colour is not elsewhere (labels may sit above, inside or below the box)
        near = np.zeros_like(painted)
        near[
            max(0, y1 - 40) : min(120, y2 + 40), max(0, x1 - 3) : min(160, max(x2, x1 + 70) + 3)
        ] = True
        assert painted[~near].mean() < 0.01
        assert (_is_colour(original, colour) & painted).mean() < 0.01


def test_csv_and_json_have_the_right_keyframes(setup, demo_run):
    det = pd.read_csv(
        demo_run.with_suffix(".csv"),
        header=None,
        dtype={1: str},
        names=["vid", "sec", "x1", "y1", "x2", "y2", "action", "score", "person_id"],
    )
    gt = _gt_boxes(setup)
    # GT keyframes of this video (the generator leaves 0102 unannotated and excluded)
    assert sorted(set(det["sec"])) == [f"{s:04d}" for s in sorted(set(gt["sec"]))] == ["0101"]
    assert set(det["vid"]) == {VID}
    one = det[det["sec"] == "0101"]
    assert len(one) == len(gt.query("sec == 101")) * 80  # every box, every action id
    assert one["score"].between(0, 1).all()
    jsons = sorted(p.name for p in (demo_run.parent / "demo_keyframes").iterdir())
    assert jsons == [f"{VID}_{s:04d}.json" for s in (100, 101, 102, 103)]
    payload = json.loads((demo_run.parent / "demo_keyframes" / f"{VID}_0101.json").read_text())
    assert payload["timestamp"] == "0101" and payload["time"] == 1.0
    assert len(payload["persons"]) == len(gt.query("sec == 101"))
    assert len(payload["persons"][0]["actions"]) == 3
    empty = json.loads((demo_run.parent / "demo_keyframes" / f"{VID}_0100.json").read_text())
    assert empty["persons"] == []
    # the CSV's person id of each box is that person's track id in the JSON
    for person in payload["persons"]:
        rows = one[
            np.isclose(one["x1"], person["box"][0], atol=2e-6)
            & np.isclose(one["y1"], person["box"][1], atol=2e-6)
        ]
        assert len(rows) == 80 and set(rows["person_id"]) == {person["track_id"]}


def test_snapshot_is_the_first_keyframe_with_persons(setup, demo_run):
    import cv2

    snap = cv2.cvtColor(cv2.imread(str(setup / "out" / "frame.png")), cv2.COLOR_BGR2RGB)
    # closest to output frame 30 (video time 1.0 s = keyframe 0101, the first with persons)
    diffs = [
        np.abs(snap.astype(int) - _decoded_frame(demo_run, i)).mean() for i in (0, 28, 29, 30, 31)
    ]
    assert int(np.argmin(diffs)) == 3, diffs


def test_output_has_every_frame(setup, demo_run):
    with av.open(str(demo_run)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == 120


def test_demo_clip_equals_the_test_mapper_clip(setup):
    """The ring buffer + test mapper give exactly the clip the video-source mapper reads."""
    cfg = build_cfg(str(setup / "tiny.yaml"))
    predictor = ActionPredictor(cfg, build_model(cfg))
    container, stream = open_video(setup / f"syn/videos/{VID}.mp4")
    buffer = FrameRingBuffer(VID)
    with container:
        for frame in container.decode(stream):
            buffer.push(float(frame.pts * stream.time_base), frame_to_rgb(frame))
    buffer.finish(4.0)
    boxes = np.array([[0.1, 0.2, 0.4, 0.9]], np.float32)
    ours = predictor.mapper(
        {
            "video_id": VID,
            "sec": 1.0,
            "start_sec": 0.0,
            "image_id": "x",
            "frame_source": buffer,
            "boxes": boxes,
        }
    )
    video_mapper = AVADatasetMapper(
        **{**AVADatasetMapper.from_config(cfg, is_train=False), "source": "video"}
    )
    ref = video_mapper(
        {
            "video_id": VID,
            "sec": 101,
            "start_sec": 100.0,
            "image_id": "x",
            "video_path": str(setup / f"syn/videos/{VID}.mp4"),
            "boxes": boxes,
        }
    )
    for name in ("slow", "fast"):
        assert torch.equal(ours["clips"][name], ref["clips"][name])
    assert torch.equal(
        ours["instances"].proposal_boxes.tensor, ref["instances"].proposal_boxes.tensor
    )


def test_buffer_stays_bounded(setup):
    """Frames are dropped once no clip needs them: the peak is one clip span + look-ahead."""
    from ava_detector.demo.box_providers import no_boxes
    from ava_detector.demo.video_demo import run_video_demo

    cfg = build_cfg(str(setup / "tiny.yaml"))
    predictor = ActionPredictor(cfg, build_model(cfg))
    summary = run_video_demo(
        setup / f"syn/videos/{VID}.mp4",
        setup / "bounded.mp4",
        predictor,
        lambda ts, rgb: no_boxes(),
        action_names={},
        every="15f",
        progress=False,
    )
    assert len(summary.keyframes) == 8  # 0, 0.5, ..., 3.5 s
    before, after = predictor.extent
    assert (before, after) == pytest.approx((8 / 30, 6 / 30))
    # frames in [keyframe - before, newest]: (before + after) * 30 + the frame just past, + 1 held
    assert summary.peak_buffered_frames <= round((before + after) * 30) + 3 < 120


@pytest.mark.parametrize("case", ["missing_input", "garbage_input", "missing_weights", "bad_boxes"])
def test_bad_input_gives_a_clear_error(setup, tmp_path, capsys, case):
    args = {
        "--config": str(setup / "tiny.yaml"),
        "--weights": str(setup / "model.pth"),
        "--input": str(setup / f"syn/videos/{VID}.mp4"),
        "--output": str(tmp_path / "o.mp4"),
        "--boxes": str(setup / "syn/annotations/ava_val_v2.2.csv"),
    }
    expected = {
        "missing_input": "input video not found",
        "garbage_input": "cannot open video",
        "missing_weights": "model weights not found",
        "bad_boxes": ":2:",
    }[case]
    if case == "missing_input":
        args["--input"] = str(tmp_path / "nope.mp4")
    elif case == "garbage_input":
        (tmp_path / "junk.mp4").write_bytes(b"not a video" * 100)
        args["--input"] = str(tmp_path / "junk.mp4")
    elif case == "missing_weights":
        args["--weights"] = str(tmp_path / "nope.pth")
    else:
        (tmp_path / "b.csv").write_text(f"{VID},0101,0.1,0.1,0.5,0.5,12,0\n{VID},0102,0.1,oops\n")
        args["--boxes"] = str(tmp_path / "b.csv")
    rc = load_tool("demo").main([x for kv in args.items() for x in kv] + ["--no-progress"])
    assert rc == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
