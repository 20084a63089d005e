"""GFLOPs of the paper's Table 2 Kinetics instantiations (one 224^2 clip), within 2%, from configs/kinetics."""

from __future__ import annotations

import pytest
import torch

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.modeling.complexity import count_flops

# config -> GFLOPs of the SlowFast paper's Table 2
FAST_SUBSET = {"SLOW_4x16_R50": 20.9, "SLOWFAST_4x16_R50": 27.6, "SLOWFAST_2x32_R50": 13.9}
FULL_TABLE = {
    **FAST_SUBSET,
    "SLOW_8x8_R50": 41.9,
    "SLOWFAST_8x8_R50": 50.3,
    "SLOWFAST_6x16_R50": 41.1,
    "SLOWFAST_4x16_alpha4_R50": 25.2,
    "SLOWFAST_8x12_alpha4_R50": 50.3,
    "SLOWFAST_4x16_beta4_R50": 41.7,
    "SLOWFAST_4x16_beta16_R50": 23.4,
    "SLOWFAST_4x16_beta32_R50": 21.9,
    "SLOWFAST_4x16_R101": 44.5,
    "SLOWFAST_8x8_R101": 81.5,
    "SLOWFAST_4x16_beta6_R50": 32.0,
    "SLOWFAST_4x16_beta12_R50": 25.1,
    "SLOWFAST_NLN_4x16_R50": 33.8,
    "SLOWFAST_NLN_8x8_R50": 65.5,
}


def _gflops(repo_root, name: str) -> float:
    torch.set_num_threads(1)
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(repo_root / "configs" / "kinetics" / f"{name}.yaml"))
    return count_flops(cfg, 224)[0]


@pytest.mark.parametrize("name,paper", sorted(FAST_SUBSET.items()))
def test_flops_fast_subset(repo_root, name, paper):
    assert _gflops(repo_root, name) == pytest.approx(paper, rel=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("name,paper", sorted(set(FULL_TABLE.items()) - set(FAST_SUBSET.items())))
def test_flops_full_table(repo_root, name, paper):
    assert _gflops(repo_root, name) == pytest.approx(paper, rel=0.02)


def test_params_and_input_size_scaling(repo_root):
    cfg = get_ava_cfg()
    cfg.merge_from_file(str(repo_root / "configs" / "kinetics" / "SLOW_4x16_R50.yaml"))
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    g224, params = count_flops(cfg, 224)
    g256, _ = count_flops(cfg, 256)
    # conv FLOPs scale with the spatial area; the classifier (2048/8 x 400) does not
    head = 256 * 400 / 1e9
    assert (g256 - head) / (g224 - head) == pytest.approx((256 / 224) ** 2, rel=0.01)
    assert params > 0
