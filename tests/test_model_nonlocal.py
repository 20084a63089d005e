"""Non-local blocks: shape-preserving, identity at zero init, and the two affinity forms."""

from __future__ import annotations

import pytest
import torch

from ava_detector.modeling.backbone.nonlocal_block import NonLocal3d
from ava_detector.modeling.backbone.slowfast import SlowFast


@pytest.mark.parametrize("form", ["dot_product", "softmax"])
@pytest.mark.parametrize("group", [1, 2])
def test_shape_and_identity_at_zero_init(form, group):
    torch.manual_seed(0)
    block = NonLocal3d(8, pool=(1, 2, 2), instantiation=form, group=group).eval()
    x = torch.randn(2, 8, 4, 6, 6)
    torch.testing.assert_close(block(x), x)
    torch.nn.init.ones_(block.out.norm.weight)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


@pytest.mark.parametrize("form", ["dot_product", "softmax"])
def test_affinity_by_hand(form):
    torch.manual_seed(0)
    block = NonLocal3d(4, pool=(1, 1, 1), instantiation=form, norm="").eval()
    x = torch.randn(1, 4, 2, 3, 3)
    th, ph, g = (c(x).flatten(2)[0] for c in (block.theta, block.phi, block.g))  # (2, 18)
    a = th.T @ ph
    a = (a * 2**-0.5).softmax(1) if form == "softmax" else a / 18
    y = (a @ g.T).T.reshape(1, 2, 2, 3, 3)
    torch.testing.assert_close(block(x), x + block.out(y))


def test_nonlocal_in_backbone_positions():
    model = SlowFast(
        width_per_group=8,
        alpha=4,
        nonlocal_locations=[[[], []], [[1, 3], []], [[0], [2]], [[], []]],
    )
    names = list(model.slow_res3._modules)
    assert names == ["0", "1", "nonlocal1", "2", "3", "nonlocal3"]
    assert "nonlocal2" in model.fast_res4._modules
    out = model.eval()({"slow": torch.randn(1, 3, 2, 32, 32), "fast": torch.randn(1, 3, 8, 32, 32)})
    assert out["slow"].shape == (1, 256, 2, 2, 2)
