"""INPUT.DECODE_DEVICE: workers read JPEG bytes and sample the transforms, the model decodes and
transforms on its device. Run on the CPU ("cpu:bytes") the device path gives today's clips: decoding
bit-identical to cv2.imread (both libjpeg-turbo), resize within 1 grey level of cv2.resize
INTER_LINEAR, crop/flip exact, boxes identical. CUDA-only checks skip without a GPU."""

from __future__ import annotations

import logging
import pickle
from multiprocessing.reduction import ForkingPickler

import cv2
import numpy as np
import pytest
import torch
from conftest import make_cfg

from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.errors import InputFileError
from ava_detector.data.transforms.decode_device import (
    check_decode_device,
    decode_clip_bytes,
    decode_device_problems,
    parse_decode_device,
)
from ava_detector.data.transforms.device_clip import (
    Crop,
    HFlip,
    Resize,
)
from ava_detector.data.video.jpeg_bytes import (
    EncodedFrames,
    decode_encoded_frames,
    read_jpeg_bytes,
)
from ava_detector.data.video.jpeg_source import read_rgb
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

# torchvision 0.29 marks its image decoders deprecated (for torchcodec's); they are what we test
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:torchvision.io.image"),
    pytest.mark.usefixtures("one_thread"),
]

NUM = 120  # 4 s at 30 fps; keyframe second 902 of a cut starting at 900 s -> frame 60
CUDA = torch.cuda.is_available()


