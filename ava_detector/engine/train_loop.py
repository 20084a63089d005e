"""The training step: optional AMP (bf16/fp16 autocast), NaN stop, per-iteration seeded RNG."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import torch
from detectron2.engine import SimpleTrainer
from detectron2.utils import comm
from torch import nn

from ava_detector.engine.data_loading import (
    ITERATION,
    sample_seed,
)

__all__ = ["VideoTrainLoop", "NonFiniteLossError", "amp_dtype"]

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf: training stops before the optimizer step (weights stay finite)."""


def amp_dtype(name: str) -> torch.dtype:
    """``SOLVER.AMP.DTYPE`` -> torch dtype ("bfloat16"/"bf16" or "float16"/"fp16")."""
    table = {
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if name.lower() not in table:
        raise ValueError(f"SOLVER.AMP.DTYPE must be bfloat16 or float16, got {name!r}")
    return table[name.lower()]


class VideoTrainLoop(SimpleTrainer):
    """``SimpleTrainer`` with mixed precision, a NaN check on every rank and seeded randomness.

    At each step torch's RNG is seeded from ``(seed, iteration)``, so dropout (like the data,
    see :mod:`.data_loading`) depends on the iteration only and a resumed run repeats the
    uninterrupted one. With ``amp`` on CUDA the forward runs under ``torch.autocast``; float16 uses
    a ``GradScaler`` (gradients are unscaled before the clipping inside ``optimizer.step``).
    A non-finite loss on any rank raises :class:`NonFiniteLossError` on all ranks before any
    weight is touched, so the last checkpoint written is a good one.

    Args:
        model: the model; training mode, returns a loss dict (or one loss tensor).
        data_loader: an iterable of batches (lists of model input dicts).
        optimizer: the optimizer of the model's parameters.
        seed: the seed of the per-iteration RNG.
        amp: mixed precision (``SOLVER.AMP.ENABLED``; CUDA only).
        dtype: the autocast dtype (``torch.bfloat16`` or ``torch.float16``, which adds a
            ``GradScaler``).
        stop_on_nan: check the loss on every rank and raise :class:`NonFiniteLossError`.
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        *,
        seed: int = 0,
        amp: bool = False,
        dtype: torch.dtype = torch.bfloat16,
        stop_on_nan: bool = True,
    ) -> None:
        super().__init__(model, data_loader, optimizer)
        self.seed = int(seed)
        self.amp = bool(amp)
        self.dtype = dtype
        self.stop_on_nan = stop_on_nan
        self.grad_scaler = (
            torch.amp.GradScaler("cuda") if self.amp and dtype == torch.float16 else None
        )

    def _check_finite(self, losses: torch.Tensor, loss_dict: dict[str, torch.Tensor]) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(losses).item() else 1.0], device=losses.device)
        if comm.get_world_size() > 1:
            torch.distributed.all_reduce(bad)
        if bad.item() > 0:
            values = {k: float(v.detach()) for k, v in loss_dict.items()}
            raise NonFiniteLossError(
                f"non-finite loss at iteration {self.iter} (on rank {comm.get_rank()}: {values}); "
                "training stopped before the optimizer step, the last checkpoint is intact. "
                "Lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRADIENTS or check the data."
            )

    def run_step(self) -> None:
        assert self.model.training, "[VideoTrainLoop] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        # After fetching: starting a DataLoader iterator draws from torch's RNG.
        torch.manual_seed(sample_seed(self.seed, self.iter, ITERATION))

        with torch.autocast("cuda", dtype=self.dtype, enabled=self.amp):
            loss_dict = self.model(data)
        if isinstance(loss_dict, torch.Tensor):
            loss_dict = {"total_loss": loss_dict}
        loss_dict = {k: v.float() for k, v in loss_dict.items()}
        losses = sum(loss_dict.values())
        if self.stop_on_nan:
            self._check_finite(losses, loss_dict)

        self.optimizer.zero_grad()
        if self.grad_scaler is not None:
            self.grad_scaler.scale(losses).backward()
        else:
            losses.backward()
        self._write_metrics(loss_dict, data_time)
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(self.optimizer)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
