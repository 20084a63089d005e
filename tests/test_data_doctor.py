"""The data doctor on the synthetic set: healthy -> exit 0; a deleted frame or a corrupt row -> exit 1
naming the file; proposal quality by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import load_script

from ava_detector.ava.data.csv_formats import (
    parse_annotations,
    parse_proposals,
)
from ava_detector.ava.data.doctor import proposal_quality
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.synthetic_scene import SceneSpec


@pytest.fixture(scope="module")
def check_ava(repo_root):
    return load_script("data_prep/check_ava.py").main


@pytest.fixture()
def root(tmp_path):
    out = tmp_path / "syn"
    generate_synthetic_ava(
        out,
        train_videos=1,
        val_videos=2,
        spec=SceneSpec(duration=4, width=96, height=80),
        progress=False,
    )
    return out


def test_healthy_then_broken(root, check_ava, capsys):
    assert check_ava(["--root", str(root), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "recall@IoU0.5 (score >= 0.8) 100.0%, AP@0.5 100.0" in out and "all checks passed" in out

    frame = root / "frames" / "syn_val_001" / "syn_val_001_000031.jpg"  # keyframe of second 101
    frame.unlink()
    assert check_ava(["--root", str(root), "--split", "val"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and str(frame) in out

    ann = root / "annotations" / "ava_val_v2.2.csv"
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].replace(",", ";", 2)
    ann.write_text("\n".join(lines) + "\n")
    assert check_ava(["--root", str(root), "--split", "val"]) == 1
    out = capsys.readouterr().out
    assert f"{ann}:3: expected 2, 7 or 8 comma-separated columns, got 6" in out


def test_videos_checked_for_fps_and_duration(root, check_ava, capsys):
    for p in (root / "frame_lists").iterdir():
        p.unlink()
    assert check_ava(["--root", str(root), "--split", "train", "--fps", "25"]) == 1
    assert "30 fps, the dataset's timeline is 25 fps" in capsys.readouterr().out


def test_proposal_quality_by_hand():
    gt = parse_annotations(
        "v,1,0.1,0.1,0.3,0.5,12\nv,1,0.1,0.1,0.3,0.5,17\nv,1,0.6,0.1,0.8,0.5,14\n"
    ).table
    props = parse_proposals(
        "v,1,0.1,0.1,0.3,0.5,,0.9\nv,1,0.4,0.6,0.5,0.9,,0.95\nv,1,0.6,0.1,0.8,0.52,,0.5\n"
        "w,1,0.6,0.1,0.8,0.52,,0.99\n"  # a keyframe without GT: ignored
    ).table
    recall, ap50 = proposal_quality(gt, props, score_thresh=0.8)
    # Two GT boxes (rows 1-2 merge); at score >= 0.8 only the first is found.
    assert recall == pytest.approx(0.5)
    # Ranked: FP 0.95, TP 0.9, TP 0.5 -> precision 0, 1/2, 2/3; COCO's envelope gives 2/3 everywhere.
    assert ap50 == pytest.approx(2 / 3, abs=1e-6)
    empty = pd.DataFrame(columns=props.columns)
    assert proposal_quality(gt, empty) == (0.0, 0.0)


def test_both_splits_by_default(root, check_ava, capsys):
    assert check_ava(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "== train ==" in out and "== val ==" in out and "all checks passed" in out
    (root / "annotations" / "ava_train_v2.2.csv").unlink()
    assert check_ava(["--root", str(root)]) == 1
    captured = capsys.readouterr()
    assert f"missing {root / 'annotations' / 'ava_train_v2.2.csv'}" in captured.out
    assert "train: ground truth CSV" in captured.err and "val:" not in captured.err


def test_every_problem_reported_without_a_traceback(root, check_ava, capsys):
    """A broken dataset.json, a malformed frame-list line and a keyframe before start_sec: each is
    a failed check with its file (and line), and the other checks still run."""
    (root / "dataset.json").write_text("{not json")
    with open(root / "frame_lists" / "val.csv", "a") as f:
        f.write("a broken line\n")
    ann = root / "annotations" / "ava_train_v2.2.csv"
    ann.write_text(ann.read_text() + "syn_train_000,0050,0.1,0.1,0.3,0.5,12,0\n")
    assert check_ava(["--root", str(root), "--start-sec", "100"]) == 1
    out = capsys.readouterr().out
    assert f"{root / 'dataset.json'}:1: invalid JSON" in out
    assert f"frame list unreadable: {root / 'frame_lists' / 'val.csv'}:" in out
    assert f"{ann}: syn_train_000 second 50 is before start_sec 100" in out
    assert out.count("proposals vs GT person boxes") == 2  # both splits went to the end


def test_frame_paths_outside_the_frames_folder(root, check_ava, capsys):
    lists = root / "frame_lists" / "val.csv"
    text = lists.read_text()
    lists.write_text(
        text.replace(
            " syn_val_000/syn_val_000_000031.jpg", " ../frames/syn_val_000/syn_val_000_000031.jpg"
        )
    )
    assert check_ava(["--root", str(root), "--split", "val"]) == 1
    out = capsys.readouterr().out
    assert "1 outside the frames folder" in out
    assert "'../frames/syn_val_000/syn_val_000_000031.jpg' points outside" in out
    assert check_ava(["--root", str(root), "--split", "val", "--allow-paths-outside-root"]) == 0


def test_truncated_frames_and_a_garbled_video_are_found(root, check_ava, capsys):
    """A JPEG cut at 90% decodes (grey fill) but has no end marker: found on any frame, not only
    keyframes; a video garbled in its middle is found by decoding across its length."""
    frames = root / "frames" / "syn_val_000"
    not_key = frames / "syn_val_000_000017.jpg"
    data = not_key.read_bytes()
    not_key.write_bytes(data[: int(len(data) * 0.9)])
    for p in (root / "videos").iterdir():
        if p.stem == "syn_val_001":
            video = p
    raw = bytearray(video.read_bytes())
    raw[len(raw) * 4 // 10 : len(raw) * 7 // 10] = bytes(len(raw) * 7 // 10 - len(raw) * 4 // 10)
    video.write_bytes(bytes(raw))  # zeros over 30% of the file: some key frame is hit
    assert check_ava(["--root", str(root), "--split", "val"]) == 1
    out = capsys.readouterr().out
    assert f"{not_key}: truncated JPEG (no end-of-image marker FF D9 at the end)" in out
    assert "1 unreadable or truncated" in out
    assert f"{video}: cannot decode after" in out


def test_sparse_key_frames_are_a_warning_that_names_the_fix(root, check_ava, capsys):
    """Key frames 2 s apart: a warning (exit 0) naming the video and the transcoding tool; after
    the training encoding, one a second."""
    import av

    from ava_detector.data.video.transcode import ClipEncoding, transcode
    from ava_detector.utils.video_writer import write_mp4

    video = next((root / "videos").glob("syn_train_*.mp4"))
    with av.open(str(video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    write_mp4(video, frames, 30, gop=60, crf=18)
    assert check_ava(["--root", str(root), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "video key frames (INPUT.SOURCE video training)  warn" in out
    assert f"{video}: key frames every 2.00 s" in out and "transcode_videos.py" in out
    transcode(video, video.with_name("x.mp4"), ClipEncoding())
    video.with_name("x.mp4").replace(video)
    assert check_ava(["--root", str(root), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "every 1.00 s (median of 1 videos)" in out and "warn" not in out
