"""AVADatasetMapper: per-pathway uint8 clips, boxes in input pixels, targets, identifiers; both
sources give the same clip; bad samples raise or are skipped (training, SKIP_BAD_SAMPLES)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_cfg
from detectron2.structures import Boxes, Instances

from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.sampling import (
    clip_indices,
    pathway_indices,
)
from ava_detector.data.video.synthetic import (
    numbered_frame,
    read_frame_number,
    write_jpeg_frames,
)
from ava_detector.utils.video_writer import write_mp4

NUM = (
    120  # 4 s at 30 fps, frames 96x128; keyframe second 902 of a cut starting at 900 s -> frame 60
)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("mapper")
    frames = [numbered_frame(i, 96, 128) for i in range(NUM)]
    paths = write_jpeg_frames(root / "frames" / "vid", "vid", frames)
    video = write_mp4(root / "vid.mp4", frames, 30, crf=10, gop=15)
    return paths, video


def _record(paths, video, sec=902):
    return {
        "video_id": "vid",
        "sec": sec,
        "image_id": f"vid,{sec:04d}",
        "fps": 30.0,
        "start_sec": 900.0,
        "keyframe_index": (sec - 900) * 30,
        "source": "frames",
        "frames": paths,
        "video_path": video,
        "height": 96,
        "width": 128,
        "boxes": np.array([[0.25, 0.5, 0.5, 1.0], [0.0, 0.0, 0.1, 0.1]], dtype=np.float32),
        "labels": np.eye(80, dtype=np.float32)[[11, 79]],
        "scores": np.array([1.0, 0.85], dtype=np.float32),
        "is_gt": np.array([True, False]),
    }


def _cfg(**input_overrides):
    return make_cfg(**{f"INPUT__{k}": v for k, v in input_overrides.items()})


def _numbers(clip: torch.Tensor) -> list[int]:
    return [read_frame_number(clip[:, t].permute(1, 2, 0).numpy()) for t in range(clip.shape[1])]


@pytest.mark.parametrize("source", ["frames", "video"])
def test_test_mode_slowfast_output(media, source):
    out = AVADatasetMapper(_cfg(SOURCE=source), is_train=False)(_record(*media))
    fast, slow = out["clips"]["fast"], out["clips"]["slow"]
    assert set(out["clips"]) == {"slow", "fast"}
    assert fast.dtype == slow.dtype == torch.uint8
    assert fast.shape == (3, 32, 256, 341) and slow.shape == (3, 8, 256, 341)  # short side 256
    fast_numbers = _numbers(fast)
    assert fast_numbers == clip_indices(60, 32, 2, NUM).tolist()  # 28, 30, ..., 90
    assert _numbers(slow) == [fast_numbers[i] for i in pathway_indices(32, 4)]
    assert _numbers(slow) == [28, 36, 44, 54, 62, 72, 80, 90]
    inst = out["instances"]
    assert isinstance(inst, Instances) and inst.image_size == (256, 341)
    assert isinstance(inst.proposal_boxes, Boxes)
    # normalised * (128, 96) -> original pixels, then * 256/96 (width 128 -> 341)
    expected = np.array([[32, 48, 64, 96], [0, 0, 12.8, 9.6]]) * np.array([341 / 128, 256 / 96] * 2)
    np.testing.assert_allclose(inst.proposal_boxes.tensor.numpy(), expected, rtol=1e-5)
    assert inst.proposal_scores.tolist() == pytest.approx([1.0, 0.85])
    assert inst.is_gt.tolist() == [True, False]
    assert not inst.has("gt_actions")
    assert (out["video_id"], out["sec"], out["image_id"]) == ("vid", 902, "vid,0902")
    assert (out["height"], out["width"]) == (96, 128)


def test_sources_give_the_same_clip(media):
    a = AVADatasetMapper(_cfg(SOURCE="frames"), is_train=False)(_record(*media, sec=901))
    b = AVADatasetMapper(_cfg(SOURCE="video"), is_train=False)(_record(*media, sec=901))
    diff = (a["clips"]["fast"].float() - b["clips"]["fast"].float()).abs().mean()
    assert diff < 4.0
    assert (
        _numbers(a["clips"]["fast"])
        == _numbers(b["clips"]["fast"])
        == clip_indices(30, 32, 2, NUM).tolist()
    )


@pytest.mark.parametrize(
    "arch,key,numbers",
    [
        (
            "slow",
            "slow",
            clip_indices(60, 8, 8, NUM).tolist(),
        ),  # 8 frames at stride 2 * 4 = 8: 28..84
        ("fast", "fast", clip_indices(60, 32, 2, NUM).tolist()),
    ],
)
def test_single_pathway_archs(media, arch, key, numbers):
    cfg = _cfg()
    cfg.MODEL.SLOWFAST.ARCH = arch
    out = AVADatasetMapper(cfg, is_train=False)(_record(*media))
    assert list(out["clips"]) == [key]
    assert _numbers(out["clips"][key]) == numbers
    assert numbers[0] == 28


def test_training_output(media):
    np.random.seed(0)
    mapper = AVADatasetMapper(_cfg(COLOR_JITTER=0.4), is_train=True)
    for _ in range(3):
        out = mapper(_record(*media))
        assert out["clips"]["fast"].shape == (3, 32, 224, 224)
        assert out["clips"]["slow"].shape == (3, 8, 224, 224)
        inst = out["instances"]
        assert inst.image_size == (224, 224)
        boxes = inst.proposal_boxes.tensor
        assert len(boxes) == 2 and (boxes >= 0).all() and (boxes <= 224).all()
        assert inst.gt_actions.shape == (2, 80) and inst.gt_actions.dtype == torch.float32
        assert (
            inst.gt_actions[0, 11] == 1
            and inst.gt_actions[1, 79] == 1
            and inst.gt_actions.sum() == 2
        )


def test_training_boxes_follow_scale_crop_flip(media, monkeypatch):
    # short side 320 (draw 1/320), crop at the right edge, flip: computed by hand
    draws = {"uniform": iter([1 / 320]), "randint": iter([0, 202]), "flip": iter([0.0])}
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi: next(draws["uniform"]))
    monkeypatch.setattr(np.random, "randint", lambda n: next(draws["randint"]))
    from detectron2.data.transforms import RandomFlip

    monkeypatch.setattr(RandomFlip, "_rand_range", lambda self: next(draws["flip"]))
    out = AVADatasetMapper(_cfg(), is_train=True)(_record(*media))
    # 96x128 -> 320x426 (long side floor(128 / 96 * 320), PySlowFast's rule; x * 426/128, y * 320/96);
    # crop x0=202 (426 - 224), y0=0; flip in width 224
    b0 = np.array([32, 48, 64, 96]) * np.array([426 / 128, 320 / 96] * 2)  # [106.5, 160, 213, 320]
    x1, x2 = b0[0] - 202, b0[2] - 202  # [-95.5, 11] -> clipped [0, 11]
    expected0 = [224 - min(x2, 224), min(b0[1], 224), 224 - max(x1, 0), min(b0[3], 224)]
    got = out["instances"].proposal_boxes.tensor.numpy()
    np.testing.assert_allclose(got[0], expected0, atol=1e-3)
    np.testing.assert_allclose(got[1], [224, 0, 224, 32], atol=1e-3)  # pushed out: degenerate, kept
    assert out["instances"].gt_actions[1, 79] == 1


def _broken_record(tmp_path, media):
    paths, video = media
    rec = _record(list(paths), video)
    rec["frames"][60] = str(tmp_path / "gone_000061.jpg")
    return rec


def test_bad_sample_raises_naming_the_file(tmp_path, media):
    rec = _broken_record(tmp_path, media)
    with pytest.raises(InputFileError, match="gone_000061.jpg"):
        AVADatasetMapper(_cfg(), is_train=True)(rec)
    cfg = _cfg()
    cfg.DATALOADER.SKIP_BAD_SAMPLES = True
    with pytest.raises(InputFileError):  # never skipped at test time
        AVADatasetMapper(cfg, is_train=False)(rec)


def test_skip_bad_samples_returns_none_and_counts(tmp_path, media):
    cfg = _cfg()
    cfg.DATALOADER.SKIP_BAD_SAMPLES = True
    cfg.DATALOADER.MAX_BAD_SAMPLE_RETRIES = 2
    mapper = AVADatasetMapper(cfg, is_train=True)
    bad, good = _broken_record(tmp_path, media), _record(*media)
    assert mapper(bad) is None and mapper(bad) is None
    assert mapper.num_skipped == 2
    assert mapper(good) is not None  # resets the run of bad samples
    assert mapper(bad) is None and mapper(bad) is None
    with pytest.raises(InputFileError):  # a third in a row: give up
        mapper(bad)
    assert mapper.num_skipped == 5


@pytest.mark.parametrize("source", ["frames", "video"])
def test_a_keyframe_beyond_the_video_is_an_error_or_a_counted_skip(media, source):
    """A 4-s video (120 frames): a keyframe at 3.9 s is padded with the last frame; one at 4 s is
    past the end, whatever the frame timeline or the file says."""
    paths, video = media
    near_end = _record(paths, video, sec=903)
    near_end["keyframe_index"] = 117  # 3.9 s
    near_end["start_sec"] = 899.1  # 903 - 899.1 = 3.9 s on the video's timeline
    out = AVADatasetMapper(_cfg(SOURCE=source), is_train=False)(near_end)
    assert _numbers(out["clips"]["fast"])[-1] == NUM - 1  # the clip runs over the end: padded
    past = _record(paths, video, sec=904)  # frame 120 of 120; 4.0 s of a 4.0-s video
    with pytest.raises(
        InputFileError, match=r"at 4\.000 s lies beyond the end of the video \(4\.000 s\)"
    ):
        AVADatasetMapper(_cfg(SOURCE=source), is_train=False)(past)
    cfg = _cfg(SOURCE=source)
    cfg.DATALOADER.SKIP_BAD_SAMPLES = True
    mapper = AVADatasetMapper(cfg, is_train=True)
    assert mapper(past) is None and mapper.num_skipped == 1
