"""KineticsTrainer.build_model: the initial weights follow ``SEED``, not torch's generator state."""

from __future__ import annotations

from pathlib import Path

import torch
from detectron2.modeling import build_model

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.trainer import KineticsTrainer

REPO = Path(__file__).resolve().parents[1]


def _cfg(seed: int):
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(REPO / "configs/synthetic/tiny_kinetics.yaml"))
    cfg.SEED = seed
    return cfg


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_initial_weights_are_those_of_torch_manual_seed_of_seed():
    torch.manual_seed(0)
    expected = _weights(build_model(_cfg(0)))  # what default_setup's seed_all_rng(0) gives
    torch.manual_seed(12345)  # any other generator state: the trainer's build ignores it
    assert _same(_weights(KineticsTrainer.build_model(_cfg(0))), expected)
    torch.manual_seed(999)
    assert _same(_weights(KineticsTrainer.build_model(_cfg(0))), expected)
    assert not _same(_weights(KineticsTrainer.build_model(_cfg(1))), expected)


def test_the_callers_generator_state_is_restored():
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    KineticsTrainer.build_model(_cfg(0))
    assert torch.equal(torch.rand(3), before)