def _noisy(index: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A numbered frame with noise (so JPEG blocks carry real AC coefficients)."""
    rng = np.random.default_rng(seed + index)
    img = numbered_frame(index, height, width).astype(np.int16) + rng.integers(
        -30, 31, (height, width, 3)
    )
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_device")
    frames = [_noisy(i, 96, 128) for i in range(NUM)]
    paths = write_jpeg_frames(root / "frames" / "vid", "vid", frames)
    video = write_mp4(root / "vid.mp4", frames, 30, crf=10, gop=15)
    return paths, video


def _record(paths, video=None, sec=902):
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


def _cfg(decode_device="cpu", **input_overrides):
    return make_cfg(
        INPUT__DECODE_DEVICE=decode_device, **{f"INPUT__{k}": v for k, v in input_overrides.items()}
    )


def _numbers(clip: torch.Tensor) -> list[int]:
    return [read_frame_number(clip[:, t].permute(1, 2, 0).numpy()) for t in range(clip.shape[1])]


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("sampling", ["420", "422", "444"])
@pytest.mark.parametrize("quality", [60, 95])
def test_cpu_decode_is_bit_identical_to_imread(tmp_path, sampling, quality):
    flag = {
        "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
        "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    }[sampling]
    paths = []
    for i, (h, w) in enumerate([(96, 128), (257, 341)]):  # 257x341: partial MCUs at the edges
        path = tmp_path / f"f{i}.jpg"
        cv2.imwrite(
            str(path),
            cv2.cvtColor(_noisy(i, h, w), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, flag],
        )
        paths.append(str(path))
    for path in paths:
        enc = read_jpeg_bytes([path])
        (frames,) = decode_encoded_frames([enc], "cpu")
        ref = read_rgb(path)
        assert (enc.height, enc.width) == ref.shape[:2]
        assert frames.shape == (1, 3) + ref.shape[:2] and frames.dtype == torch.uint8
        assert np.array_equal(frames[0].permute(1, 2, 0).numpy(), ref)  # 0 grey levels apart


def test_cpu_decode_of_a_grayscale_jpeg_is_rgb_as_imread(tmp_path):
    path = tmp_path / "gray.jpg"
    cv2.imwrite(str(path), _noisy(3, 48, 64)[..., 1])  # one channel
    (frames,) = decode_encoded_frames([read_jpeg_bytes([str(path)])], "cpu")
    ref = read_rgb(str(path))
    assert ref.shape == (48, 64, 3) and np.array_equal(frames[0].permute(1, 2, 0).numpy(), ref)


def test_encoded_frames_layout_and_batched_decode(media):
    paths, _ = media
    enc = read_jpeg_bytes(paths[3:6], [0, 0, 1, 2, 2])
    assert len(enc) == 5 and enc.num_distinct == 3
    sizes = [len(open(p, "rb").read()) for p in paths[3:6]]
    assert enc.offsets.tolist() == [0, sizes[0], sizes[0] + sizes[1], sum(sizes)]
    assert enc.data.numel() == sum(sizes)
    assert bytes(enc.buffers()[1].numpy()) == open(paths[4], "rb").read()
    other = read_jpeg_bytes(paths[10:12])
    a, b = decode_encoded_frames([enc, other], "cpu")  # one decode call for both clips
    assert a.shape == (3, 3, 96, 128) and b.shape == (2, 3, 96, 128)
    assert [read_frame_number(f.permute(1, 2, 0).numpy()) for f in a] == [3, 4, 5]
    assert [read_frame_number(f.permute(1, 2, 0).numpy()) for f in b] == [10, 11]
    slow = enc.select(torch.tensor([1, 4]))
    assert slow.index.tolist() == [0, 2] and slow.data is enc.data


def test_bad_frames_raise_in_the_worker_naming_the_file(tmp_path, media):
    paths, _ = media
    with pytest.raises(InputFileError, match="gone.jpg.*missing"):
        read_jpeg_bytes([paths[0], str(tmp_path / "gone.jpg")])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(InputFileError, match="garbage.jpg"):
        read_jpeg_bytes([str(garbage)])
    png = tmp_path / "frame.jpg"
    cv2.imwrite(str(tmp_path / "frame.png"), numbered_frame(1, 48, 64))
    png.write_bytes((tmp_path / "frame.png").read_bytes())
    with pytest.raises(InputFileError, match="frame.jpg.*JPEG frames only, this is PNG"):
        read_jpeg_bytes([str(png)])
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(open(paths[0], "rb").read()[:-100])
    with pytest.raises(InputFileError, match="cut.jpg.*truncated"):
        read_jpeg_bytes([str(cut)])
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), numbered_frame(1, 48, 64))
    with pytest.raises(InputFileError, match="differ in size"):
        read_jpeg_bytes([paths[0], str(big)])


# ----------------------------------------------------------------------------- mapper + model


@pytest.mark.parametrize(
    "is_train,jitter,seed", [(False, 0.0, 0), (True, 0.0, 0), (True, 0.0, 5), (True, 0.4, 1)]
)
def test_bytes_mapper_gives_the_cpu_clips_and_boxes(media, is_train, jitter, seed):
    rec = _record(*media)
    np.random.seed(seed)
    cpu = AVADatasetMapper(_cfg("cpu", COLOR_JITTER=jitter), is_train=is_train)(rec)
    np.random.seed(seed)
    enc = AVADatasetMapper(_cfg("cpu:bytes", COLOR_JITTER=jitter), is_train=is_train)(rec)
    assert "clips" not in enc and set(enc["clip_bytes"]) == {"slow", "fast"}
    assert enc["clip_bytes"]["slow"].data is enc["clip_bytes"]["fast"].data  # one buffer
    # the same boxes, bit for bit, and the same sizes
    assert torch.equal(
        cpu["instances"].proposal_boxes.tensor, enc["instances"].proposal_boxes.tensor
    )
    assert cpu["instances"].image_size == enc["instances"].image_size
    assert (cpu["height"], cpu["width"]) == (enc["height"], enc["width"]) == (96, 128)
    if is_train:
        assert torch.equal(cpu["instances"].gt_actions, enc["instances"].gt_actions)
    (clips,) = decode_clip_bytes([enc], "cpu")
    for name in ("slow", "fast"):
        a, b = cpu["clips"][name], clips[name]
        assert a.shape == b.shape and b.dtype == torch.uint8
        diff = (a.int() - b.int()).abs()
        # resize: within 1 grey level of cv2; the colour jitter's gains (up to 1.4^3) can widen that
        assert diff.max() <= (1 if jitter == 0 else 3)
    if not is_train:
        assert _numbers(clips["fast"]) == clip_indices(60, 32, 2, NUM).tolist()
        assert _numbers(clips["slow"]) == [
            clip_indices(60, 32, 2, NUM)[i] for i in pathway_indices(32, 4)
        ]


def test_bytes_mapper_hand_computed_training_ops(media, monkeypatch):
    # short side 320 (draw 1/320), crop at the right edge, flip: as test_data_mapper's CPU case
    draws = {"uniform": iter([1 / 320]), "randint": iter([0, 202]), "flip": iter([0.0])}
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi: next(draws["uniform"]))
    monkeypatch.setattr(np.random, "randint", lambda n: next(draws["randint"]))
    from detectron2.data.transforms import RandomFlip

    monkeypatch.setattr(RandomFlip, "_rand_range", lambda self: next(draws["flip"]))
    out = AVADatasetMapper(_cfg("cpu:bytes"), is_train=True)(_record(*media))
    # 96x128 -> 320x426 (floor(128 / 96 * 320)), crop x0 = 426 - 224, flip
    assert out["clip_transforms"] == (Resize(320, 426), Crop(202, 0, 224, 224), HFlip())
    b0 = np.array([32, 48, 64, 96]) * np.array([426 / 128, 320 / 96] * 2)
    x1, x2 = b0[0] - 202, b0[2] - 202
    expected0 = [224 - min(x2, 224), min(b0[1], 224), 224 - max(x1, 0), min(b0[3], 224)]
    got = out["instances"].proposal_boxes.tensor.numpy()
    np.testing.assert_allclose(got[0], expected0, atol=1e-3)
    np.testing.assert_allclose(got[1], [224, 0, 224, 32], atol=1e-3)


def test_encoded_output_crosses_processes_with_one_buffer(media):
    out = AVADatasetMapper(_cfg("cpu:bytes"), is_train=False)(_record(*media))
    back = pickle.loads(ForkingPickler.dumps(out))  # what a DataLoader worker sends
    slow, fast = back["clip_bytes"]["slow"], back["clip_bytes"]["fast"]
    assert isinstance(fast, EncodedFrames) and slow.data is fast.data
    assert torch.equal(fast.data, out["clip_bytes"]["fast"].data)
    (a,), (b,) = decode_clip_bytes([out], "cpu"), decode_clip_bytes([back], "cpu")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bytes_mapper_skips_a_missing_frame_in_the_worker(tmp_path, media):
    paths, video = media
    rec = _record(list(paths), video)
    rec["frames"][60] = str(tmp_path / "gone_000061.jpg")
    with pytest.raises(InputFileError, match="gone_000061.jpg"):
        AVADatasetMapper(_cfg("cpu:bytes"), is_train=True)(rec)
    cfg = _cfg("cpu:bytes")
    cfg.DATALOADER.SKIP_BAD_SAMPLES = True
    mapper = AVADatasetMapper(cfg, is_train=True)
    assert mapper(rec) is None and mapper.num_skipped == 1


def test_video_source_stays_on_the_workers_with_a_warning(media, caplog):
    with caplog.at_level(logging.WARNING, logger="ava_detector.ava.mapper"):
        mapper = AVADatasetMapper(_cfg("cpu:bytes", SOURCE="video"), is_train=False)
    assert "applies to INPUT.SOURCE 'frames' only" in caplog.text
    out = mapper(_record(*media))
    assert "clips" in out and "clip_bytes" not in out


def _tiny_model(decode_device: str):
    from detectron2.modeling import build_model

    cfg = make_cfg("configs/synthetic/tiny_slowfast.yaml", INPUT__DECODE_DEVICE=decode_device)
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def test_model_preprocess_decodes_on_its_device(media, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    cfg, model = _tiny_model("cpu:bytes")
    assert model.decode_device == torch.device("cpu")
    recs = [_record(*media, sec=901), _record(*media, sec=902)]
    cpu_mapper = AVADatasetMapper(_cfg_from(cfg, "cpu"), is_train=False)
    enc_mapper = AVADatasetMapper(_cfg_from(cfg, "cpu:bytes"), is_train=False)
    cpu_batch = [cpu_mapper(r) for r in recs]
    enc_batch = [enc_mapper(r) for r in recs]
    clips_a, props_a = model.preprocess(cpu_batch)
    clips_b, props_b = model.preprocess(enc_batch)
    for name in model.pathways:
        assert clips_a[name].shape == clips_b[name].shape
        # <= 1 grey level before normalisation (std 57.375)
        assert (clips_a[name] - clips_b[name]).abs().max() <= 1 / 57.375 + 1e-6
    for a, b in zip(props_a, props_b):
        assert torch.equal(a.proposal_boxes.tensor, b.proposal_boxes.tensor)
    model.eval()
    with torch.no_grad():
        out = model(enc_batch)
    assert len(out) == 2 and out[0]["instances"].scores.shape == (2, 80)
    assert out[0]["instances"].image_size == (96, 128)


def _cfg_from(cfg, decode_device):
    c = cfg.clone()
    c.INPUT.DECODE_DEVICE = decode_device
    return c


def test_mixed_batch_and_training_loss(media, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    cfg, model = _tiny_model("cpu:bytes")
    np.random.seed(0)
    batch = [
        AVADatasetMapper(_cfg_from(cfg, "cpu:bytes"), is_train=True)(_record(*media)),
        AVADatasetMapper(_cfg_from(cfg, "cpu"), is_train=True)(_record(*media, sec=901)),
    ]
    assert "clip_bytes" in batch[0] and "clips" in batch[1]
    model.train()
    losses = model(batch)
    assert torch.isfinite(losses["loss_action"])


# ----------------------------------------------------------------------------- config


def test_decode_device_values():
    assert parse_decode_device("cpu") is None
    assert parse_decode_device("cpu:bytes") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "tpu", "cpu:0", "", "mps"):
        with pytest.raises(ValueError, match="INPUT.DECODE_DEVICE=.*is not one of 'cpu'"):
            parse_decode_device(bad)
    assert parse_decode_device("cuda:3", check_available=False) == torch.device("cuda", 3)
    check_decode_device(get_ava_cfg())  # the default passes
    assert decode_device_problems(_cfg("cpu:bytes")) == []
    ((level, key, message),) = decode_device_problems(_cfg("tpu"))
    assert (level, key) == ("error", "INPUT.DECODE_DEVICE") and "'tpu' is not one of" in message
    ((level, _, message),) = decode_device_problems(_cfg("cpu:bytes", SOURCE="video"))
    assert level == "warning" and "'frames' only" in message
    ((level, _, message),) = decode_device_problems(_cfg("cpu:bytes", JPEG_REDUCED_DECODE=True))
    assert level == "warning" and "JPEG_REDUCED_DECODE does not apply" in message


@pytest.mark.skipif(CUDA, reason="checks the error raised where CUDA is absent")
def test_cuda_decode_device_without_cuda_is_one_clear_error(media, repo_root, monkeypatch):
    with pytest.raises(ValueError, match="INPUT.DECODE_DEVICE='cuda' but 0 CUDA device"):
        check_decode_device(_cfg("cuda"))
    # the mapper (workers) only reads bytes: it does not need to see the GPU
    mapper = AVADatasetMapper(_cfg("cuda"), is_train=False)
    assert mapper.read_bytes
    # a model fed decoded clips runs anywhere; bytes need the GPU
    monkeypatch.chdir(repo_root)
    cfg, model = _tiny_model("cuda")
    model.eval()
    with torch.no_grad():
        assert (
            len(model([AVADatasetMapper(_cfg_from(cfg, "cpu"), is_train=False)(_record(*media))]))
            == 1
        )
        with pytest.raises(ValueError, match="INPUT.DECODE_DEVICE='cuda' but 0 CUDA device"):
            model([AVADatasetMapper(_cfg_from(cfg, "cuda"), is_train=False)(_record(*media))])


def test_unknown_decode_device_fails_when_building_the_model(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    with pytest.raises(ValueError, match="INPUT.DECODE_DEVICE='gpu'"):
        _tiny_model("gpu")
    with pytest.raises(ValueError, match="INPUT.DECODE_DEVICE='gpu'"):
        AVADatasetMapper(_cfg("gpu"), is_train=False)


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(
    not CUDA, reason="needs a CUDA GPU (nvJPEG decoding and transforms on the device)"
)
def test_cuda_path_close_to_cpu_path(media):
    rec = _record(*media)
    np.random.seed(0)
    enc = AVADatasetMapper(_cfg("cuda"), is_train=True)(rec)
    (cpu,) = decode_clip_bytes([enc], "cpu")
    (gpu,) = decode_clip_bytes([enc], "cuda")
    for name in cpu:
        assert gpu[name].device.type == "cuda" and gpu[name].shape == cpu[name].shape
        # nvJPEG's IDCT / chroma upsampling are not libjpeg-turbo's: a few grey levels on average
        assert (gpu[name].cpu().float() - cpu[name].float()).abs().mean() < 2.0


def test_benchmark_train_runs_with_decode_device(repo_root, monkeypatch, capsys):
    import argparse

    from ava_detector.benchmarks import train as bench

    monkeypatch.chdir(repo_root)
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        [
            "--config",
            "configs/synthetic/tiny_slowfast.yaml",
            "--batch",
            "2",
            "--iters",
            "1",
            "--warmup",
            "0",
            "--amp",
            "off",
            "--device",
            "cpu",
            "--decode-device",
            "cpu:bytes",
            "--frame-size",
            "120",
            "160",
        ]
    )
    assert bench.run(args) == 0
    text = capsys.readouterr().out
    assert "decoded and transformed on cpu:bytes" in text and "decode s/batch" in text
    batch = bench.make_encoded_batch(_cfg_from(get_ava_cfg(), "cpu:bytes"), 2, 3, (120, 160))
    assert len(batch) == 2 and set(batch[0]["clip_bytes"]) == {"slow", "fast"}
    assert len(batch[0]["clip_bytes"]["fast"]) == 32 and batch[0]["instances"].image_size[0] <= 224
