"""Training across processes with torch.distributed: the process group, and what the ranks share.

``model.train(strategy="ddp")`` runs in every process that ``torchrun`` starts (gloo on CPU,
NCCL on GPUs). The gradients are averaged by :class:`torch.nn.parallel.DistributedDataParallel`;
this module holds the rest: joining the process group from torchrun's environment, splitting a
list of work between the ranks, gathering the ranks' shares of the partner states, and
broadcasting rank 0's early-stopping decisions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InputError

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class Ranks:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int
    owns_group: bool  # stcross created the group, so it destroys it after training

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: its own GPU (by local rank) on CUDA, else ``device``."""
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def share(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (the last shares may be shorter or empty)."""
        size = -(-n // self.world_size)
        return slice(min(n, self.rank * size), min(n, (self.rank + 1) * size))

    def gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Every rank's :meth:`share` of ``n`` rows, concatenated in rank order."""
        size = -(-n // self.world_size)
        padded = local.new_zeros((size, *local.shape[1:]))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat(parts)[:n]

    def broadcast_values(self, values: dict[str, float]) -> dict[str, float]:
        """Rank 0's ``values`` (same keys on every rank), on every rank."""
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self._collective_device())
        dist.broadcast(tensor, src=0)
        return dict(zip(keys, tensor.tolist()))

    def mean_values(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks (same keys on every rank)."""
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(tensor)
        return {k: v / self.world_size for k, v in zip(keys, tensor.tolist())}

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def join(device: torch.device) -> Ranks:
    """Join (or reuse) the process group that ``torchrun`` describes in the environment."""
    if not dist.is_available():
        msg = "strategy='ddp' needs a PyTorch build with torch.distributed; use strategy='single'."
        raise InputError(msg)
    owns = False
    if not dist.is_initialized():
        missing = [v for v in _TORCHRUN_VARIABLES if v not in os.environ]
        if missing:
            msg = (
                f"strategy='ddp' runs one process per rank, started by torchrun; {', '.join(missing)} "
                "are not set. Start the script with e.g. `torchrun --nproc-per-node 2 script.py` "
                "(or `stcross fit-impute --nproc 2`), or train with strategy='single'."
            )
            raise InputError(msg)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())), owns)
