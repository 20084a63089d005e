"""``launch``: Detectron2's multi-GPU / multi-machine launcher, plus multi-process CPU with gloo.

Detectron2 0.6's ``launch`` asserts CUDA and uses NCCL in every worker. Without CUDA (CI, laptops)
this spawns the same workers on the gloo backend, so ``--num-gpus 2`` runs two CPU processes.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import launch as d2_launch
from detectron2.engine.launch import DEFAULT_TIMEOUT, _find_free_port
from detectron2.utils import comm

__all__ = ["launch"]

logger = logging.getLogger(__name__)


def launch(
    main_func: Callable,
    num_processes_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
    use_cuda: bool | None = None,
) -> None:
    """Run ``main_func(*args)`` in ``num_machines * num_processes_per_machine`` processes.

    ``use_cuda=None`` picks CUDA (NCCL, Detectron2's own launcher) when a GPU is available,
    otherwise CPU processes on gloo.
    """
    if use_cuda is None:
        use_cuda = torch.cuda.is_available()
    world_size = num_machines * num_processes_per_machine
    if use_cuda or world_size == 1:
        d2_launch(
            main_func,
            num_processes_per_machine,
            num_machines,
            machine_rank,
            dist_url,
            args=args,
            timeout=timeout,
        )
        return
    if dist_url in (None, "auto"):
        if num_machines > 1:
            raise ValueError("--dist-url auto only works on one machine; give tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_processes_per_machine,
        args=(
            main_func,
            world_size,
            num_processes_per_machine,
            machine_rank,
            dist_url,
            args,
            timeout,
        ),
        daemon=False,
    )


def _cpu_worker(
    local_rank: int,
    main_func: Callable[..., object],
    world_size: int,
    per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple[Any, ...],
    timeout: timedelta,
) -> None:
    rank = machine_rank * per_machine + local_rank
    dist.init_process_group(
        "gloo", init_method=dist_url, world_size=world_size, rank=rank, timeout=timeout
    )
    for i in range(world_size // per_machine):
        group = dist.new_group(list(range(i * per_machine, (i + 1) * per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    comm.synchronize()
    main_func(*args)
    # Every rank must be done with gloo before any rank tears its pairs down: a rank that exits
    # while its peer is still inside a collective aborts that peer ("terminate called without an
    # active exception"). On an exception there is no barrier; spawn stops the other workers.
    comm.synchronize()
    dist.destroy_process_group()
    # Drop Detectron2's cached handles too, so the groups' C++ objects (and their gloo threads) are
    # freed now rather than during interpreter shutdown, where freeing them can abort the process.
    comm._LOCAL_PROCESS_GROUP = None
    comm._get_global_gloo_group.cache_clear()
    gc.collect()
