"""Where this process stands in a torchrun job, and joining it.

Under torchrun one run trains on every process with DistributedDataParallel (NCCL on ``cuda:LOCAL_RANK``,
gloo on the CPU). The global batch is split across the ranks: every rank draws the same shuffled order and
trains on its own slice of each batch, so the optimisation is the single-process one. Rank 0 alone evaluates
and writes rows and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from harness.cli import UsageError


@dataclass
class Dist:
    """Where this process stands in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def on(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job the environment describes, if any; the device this rank trains on."""
    dist = Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.on:
        return dist, device
    if not torch.distributed.is_available():
        raise UsageError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist, device


def leave(dist: Dist, finished: bool) -> None:
    """Leave the job: after a finished run wait for rank 0's last writes; after Ctrl-C or an error leave at
    once (a barrier would wait on collectives the other ranks never join)."""
    if not dist.on:
        return
    if finished:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()
