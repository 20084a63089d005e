"""JPEG reading: truncated files are reported naming the file (and skipped by the mapper when asked),
the header's size, reduced-size (DCT-scaled) decoding and its choice of factor, frame lists that
are sequences rather than lists."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.jpeg_source import (
    JpegFrameSource,
    jpeg_is_truncated,
    jpeg_size,
    read_rgb,
    reduction_for,
)
from ava_detector.data.video.synthetic import (
    numbered_frame,
    read_frame_number,
    write_jpeg_frames,
)


@pytest.fixture()
def frames(tmp_path):
    return write_jpeg_frames(tmp_path / "v", "v", [numbered_frame(i, 96, 128) for i in range(8)])


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_jpeg_raises_naming_the_file(frames, fraction):
    data = open(frames[3], "rb").read()
    assert data.endswith(b"\xff\xd9") and not jpeg_is_truncated(data)
    with open(frames[3], "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    assert cv2.imread(frames[3]) is not None  # libjpeg alone would decode it (grey lower part)
    with pytest.raises(InputFileError, match="truncated JPEG") as err:
        read_rgb(frames[3])
    assert err.value.path == frames[3]
    with pytest.raises(InputFileError, match="truncated JPEG"):
        JpegFrameSource(frames, 30).read_indices([2, 3, 4])


def test_padding_after_the_end_marker_is_accepted(frames):
    data = open(frames[1], "rb").read()
    with open(frames[1], "wb") as f:
        f.write(data + b"\x00" * 37 + b"\n")
    assert read_frame_number(read_rgb(frames[1])) == 1
    assert not jpeg_is_truncated(b"not a jpeg at all")  # other formats are left to the decoder


def test_mapper_skips_a_truncated_frame_and_counts_it(frames):
    data = open(frames[4], "rb").read()
    with open(frames[4], "wb") as f:
        f.write(data[: len(data) // 2])
    record = {
        "video_id": "v",
        "sec": 0,
        "fps": 30.0,
        "keyframe_index": 4,
        "frames": frames,
        "boxes": [[0.1, 0.1, 0.5, 0.5]],
        "labels": [[1.0, 0.0]],
        "image_id": "v,0",
    }
    mapper = AVADatasetMapper(
        True, augmentations=[], arch="fast", num_frames=4, sampling_rate=1, skip_bad_samples=True
    )
    assert mapper(record) is None and mapper.num_skipped == 1
    with pytest.raises(InputFileError, match="truncated JPEG"):
        AVADatasetMapper(True, augmentations=[], arch="fast", num_frames=4, sampling_rate=1)(record)


def test_jpeg_header_size_and_reduction_factor(tmp_path):
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), np.zeros((720, 1280, 3), np.uint8))
    assert jpeg_size(path.read_bytes()) == (720, 1280)
    assert jpeg_size(b"\xff\xd8\xff\xda\x00\x02") is None
    assert reduction_for(720, 1280, 320) == 2  # 360 >= 320; a quarter (180) would be too small
    assert reduction_for(720, 1280, 360) == 2 and reduction_for(720, 1280, 361) == 1
    assert reduction_for(2160, 3840, 256) == 8 and reduction_for(1080, 1920, 256) == 4
    assert reduction_for(360, 640, 256) == 1 and reduction_for(720, 1280, None) == 1


def test_reduced_decode_halves_large_frames_and_keeps_their_content(tmp_path):
    frames = [numbered_frame(i, 192, 256) for i in range(3)]
    paths = write_jpeg_frames(tmp_path / "v", "v", frames)
    full = JpegFrameSource(paths, 30).read_indices([0, 1, 2, 2])
    half = JpegFrameSource(paths, 30, min_short_side=96).read_indices([0, 1, 2, 2])
    assert full.shape == (4, 192, 256, 3) and half.shape == (4, 96, 128, 3)
    assert [read_frame_number(f) for f in half] == [0, 1, 2, 2]
    downscaled = np.stack([cv2.resize(f, (128, 96), interpolation=cv2.INTER_AREA) for f in full])
    assert np.abs(half.astype(int) - downscaled.astype(int)).mean() < 3.0
    # a short side below 2x the minimum is decoded at full size
    assert JpegFrameSource(paths, 30, min_short_side=97).read_indices([0]).shape == (1, 192, 256, 3)


class _Paths:
    """A sequence-like frame reference (len + getitem), not a list."""

    def __init__(self, paths):
        self._paths = paths

    def __len__(self):
        return len(self._paths)

    def __getitem__(self, i):
        return self._paths[i]


def test_frames_may_be_any_sequence_and_repeats_are_decoded_once(frames, monkeypatch):
    import ava_detector.data.video.jpeg_source as js

    calls = []
    real = js.read_file_bytes
    monkeypatch.setattr(js, "read_file_bytes", lambda p: calls.append(p) or real(p))
    clip = JpegFrameSource(_Paths(frames), 30).read_clip(
        0.0, 4, 2, 30
    )  # indices -4,-2,0,2 -> 0,0,0,2
    assert [read_frame_number(f) for f in clip] == [0, 0, 0, 2]
    assert calls == [frames[0], frames[2]]
    assert clip.flags.c_contiguous and clip.dtype == np.uint8


def test_reduced_decode_option_from_config(frames):
    from ava_detector.config.defaults import get_ava_cfg
    from ava_detector.data.video.frame_source import (
        build_frame_source,
        frame_source_options,
    )

    cfg = get_ava_cfg()
    assert frame_source_options(cfg, "frames") == {}
    cfg.INPUT.JPEG_REDUCED_DECODE = True
    assert frame_source_options(cfg, "frames") == {"min_short_side": 320}  # train jitter max
    assert frame_source_options(cfg, "video") == {}
    record = {"frames": frames, "fps": 30.0}
    assert (
        build_frame_source("frames", record, **frame_source_options(cfg, "frames")).min_short_side
        == 320
    )


def test_mapper_with_reduced_decode_gives_the_same_clip_size_and_boxes(tmp_path):
    from ava_detector.config.defaults import get_ava_cfg

    paths = write_jpeg_frames(tmp_path / "v", "v", [numbered_frame(i, 192, 256) for i in range(12)])
    record = {
        "video_id": "v",
        "sec": 0,
        "fps": 30.0,
        "keyframe_index": 6,
        "frames": paths,
        "boxes": [[0.1, 0.2, 0.5, 0.9]],
        "image_id": "v,0",
    }
    outs = []
    for reduced in (False, True):
        cfg = get_ava_cfg()
        cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE, cfg.MODEL.SLOWFAST.ARCH = 4, 1, "fast"
        cfg.INPUT.TEST_SHORT_SIDE, cfg.INPUT.TRAIN_JITTER_SCALES = 64, [64, 80]
        cfg.INPUT.JPEG_REDUCED_DECODE = reduced  # decodes at 96x128 (short side >= 80)
        outs.append(AVADatasetMapper(cfg, is_train=False)(dict(record)))
    full, half = (o["clips"]["fast"] for o in outs)
    assert full.shape == half.shape == (3, 4, 64, 85)
    assert (outs[0]["height"], outs[1]["height"]) == (192, 96)  # the decoded frames' size
    assert torch.equal(
        outs[0]["instances"].proposal_boxes.tensor, outs[1]["instances"].proposal_boxes.tensor
    )
    assert [read_frame_number(f) for f in half.permute(1, 2, 3, 0).numpy()] == [4, 5, 6, 7]
    assert (full.float() - half.float()).abs().mean() < 4.0


def test_both_decoders_give_the_same_clip(tmp_path, monkeypatch):
    import ava_detector.data.video.jpeg_source as js
    from ava_detector.data.video.synthetic import natural_frames

    if js._simplejpeg is None:
        pytest.skip("simplejpeg is not installed (OpenCV decodes every frame)")
    paths = write_jpeg_frames(tmp_path / "n", "n", natural_frames(3, 90, 160), quality=90)
    fast = JpegFrameSource(paths, 30).read_indices([0, 1, 2, 1])
    monkeypatch.setattr(js, "_simplejpeg", None)
    ref = JpegFrameSource(paths, 30).read_indices([0, 1, 2, 1])
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(ref[1], cv2.cvtColor(cv2.imread(paths[1]), cv2.COLOR_BGR2RGB))
