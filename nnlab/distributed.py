"""Runs launched by ``torchrun``: joining the process group, and the few collectives the stages need.

``torchrun --nproc_per_node N -m nnlab STAGE …`` starts N processes and tells each one its place in
the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``).
:func:`setup_device` is what a stage calls instead of :func:`nnlab.device.resolve_device`: outside
torchrun it is exactly that; under torchrun it also joins the default process group — ``nccl`` for
CUDA devices (each process on ``cuda:LOCAL_RANK``), ``gloo`` for the CPU — so the stage can use
PyTorch's DistributedDataParallel and the collectives below. Every collective here is a no-op in a
one-process run, so a stage written with them behaves as before outside torchrun.

Inference stages split a dataset into contiguous runs of whole batches (:func:`shard_range`), one per
rank, with no padding and no duplicates, and concatenate the results in rank order
(:func:`gather_rows`): every batch is the same batch a one-process run computes, so the gathered
tensors, and the files written from them, are identical.
"""

from __future__ import annotations

import atexit
import os
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.distributed as dist

from nnlab.device import resolve_device
from nnlab.errors import NnlabError
from nnlab.launch import env_local_rank, env_rank, env_world_size, launched  # noqa: F401  (torch-free; re-exported)

TIMEOUT_ENV = "NNLAB_DIST_TIMEOUT"
"""Minutes a rank waits in a collective for the others (default 60): rank 0 alone computes SI indices
and writes files while the other ranks wait at the next collective."""


def is_distributed() -> bool:
    """Whether this process belongs to an initialised process group (a torchrun run after :func:`setup_device`)."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the run (1 outside torchrun)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes artifacts, tables and plots."""
    return rank() == 0


def setup_device(name: str = "auto") -> torch.device:
    """The device for this process; under torchrun, also join the process group (once per process).

    ``auto``/``cuda`` under torchrun become ``cuda:LOCAL_RANK``; the backend is ``nccl`` for CUDA and
    ``gloo`` for the CPU. MPS cannot join a process group. Outside torchrun this is
    :func:`nnlab.device.resolve_device` and nothing else.
    """
    device = resolve_device(name)
    if not launched():
        return device
    if device.type == "mps":
        raise NnlabError("a torchrun run needs CPU or CUDA devices: an MPS device cannot join a process group")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", env_local_rank())
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if is_distributed():
        if dist.get_backend() != backend:
            raise NnlabError(f"this process group uses {dist.get_backend()}, but device {device} needs {backend}")
        return device
    try:
        minutes = float(os.environ.get(TIMEOUT_ENV, "60"))
    except ValueError:
        raise NnlabError(f"{TIMEOUT_ENV} must be a number of minutes, got {os.environ[TIMEOUT_ENV]!r}") from None
    dist.init_process_group(backend, timeout=timedelta(minutes=minutes))
    atexit.register(_shutdown)
    return device


def _shutdown() -> None:
    if is_distributed():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where tensors must be for the group's backend: the current CUDA device for nccl, else the CPU."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank reaches this point (no-op in one process)."""
    if is_distributed():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the body on rank 0 first, then on the others (e.g. a dataset download that must happen once)."""
    if not is_distributed():
        yield
        return
    if not is_main():
        dist.barrier()
    yield
    if is_main():
        dist.barrier()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sums of ``values`` over all ranks, as float64 (the values themselves in one process)."""
    if not is_distributed():
        return [float(v) for v in values]
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Overwrite every buffer of ``module`` (BatchNorm statistics, a k-NN bank) with rank 0's, in place.

    DistributedDataParallel keeps parameters equal on all ranks, but each rank updates its own BatchNorm
    running statistics during its forward passes; after this, every rank holds the model rank 0 saves.
    """
    if not is_distributed():
        return
    device = _collective_device()
    for buffer in module.buffers():
        if buffer.device == device:
            dist.broadcast(buffer, src=0)
        else:
            moved = buffer.to(device)
            dist.broadcast(moved, src=0)
            buffer.copy_(moved)


def all_gather_ints(value: int) -> list[int]:
    """``value`` from every rank, in rank order."""
    if not is_distributed():
        return [int(value)]
    tensor = torch.tensor([int(value)], dtype=torch.int64, device=_collective_device())
    out = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(out, tensor)
    return [int(t.item()) for t in out]


def all_gather_objects(value: Any) -> list[Any]:
    """``value`` (any picklable object) from every rank, in rank order (``[value]`` in one process)."""
    if not is_distributed():
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def shard_range(count: int, batch_size: int) -> range:
    """This rank's contiguous share of ``count`` items, cut at multiples of ``batch_size`` (the whole range in one
    process).

    Whole batches are dealt out in order, as evenly as possible; a rank may get none when there are fewer
    batches than ranks. No item is padded or repeated, so concatenating the ranks' results in rank order
    gives exactly the one-process order and batches.
    """
    if not is_distributed():
        return range(count)
    batches = -(-count // max(1, batch_size))
    first = rank() * batches // world_size()
    last = (rank() + 1) * batches // world_size()
    return range(min(count, first * batch_size), min(count, last * batch_size))


def gather_rows(tensor: torch.Tensor, *, everywhere: bool = False) -> torch.Tensor:
    """Concatenate each rank's ``tensor`` along dimension 0 in rank order (on the CPU).

    The result is on rank 0 only (other ranks get their own ``tensor`` back) unless ``everywhere``.
    Ranks may hold different numbers of rows, zero included; the other dimensions and the dtype must
    agree (a rank with no rows may give any shape ``(0, ...)``: the others' trailing shape is used).
    In one process, ``tensor`` itself.
    """
    if not is_distributed():
        return tensor
    metas: list[Any] = [None] * world_size()
    dist.all_gather_object(metas, (tuple(tensor.shape), str(tensor.dtype).removeprefix("torch.")))
    rows = [shape[0] for shape, _ in metas]
    filled = [m for m in metas if m[0][0] > 0] or metas
    trailing, dtype_name = filled[0][0][1:], filled[0][1]
    dtype = getattr(torch, dtype_name)
    if any(shape[1:] != trailing for shape, _ in metas if shape[0] > 0):
        raise NnlabError("ranks gathered rows of different shapes")
    device = _collective_device()
    padded = torch.zeros((max(rows), *trailing), dtype=dtype, device=device)
    if tensor.shape[0]:
        padded[: tensor.shape[0]] = tensor.to(device=device, dtype=dtype)
    if everywhere:
        parts = [torch.empty_like(padded) for _ in range(world_size())]
        dist.all_gather(parts, padded)
    elif is_main():
        parts = [torch.empty_like(padded) for _ in range(world_size())]
        dist.gather(padded, parts, dst=0)
    else:
        dist.gather(padded, None, dst=0)
        return tensor
    return torch.cat([part[:n] for part, n in zip(parts, rows, strict=True)]).cpu()
