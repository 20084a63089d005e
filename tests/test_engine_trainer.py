"""AVATrainer on an in-memory dataset with a tiny real SlowFast: resume, Kinetics init, NaN stop,
optimizer groups, AMP on CPU. The mapper here makes clips from the record (no files)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from ava_detector.ava.trainer import AVATrainer, load_records
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.engine.train_loop import NonFiniteLossError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: the 2-core CI machine is shared (OpenMP spinning thrashes otherwise)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TRAIN = "_engine_test_train"
SIZE = 32


def _records(n: int = 6) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        labels = np.zeros((2, 80), np.float32)
        labels[0, i % 3] = labels[1, 10 + i % 2] = 1.0
        out.append(
            {
                "video_id": "vid",
                "sec": 902 + i,
                "image_id": f"vid,{902 + i:04d}",
                "height": SIZE,
                "width": SIZE,
                "boxes": np.array([[0, 0, 0.5, 0.5], [0.4, 0.4, 1, 1]], np.float32),
                "labels": labels,
                "scores": np.ones(2, np.float32),
                "is_gt": np.ones(2, bool),
                "seed": int(rng.integers(1 << 30)),
            }
        )
    return out


if TRAIN not in DatasetCatalog.list():
    DatasetCatalog.register(TRAIN, _records)


def _clip_mapper(record: dict) -> dict:
    """Clip drawn from the record's seed, plus a random flip from the global numpy RNG (the part
    that a resumed run must redraw identically)."""
    g = torch.Generator().manual_seed(record["seed"])
    fast = torch.randint(0, 256, (3, 8, SIZE, SIZE), generator=g, dtype=torch.uint8)
    boxes = torch.as_tensor(record["boxes"]) * SIZE
    if np.random.rand() < 0.5:
        fast = fast.flip(-1)
        boxes = torch.stack([SIZE - boxes[:, 2], boxes[:, 1], SIZE - boxes[:, 0], boxes[:, 3]], 1)
    inst = Instances(
        (SIZE, SIZE), proposal_boxes=Boxes(boxes), gt_actions=torch.as_tensor(record["labels"])
    )
    return {
        "clips": {"slow": fast[:, ::4], "fast": fast},
        "instances": inst,
        "height": SIZE,
        "width": SIZE,
        "image_id": record["image_id"],
    }


class _Trainer(AVATrainer):
    losses: list[float]

    @classmethod
    def build_mapper(cls, cfg, is_train):
        return _clip_mapper

    def build_hooks(self):
        from detectron2.engine import hooks

        self.losses = []
        trainer = self

        class Record(hooks.HookBase):
            def after_step(self):
                trainer.losses.append(self.trainer.storage.history("total_loss").latest())

        return [h for h in super().build_hooks() if not isinstance(h, hooks.EvalHook)] + [Record()]


def _cfg(out: Path, max_iter: int = 4):
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.MODEL.ROI_ACTION_HEAD.DROPOUT = 0.5
    cfg.INPUT.NUM_FRAMES = 8
    cfg.DATASETS.TRAIN = (TRAIN,)
    cfg.DATASETS.TEST = ()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.BASE_LR = 0.05
    cfg.SOLVER.WARMUP_ITERS = 2
    cfg.SOLVER.STEPS = ()
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.CHECKPOINT_PERIOD = 2
    cfg.TEST.EVAL_PERIOD = 0
    cfg.SEED = 3
    cfg.OUTPUT_DIR = str(out)
    return cfg


def _train(cfg, resume: bool = False) -> _Trainer:
    torch.manual_seed(0)
    trainer = _Trainer(cfg)
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer


def test_resume_gives_the_same_next_losses(tmp_path: Path):
    torch.set_num_threads(1)
    full = _train(_cfg(tmp_path / "full", max_iter=4)).losses
    # A run killed after iteration 1: its output dir holds the checkpoint of iteration 1 only.
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(tmp_path / "full" / "model_0000001.pth", killed)
    (killed / "last_checkpoint").write_text("model_0000001.pth")
    resumed = _train(_cfg(killed, max_iter=4), resume=True)
    assert resumed.start_iter == 2
    assert resumed.losses == pytest.approx(full[2:], rel=1e-5)
    assert len(set(full)) == 4  # the four batches differ (the check above is not vacuous)


def test_kinetics_checkpoint_loads_backbone_only_and_starts_at_zero(tmp_path: Path, caplog):
    cfg = _cfg(tmp_path / "out", max_iter=1)
    donor = AVATrainer.build_model(cfg)
    with torch.no_grad():
        for p in donor.backbone.parameters():
            p.fill_(0.125)
    state = {f"backbone.{k}": v for k, v in donor.backbone.state_dict().items()}
    state["cls_head.projection.weight"] = torch.ones(400, 72)
    state["cls_head.projection.bias"] = torch.ones(400)
    weights = tmp_path / "kinetics.pth"
    torch.save({"model": state, "iteration": 123455, "scheduler": {"last_epoch": 196}}, weights)

    cfg.MODEL.WEIGHTS = str(weights)
    torch.manual_seed(0)
    trainer = _Trainer(cfg)
    head_before = {k: v.clone() for k, v in trainer.model.roi_heads.state_dict().items()}
    with caplog.at_level(logging.INFO):
        trainer.resume_or_load(resume=True)  # nothing in OUTPUT_DIR yet: MODEL.WEIGHTS, iteration 0
    assert trainer.start_iter == 0
    assert all(torch.all(p == 0.125) for p in trainer.model.backbone.parameters())
    for k, v in trainer.model.roi_heads.state_dict().items():
        assert torch.equal(v, head_before[k])
    assert "cls_head.projection.weight" in caplog.text and "backbone only" in caplog.text
    with EventStorage():
        trainer.train()
    assert len(trainer.losses) == 1


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    cfg = _cfg(tmp_path, max_iter=6)
    cfg.SOLVER.CHECKPOINT_PERIOD = 1
    torch.manual_seed(0)
    trainer = _Trainer(cfg)
    trainer.resume_or_load(resume=False)
    head = trainer.model.roi_heads
    forward = head.forward

    def poisoned(features, proposals):
        out = forward(features, proposals)
        if trainer.iter == 2:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    head.forward = poisoned
    with pytest.raises(NonFiniteLossError, match="iteration 2.*last checkpoint is intact"):
        trainer.train()
    assert sorted(p.name for p in tmp_path.glob("model_*.pth")) == [
        "model_0000000.pth",
        "model_0000001.pth",
    ]
    saved = torch.load(tmp_path / "model_0000001.pth", weights_only=False)["model"]
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())
    params = dict(trainer.model.named_parameters())
    assert all(torch.equal(saved[k], p) for k, p in params.items())  # no step was taken after it


def test_optimizer_groups_and_amp_forced_off_on_cpu(tmp_path: Path, caplog):
    cfg = _cfg(tmp_path)
    cfg.SOLVER.WEIGHT_DECAY = 1e-4
    cfg.SOLVER.WEIGHT_DECAY_NORM = 0.0
    cfg.SOLVER.WEIGHT_DECAY_BIAS = 0.0
    cfg.SOLVER.NESTEROV = True  # as in configs/Base-SlowFast.yaml
    cfg.SOLVER.AMP.ENABLED = True
    with caplog.at_level(logging.INFO):
        trainer = _Trainer(cfg)
    assert "AMP.ENABLED ignored" in caplog.text and trainer._trainer.amp is False
    opt = trainer.optimizer
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"]
    decay_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    model = trainer.model
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms
    assert all(decay_of[id(p)] == 0.0 for m in norms for p in m.parameters())
    assert decay_of[id(model.roi_heads.predictor.bias)] == 0.0
    assert decay_of[id(model.roi_heads.predictor.weight)] == 1e-4


def test_unknown_dataset_fails_with_the_registered_names():
    cfg = get_ava_cfg()
    cfg.DATASETS.TRAIN = ("ava_v9_train",)
    with pytest.raises(KeyError, match="ava_v9_train.*ava_synthetic_train"):
        load_records(cfg, cfg.DATASETS.TRAIN, is_train=True)


# ---------------------------------------------------------------- resume after interrupted writes
@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, list[float]]:
    """An uninterrupted 4-iteration run (checkpoints after iterations 1 and 3, then model_final)."""
    out = tmp_path_factory.mktemp("full_run")
    return out, _train(_cfg(out, max_iter=4)).losses


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _final_state(out: Path) -> dict:
    return torch.load(out / "model_final.pth", weights_only=True)["model"]


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# (what the kill left: files copied from the full run, truncated ones, tag text or None = no tag),
# the checkpoint resume must pick, its first iteration
_KILLED = {
    "empty tag, newest truncated": (["model_0000001.pth"], ["model_0000003.pth"], "", 2),
    "no tag": (["model_0000001.pth", "model_0000003.pth"], [], None, 4),
    "tag names a truncated file": (
        ["model_0000001.pth"],
        ["model_0000003.pth"],
        "model_0000003.pth",
        2,
    ),
    "tag names a missing file": (["model_0000001.pth"], [], "model_0000009.pth", 2),
    "zero-byte model_final": (
        ["model_0000001.pth", "model_0000003.pth"],
        ["model_final.pth"],
        "model_final.pth",
        4,
    ),
}


@pytest.mark.parametrize("case", sorted(_KILLED))
def test_resume_picks_the_newest_complete_checkpoint(full_run, tmp_path: Path, caplog, case):
    full, full_losses = full_run
    complete, damaged, tag, start = _KILLED[case]
    killed = tmp_path / "killed"
    killed.mkdir()
    for name in complete + damaged:
        shutil.copy(full / name, killed)
    for name in damaged:
        if name == "model_final.pth":
            (killed / name).write_bytes(b"")
        else:
            _truncate(killed / name)
    if tag is not None:
        (killed / "last_checkpoint").write_text(tag)
    with caplog.at_level(logging.WARNING):
        resumed = _train(_cfg(killed, max_iter=4), resume=True)
    assert resumed.start_iter == start
    assert resumed.losses == full_losses[start:]  # the same batches, dropout and steps: exactly
    # model_final.pth is (re)written and equal, bit for bit, to the uninterrupted run's
    assert _same_weights(_final_state(killed), _final_state(full))
    assert _same_weights(resumed.model.state_dict(), _final_state(full))
    chosen = f"model_{start - 1:07d}.pth"
    assert f"resuming from {killed / chosen}" in caplog.text, caplog.text
    reason = {"": "last_checkpoint is empty", None: "no last_checkpoint tag"}.get(
        tag, f"last_checkpoint names {tag}: "
    )
    assert reason in caplog.text, caplog.text
    if damaged and damaged[0] == "model_final.pth":
        assert "model_final.pth: empty file" in caplog.text


def test_resume_with_backbone_only_config_restores_everything(full_run, tmp_path: Path):
    """MODEL.WEIGHTS_BACKBONE_ONLY is about the initial weights: resuming the run's own checkpoint
    loads the head, the optimizer and the iteration too."""
    full, full_losses = full_run
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(full / "model_0000001.pth", killed)
    (killed / "last_checkpoint").write_text("model_0000001.pth")
    cfg = _cfg(killed, max_iter=4)
    cfg.MODEL.WEIGHTS_BACKBONE_ONLY = True
    resumed = _train(cfg, resume=True)
    assert resumed.start_iter == 2 and resumed.losses == full_losses[2:]
    assert _same_weights(_final_state(killed), _final_state(full))


def test_resume_without_a_complete_checkpoint_starts_from_model_weights(tmp_path: Path, caplog):
    cfg = _cfg(tmp_path / "out", max_iter=1)
    donor = AVATrainer.build_model(cfg)
    with torch.no_grad():
        for p in donor.parameters():
            p.fill_(0.25)
    torch.save({"model": donor.state_dict()}, tmp_path / "init.pth")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model_0000000.pth").write_bytes(b"")
    (out / "last_checkpoint").write_text("")
    cfg.MODEL.WEIGHTS = str(tmp_path / "init.pth")
    torch.manual_seed(0)
    trainer = _Trainer(cfg)
    with caplog.at_level(logging.WARNING):
        trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 0
    assert all(torch.all(p == 0.25) for p in trainer.model.parameters())
    assert (
        "no complete checkpoint" in caplog.text and "model_0000000.pth: empty file" in caplog.text
    )


def test_train_loader_reads_runs_of_consecutive_keyframes(tmp_path: Path):
    # 6 keyframes of one video in runs of 3: whatever the epoch's offset (runs 3+3, 2+3+1 or
    # 1+3+2), an epoch's order is at most 3 stretches of consecutive seconds, each rising by 1
    cfg = _cfg(tmp_path)
    cfg.SOLVER.IMS_PER_BATCH = 3
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES = 3
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "batch"
    it = iter(_Trainer.build_train_loader(cfg))
    for _epoch in range(4):
        secs = [int(d["image_id"].split(",")[1]) for _ in range(2) for d in next(it)]
        assert sorted(secs) == list(range(902, 908))
        breaks = sum(b != a + 1 for a, b in zip(secs, secs[1:]))
        assert breaks <= 2, secs


def test_worker_runs_keep_a_batch_of_videos_open(tmp_path: Path, monkeypatch):
    from ava_detector.data.video import pyav_source

    cache = pyav_source.VideoCache()
    monkeypatch.setattr(pyav_source, "VIDEO_CACHE", cache)
    monkeypatch.setattr("ava_detector.engine.video_trainer.VIDEO_CACHE", cache)
    cfg = _cfg(tmp_path)
    cfg.SOLVER.IMS_PER_BATCH = 6
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES = 3
    assert cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN == "worker"  # the default
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "batch"
    _Trainer.build_train_loader(cfg)
    # "batch": a run is in one batch
    assert (cache.max_videos, cache.max_bytes, cache.per_video) == (2, 128 << 20, 1)
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "worker"
    loader = _Trainer.build_train_loader(cfg)
    assert loader.runs_spread == 6 and cache.max_videos == 6 and cache.per_video == 6
    assert cache.max_bytes == 6 * pyav_source.VIDEO_CACHE_BYTES_PER_RUN


def test_resume_with_another_sample_order_warns(tmp_path: Path, caplog):
    cfg = _cfg(tmp_path, max_iter=2)
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES = 2  # "worker", no workers: runs spread over 2 positions
    _train(cfg)
    cfg.SOLVER.MAX_ITER = 4
    with caplog.at_level(logging.WARNING):
        _Trainer(cfg).resume_or_load(resume=True)
    assert "sample order" not in caplog.text  # the same order: no warning
    cfg.DATALOADER.CONSECUTIVE_KEYFRAMES_IN = "batch"
    with caplog.at_level(logging.WARNING):
        _Trainer(cfg).resume_or_load(resume=True)
    assert "the checkpoint was trained with the sample order" in caplog.text
    assert "'runs_spread': 2" in caplog.text and "'runs_spread': 1" in caplog.text
