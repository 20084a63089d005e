"""Live input through a pipe: an mpegts/x264 stream written by PyAV into an os.pipe from a thread,
three minutes of video, a model that falls behind. Keyframes are dropped instead of queued, memory
stays bounded, and the results lag the stream by a bounded amount (counts and stream seconds, not
wall-clock speed)."""

from __future__ import annotations

import os
import threading
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from conftest import load_tool
from detectron2.structures import Boxes, Instances

from ava_detector.demo.live import (
    DropOldestQueue,
    is_live_input,
    live_frames,
    open_live,
    run_live,
)
from ava_detector.demo.tracking import PersonTracker

FPS, SECONDS, W, H = 15, 180, 96, 64
LAG = 10.0  # stream seconds the fake model waits behind the newest decoded frame


def _write_stream(fd: int, seconds: int = SECONDS) -> None:
    """``seconds`` of a moving bright square as mpegts/x264 into ``fd`` (then closed)."""
    with os.fdopen(fd, "wb") as pipe, av.open(pipe, "w", format="mpegts") as out:
        s = out.add_stream("libx264", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS)}
        for i in range(FPS * seconds):
            rgb = np.full((H, W, 3), 60, np.uint8)
            x = (i // 3) % (W - 16)
            rgb[20:50, x : x + 16] = 230
            out.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(s.encode())


class SlowModel:
    """The action model's interface; each call waits until the stream is LAG seconds further
    (or has ended), so it always falls behind the decoder whatever the machine's speed."""

    extent = (8 / 30, 6 / 30)

    def __init__(self, newest: dict, ended: threading.Event):
        self.newest, self.ended, self.calls = newest, ended, 0

    def __call__(self, buffer, time, boxes):
        while self.newest["t"] < time + LAG and not self.ended.wait(0.002):
            pass
        self.calls += 1
        clip = buffer.read_times([time - 0.2, time, time + 0.2])
        assert clip.shape == (3, H, W, 3)
        inst = Instances((H, W))
        inst.pred_boxes = Boxes(torch.as_tensor(boxes * [W, H, W, H]))
        inst.scores = torch.full((len(boxes), 80), float(clip.mean()) / 255)
        return inst


def test_pipe_stream_drops_keyframes_and_stays_bounded():
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=_write_stream, args=(write_fd,), daemon=True)
    writer.start()
    newest, ended = {"t": -1.0}, threading.Event()
    container, stream = open_live(os.fdopen(read_fd, "rb"))

    def frames():
        for t, rgb in live_frames(container, stream):
            newest["t"] = t
            yield t, rgb
        ended.set()

    results = []
    model = SlowModel(newest, ended)
    tracker = PersonTracker(rate=1.0)  # imports its library before memory is traced
    tracemalloc.start()
    try:
        stats = run_live(
            frames(),
            model,
            lambda ts, rgb: (np.array([[0.2, 0.3, 0.4, 0.8]]), np.ones(1)),
            results.append,
            rate=FPS,
            every="1",
            tracker=tracker,
            frame_queue=16,
            job_queue=2,
            report_every=0,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        container.close()
        writer.join(30)
    print(stats.line(), f"peak traced memory {peak / 2**20:.1f} MiB", stats.queue_peaks)
    total = FPS * SECONDS
    assert stats.frames_decoded == total
    assert stats.keyframes_scheduled == SECONDS
    # each result waits LAG s of stream: with 2 + 2 keyframes queued at most, most are dropped
    assert stats.keyframes_dropped > SECONDS // 2
    assert stats.keyframes_done + stats.keyframes_dropped == SECONDS
    assert len(results) == stats.keyframes_done == model.calls
    times = [r.time for r in results]
    assert times == sorted(times) and len(set(times)) == len(times)
    # the newest keyframes win: the gap between processed ones stays near LAG, never a backlog
    assert max(np.diff(times)) <= LAG + 2 * 2 + 1
    assert stats.max_stream_lag <= LAG + (2 * 2 + 2) * 1.0 + 1.0
    assert {int(r.track_ids[0]) for r in results} == {0}  # one person, one id throughout
    # memory: the whole stream is 2700 x 18 KB = 50 MB of frames; the pipeline holds a few clips
    assert peak < 12 * 2**20, peak
    assert stats.queue_peaks["frames"] <= 16 and stats.queue_peaks["tracked"] <= 2


def test_drop_oldest_queue_counts_and_order():
    dropped = []
    q = DropOldestQueue(2, dropped.append)
    for i in range(5):
        q.put(i)
    q.close()
    assert list(q) == [3, 4] and dropped == [0, 1, 2] and q.peak == 2
    with pytest.raises(ValueError):
        DropOldestQueue(0)


def test_live_input_kinds(tmp_path):
    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    (tmp_path / "file.mp4").write_bytes(b"")
    assert all(
        is_live_input(s)
        for s in ("-", "0", "/dev/video2", "rtsp://cam/stream", "http://host/live.ts", str(fifo))
    )
    assert not any(
        is_live_input(s) for s in (str(tmp_path / "file.mp4"), str(tmp_path / "none.mp4"))
    )


def test_demo_cli_reads_a_fifo(tmp_path):
    """tools/demo.py --input FIFO: 6 s written into a FIFO by a thread, the tiny model, CSV boxes;
    one JSON per keyframe that got through, track ids in the CSV part."""
    import json

    import pandas as pd

    from tests.test_tracking_video import tiny_model

    config, weights = tiny_model(tmp_path)
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    (tmp_path / "boxes.csv").write_text(
        "".join(f"live,{s:04d},0.2,0.3,0.4,0.8,12,0\n" for s in range(6))
    )
    writer = threading.Thread(
        target=lambda: _write_stream(os.open(fifo, os.O_WRONLY), 6), daemon=True
    )
    writer.start()
    tool = load_tool("demo")
    rc = tool.main(
        [
            "--config",
            str(config),
            "--weights",
            str(weights),
            "--input",
            str(fifo),
            "--output",
            str(tmp_path / "live.mp4"),
            "--boxes",
            str(tmp_path / "boxes.csv"),
            "--video-id",
            "live",
            "--no-progress",
        ]
    )
    writer.join(30)
    assert rc == 0
    jsons = sorted((tmp_path / "live_keyframes").iterdir())
    assert jsons and all(json.loads(p.read_text())["persons"][0]["track_id"] == 0 for p in jsons)
    det = pd.read_csv(tmp_path / "live_00001.csv", header=None)
    assert det.shape[1] == 9 and set(det[8]) == {0} and len(det) == 80 * len(jsons)
    tracks = json.loads((tmp_path / "tracks_00001.json").read_text())["tracks"]
    assert [t["track_id"] for t in tracks] == [0] and len(tracks[0]["keyframes"]) == len(jsons)
