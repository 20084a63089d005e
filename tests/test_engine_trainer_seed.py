"""VideoTrainer: the model's initial weights and torch's later draws follow ``SEED``, not the state
of torch's generator (a trainer built directly, as tests and notebooks do, without the tools'
``default_setup``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from detectron2.modeling import build_model

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.data.synthetic import generate_synthetic_kinetics
from ava_detector.kinetics.trainer import KineticsTrainer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kinetics_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kin") / "kinetics_synthetic"
    generate_synthetic_kinetics(root, train_per_class=1, val_per_class=1, seconds=2, progress=False)
    return root


def _cfg(root: Path, out: Path, seed: int):
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_kinetics.yaml"))
    cfg.merge_from_list(
        ["KINETICS.SYNTHETIC_ROOT", str(root), "OUTPUT_DIR", str(out), "SEED", str(seed)]
    )
    cfg.DATALOADER.NUM_WORKERS = 0
    return cfg


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    model = getattr(model, "module", model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_initial_weights_are_those_of_torch_manual_seed_of_seed(kinetics_root, tmp_path):
    cfg = _cfg(kinetics_root, tmp_path, seed=0)
    torch.manual_seed(0)
    expected = _weights(build_model(cfg))  # what the tools' seed_all_rng(0) gives
    torch.manual_seed(12345)  # any other generator state: the trainer does not depend on it
    assert _same(_weights(KineticsTrainer(cfg).model), expected)
    torch.manual_seed(999)
    assert _same(_weights(KineticsTrainer(cfg).model), expected)
    other = KineticsTrainer(_cfg(kinetics_root, tmp_path, seed=1)).model
    assert not _same(_weights(other), expected)


def test_draws_after_building_do_not_depend_on_the_callers_generator(kinetics_root, tmp_path):
    # dropout and any other draw of torch's generator during training follow SEED as well
    cfg = _cfg(kinetics_root, tmp_path, seed=0)
    torch.manual_seed(7)
    KineticsTrainer(cfg)
    after = torch.rand(3)
    torch.manual_seed(99)
    KineticsTrainer(cfg)
    assert torch.equal(torch.rand(3), after)
    torch.manual_seed(0)
    build_model(cfg)  # what the tools' seed_all_rng(0) then the build leave behind
    assert torch.equal(torch.rand(3), after)
