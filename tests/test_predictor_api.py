"""VideoActionPredictor: on a synthetic video its results equal the demo's CSV; predict_clip equals
the keyframe's result; frames in memory equal the file; weights are loaded safely."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from conftest import load_tool

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.checkpoint.safe_load import UnsafeCheckpointError
from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.data.video.yuv_frames import frame_to_rgb
from ava_detector.demo.api import VideoActionPredictor
from tests.test_tracking_video import tiny_model

REPO = Path(__file__).resolve().parents[1]
VID = "syn_val_000"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    generate_synthetic_ava(
        root / "syn", train_videos=0, val_videos=1, spec=SceneSpec(duration=4), progress=False
    )
    tiny_model(root)
    return root


@pytest.fixture(scope="module")
def predictor(env):
    return VideoActionPredictor(env / "tiny.yaml", env / "model.pth")


def _demo_csv(env: Path) -> pd.DataFrame:
    tool = load_tool("demo")
    out = env / "demo" / "o.mp4"
    assert (
        tool.main(
            [
                "--config",
                str(env / "tiny.yaml"),
                "--weights",
                str(env / "model.pth"),
                "--input",
                str(env / f"syn/videos/{VID}.mp4"),
                "--output",
                str(out),
                "--boxes",
                str(env / "syn/annotations/ava_val_v2.2.csv"),
                "--start-sec",
                "100",
                "--no-progress",
            ]
        )
        == 0
    )
    return pd.read_csv(
        out.with_suffix(".csv"),
        header=None,
        dtype={1: str},
        names=["vid", "sec", "x1", "y1", "x2", "y2", "action", "score", "person_id"],
    )


def test_api_on_a_video_equals_the_demo_csv(env, predictor):
    results = list(
        predictor(
            env / f"syn/videos/{VID}.mp4",
            boxes=env / "syn/annotations/ava_val_v2.2.csv",
            start_sec=100,
        )
    )
    assert [r.timestamp for r in results] == [100.0, 101.0, 102.0, 103.0]
    rows = [
        (VID, f"{int(r.timestamp):04d}", *box, a + 1, s[a], tid)
        for r in results
        for box, s, tid in zip(r.boxes, r.action_scores, r.track_ids)
        for a in range(len(s))
    ]
    ours = pd.DataFrame(
        rows, columns=["vid", "sec", "x1", "y1", "x2", "y2", "action", "score", "person_id"]
    )
    tracks = predictor.tracks(results)
    assert sorted(t.track_id for t in tracks) == sorted(
        {int(i) for r in results for i in r.track_ids}
    )
    assert all(t.timestamps == [101.0] for t in tracks)  # the file annotates 0101 only
    demo = _demo_csv(env)
    assert len(ours) == len(demo) == 2 * 80
    assert (
        ours[["vid", "sec", "action", "person_id"]].to_numpy()
        == demo[["vid", "sec", "action", "person_id"]].to_numpy()
    ).all()
    np.testing.assert_allclose(
        ours[["x1", "y1", "x2", "y2", "score"]].to_numpy(np.float64),
        demo[["x1", "y1", "x2", "y2", "score"]].to_numpy(),
        atol=1e-6,
    )


def _decoded(env: Path) -> list[np.ndarray]:
    with av.open(str(env / f"syn/videos/{VID}.mp4")) as c:
        return [frame_to_rgb(f) for f in c.decode(video=0)]


def test_frames_in_memory_and_predict_clip_equal_the_video(env, predictor):
    frames = _decoded(env)
    boxes = {101.0: np.array([[0.1, 0.2, 0.4, 0.9]], np.float32)}
    from_file = [
        r
        for r in predictor(env / f"syn/videos/{VID}.mp4", boxes=boxes, start_sec=100)
        if len(r.boxes)
    ]
    from_array = [
        r for r in predictor(np.stack(frames), boxes=boxes, fps=30, start_sec=100) if len(r.boxes)
    ]
    assert len(from_file) == len(from_array) == 1
    np.testing.assert_array_equal(from_file[0].action_scores, from_array[0].action_scores)
    # keyframe 1.0 s = frame 30: a clip of frames 0..60 centred on it gives the same scores
    clip = predictor.predict_clip(np.stack(frames[:61]), boxes[101.0], fps=30)
    np.testing.assert_allclose(clip["scores"], from_file[0].action_scores, atol=1e-6)
    np.testing.assert_allclose(clip["boxes"], [[16, 24, 64, 108]], atol=1e-3)
    # no boxes: no rows, and as many score columns as with boxes
    empty = predictor.predict_clip(np.stack(frames[:61]), np.zeros((0, 4)), fps=30)
    assert empty["boxes"].shape == (0, 4)
    assert empty["scores"].shape == (0, clip["scores"].shape[1])


def test_api_needs_boxes_and_refuses_unsafe_weights(env, predictor, tmp_path):
    with pytest.raises(ValueError, match="no boxes given"):
        next(iter(predictor(env / f"syn/videos/{VID}.mp4")))
    with pytest.raises(ValueError, match="clip must be"):
        predictor.predict_clip(np.zeros((4, 8, 8), np.uint8), np.zeros((1, 4)))

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled code ran",))

    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(UnsafeCheckpointError, match="bad.pkl"):
        VideoActionPredictor(env / "tiny.yaml", bad)


def test_readme_example_runs(env, capsys):
    """The README's Python API example, with its paths pointed at this test's files."""
    text = (REPO / "README.md").read_text()
    code = text.split("**Python API**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    for old, new in [
        ("configs/synthetic/tiny_slowfast.yaml", env / "tiny.yaml"),
        ("output/demo/tiny_slowfast/model_final.pth", env / "model.pth"),
        ("datasets/ava_synthetic/", f"{env / 'syn'}/"),
    ]:
        assert old in code
        code = code.replace(old, str(new))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert [r.timestamp for r in scope["results"]] == [100.0, 101.0, 102.0, 103.0]
    assert scope["out"]["scores"].shape == (1, 80) and len(scope["tracks"]) == 2
    assert "101.0 [0 1]" in capsys.readouterr().out


def test_api_takes_a_config_node(env):
    """A CfgNode asking for CUDA runs on the CPU here, with the same results as from the file."""
    import torch

    from ava_detector.demo.predictor import build_cfg

    if torch.cuda.is_available():
        pytest.skip("checks the CPU fallback of a machine without CUDA")
    cfg = build_cfg(str(env / "tiny.yaml")).clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cuda"
    cfg.MODEL.WEIGHTS = str(env / "model.pth")
    boxes = np.array([[0.1, 0.2, 0.4, 0.9]], np.float32)
    clip = np.stack(_decoded(env)[:61])
    a = VideoActionPredictor(cfg).predict_clip(clip, boxes, fps=30)
    b = VideoActionPredictor(env / "tiny.yaml", env / "model.pth").predict_clip(clip, boxes, fps=30)
    np.testing.assert_array_equal(a["scores"], b["scores"])
