"""The stack itself: Detectron2 on this torch, the _C stand-in, config loading, engine resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import detectron2
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.engine import SimpleTrainer, hooks
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.utils.events import EventStorage
from torch import nn

import ava_detector
from ava_detector.config.defaults import (
    add_ava_config,
    get_ava_cfg,
)


def test_versions_and_import():
    assert detectron2.__version__ == "0.6"
    assert ava_detector.__version__


def test_compiled_op_stand_in_raises_clear_error():
    from detectron2.layers.rotated_boxes import pairwise_iou_rotated

    boxes = torch.tensor([[10.0, 10.0, 4.0, 4.0, 0.0]])
    with pytest.raises(ImportError, match="compiled op .*without its C\\+\\+ extension"):
        pairwise_iou_rotated(boxes, boxes)


def test_torchvision_ops_used_by_detectron2_work():
    from detectron2.layers import ROIAlign, batched_nms

    feat = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = ROIAlign((1, 1), spatial_scale=1.0, sampling_ratio=1, aligned=True)(
        feat, torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    )
    # The single bin's sample point is (0.5, 0.5) after the -0.5 alignment: mean of the 2x2 corner.
    assert out.item() == pytest.approx((0 + 1 + 4 + 5) / 4)
    keep = batched_nms(
        torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10.5]]),
        torch.tensor([0.9, 0.8]),
        torch.tensor([0, 0]),
        0.5,
    )
    assert keep.tolist() == [0]


def test_config_base_inheritance(tmp_path: Path, repo_root: Path):
    child = tmp_path / "child.yaml"
    child.write_text(
        f'_BASE_: "{repo_root / "configs" / "Base-SlowFast.yaml"}"\n'
        "MODEL:\n  SLOWFAST:\n    DEPTH: 101\nINPUT:\n  NUM_FRAMES: 64\n"
    )
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(child))
    assert cfg.MODEL.SLOWFAST.DEPTH == 101
    assert cfg.INPUT.NUM_FRAMES == 64
    assert cfg.MODEL.SLOWFAST.ALPHA == 4  # from the base file
    assert cfg.MODEL.META_ARCHITECTURE == "AVADetector"


def test_unknown_config_key_is_rejected(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  SLOWFAST:\n    DEPHT: 101\n")
    cfg = add_ava_config(get_cfg())
    with pytest.raises(KeyError, match="DEPHT"):
        cfg.merge_from_file(str(bad))


@META_ARCH_REGISTRY.register()
class _TinyRegressor(nn.Module):
    """A registered model for the engine test: loss = MSE of a linear map on random tensors."""

    def __init__(self, cfg):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, batch):
        x, y = batch
        return {"loss_mse": nn.functional.mse_loss(self.fc(x), y)}


def _run(cfg, output_dir: Path, max_iter: int, resume: bool) -> list[float]:
    """Train the tiny model with SimpleTrainer, checkpointing every iteration; return its losses."""
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    model = build_model(cfg)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)) for _ in range(4)]

    def loader():  # batch i of the schedule depends only on i, as with a seeded sampler
        while True:
            yield data[trainer.iter % len(data)]

    output_dir.mkdir(parents=True, exist_ok=True)
    trainer = SimpleTrainer(model, loader(), optim)
    ckpt = DetectionCheckpointer(model, str(output_dir), optimizer=optim, trainer=trainer)
    losses: list[float] = []

    class Record(hooks.HookBase):
        def after_step(self):
            losses.append(self.trainer.storage.history("total_loss").latest())

    trainer.register_hooks([hooks.PeriodicCheckpointer(ckpt, 1, max_iter=max_iter), Record()])
    start = 0
    if resume:
        start = ckpt.resume_or_load("", resume=True).get("iteration", -1) + 1
    trainer.train(start, max_iter)
    return losses


def test_detectron2_engine_trains_checkpoints_and_resumes(tmp_path: Path):
    cfg = get_cfg()
    cfg.MODEL.META_ARCHITECTURE = "_TinyRegressor"
    cfg.MODEL.DEVICE = "cpu"
    full = _run(cfg, tmp_path / "full", max_iter=3, resume=False)
    first = _run(cfg, tmp_path / "split", max_iter=2, resume=False)
    assert (tmp_path / "split" / "last_checkpoint").read_text().strip() == "model_final.pth"
    with EventStorage():
        resumed = _run(cfg, tmp_path / "split", max_iter=3, resume=True)
    assert len(full) == 3 and len(first) == 2 and len(resumed) == 1
    assert first == pytest.approx(full[:2])
    assert resumed[0] == pytest.approx(full[2], rel=1e-6)


def test_collect_env_runs():
    out = subprocess.run(
        [sys.executable, "-m", "detectron2.utils.collect_env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "detectron2" in out.stdout and "0.6" in out.stdout


def test_map_dataset_retries_when_mapper_returns_none():
    """The install's Python 3.11 fix: MapDataset draws another sample instead of a TypeError."""
    from detectron2.data.common import MapDataset

    ds = MapDataset(list(range(5)), lambda x: None if x == 0 else x)
    assert ds[0] in {1, 2, 3, 4}


_REGISTERED = (
    "from detectron2.data import DatasetCatalog\n"
    "from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, ROI_HEADS_REGISTRY\n"
    "print(sorted(n for n in DatasetCatalog.list() if 'ava' in n or 'kinetics' in n))\n"
    "print(sorted(n for r in (BACKBONE_REGISTRY, META_ARCH_REGISTRY, ROI_HEADS_REGISTRY)\n"
    "             for n in r._obj_map if n in ('build_slowfast_backbone', 'AVAActionHead',\n"
    "                                          'AVADetector', 'VideoClassifier')))\n"
)


def _registered_after(imports: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", imports + _REGISTERED], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_packages_register_nothing_and_two_imports_register_everything():
    """Importing the package and its subpackages registers nothing; ``builtin_models`` registers
    the model components and ``builtin_datasets`` the built-in dataset names."""
    nothing = _registered_after(
        "import ava_detector, ava_detector.ava, ava_detector.kinetics, ava_detector.modeling\n"
        "import ava_detector.data, ava_detector.engine, ava_detector.demo\n"
    )
    assert nothing == ["[]", "[]"]
    datasets, models = _registered_after(
        "import ava_detector.builtin_datasets, ava_detector.builtin_models\n"
    )
    assert {
        "ava_v2.2_train",
        "ava_v2.2_val",
        "ava_synthetic_val",
        "kinetics400_train",
        "kinetics_synthetic_val",
    } <= set(eval(datasets))
    assert eval(models) == [
        "AVAActionHead",
        "AVADetector",
        "VideoClassifier",
        "build_slowfast_backbone",
    ]


def test_pure_parts_import_without_torch():
    """The metric, the readers and the offline evaluator's modules load neither torch nor Detectron2
    (packages register nothing on import)."""
    code = (
        "import sys\n"
        "from ava_detector.ava.evaluation import frame_map, evaluate_files, csv_io, report\n"
        "from ava_detector.ava.data.label_map import read_label_map\n"
        "from ava_detector.ava.data.csv_formats import parse_annotations\n"
        "print(sorted(m for m in ('torch', 'detectron2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
