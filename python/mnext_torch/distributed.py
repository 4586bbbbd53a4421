"""Data parallelism under torchrun: one process per device, DistributedDataParallel, gloo on CPU and nccl on GPU.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the trainer is one process and none of this runs.
`batch_size` stays global, as in mnext train: each of N processes takes batch_size / N images per step, and DDP
averages the gradients, so one step of N processes is one step of one process at the same batch (BatchNorm apart:
its batch statistics are per process, SyncBN off, as in the official runs). Collectives here are no-ops for one
process, so the trainer's code reads the same either way.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .data import Replicas, check_batch_split


@dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun launch and the device it trains on."""
    replicas: Replicas
    local_rank: int
    device: torch.device

    @property
    def distributed(self):
        return self.replicas.world_size > 1


def env_int(name, default):
    value = os.environ.get(name)
    return default if value in (None, '') else int(value)


def default_device():
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def single_process():
    return Launch(Replicas(), 0, default_device())


def start_launch(batch_size):
    """The launch torchrun describes in the environment (or one process); joins the process group when there are
    several processes: nccl when CUDA is available (one GPU per local rank), else gloo."""
    world_size, rank, local_rank = env_int('WORLD_SIZE', 1), env_int('RANK', 0), env_int('LOCAL_RANK', 0)
    check_batch_split(batch_size, world_size)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device('cuda', local_rank) if cuda else torch.device('cpu')
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if cuda else 'gloo')
    return Launch(Replicas(rank, world_size), local_rank, device)


def end_launch(launch):
    if launch.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model, launch):
    """DDP around the model for several processes. The EfficientNet-style models keep the official unused `_bn1`,
    whose parameters never get a gradient: DDP is told to look for such parameters only for models that have them."""
    if not launch.distributed:
        return model
    unused = bool(getattr(model, 'unused_modules', ()))
    device_ids = [launch.local_rank] if launch.device.type == 'cuda' else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=unused)


def unwrapped(model):
    return model.module if isinstance(model, DistributedDataParallel) else model


def sum_over_processes(values, launch):
    """Element-wise sums of a list of numbers over every process (float64, so image counts stay exact)."""
    if not launch.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=launch.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def from_primary(value, launch):
    """Rank 0's value of a picklable object, on every process."""
    if not launch.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def share_primary_state(module, launch):
    """Rank 0's tensors (weights and BN statistics) into every process's copy of `module`: before evaluation, so
    all processes evaluate exactly the weights rank 0 checkpoints (DDP hands out rank 0's BN statistics at the start
    of each training forward; each process's own batch then moves them)."""
    if not launch.distributed:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)
