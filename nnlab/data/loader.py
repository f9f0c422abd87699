"""Batches from a dataset: the DataLoader recipes every stage uses.

:func:`make_loader` is a one-pass loader (evaluation, feature extraction, attacks). :class:`EpochLoader` is a
training loader built once per run: its worker processes live as long as it does (``persistent_workers``), and
every epoch is a pure function of the epoch's seed (batch order and, in the workers, augmentation), so a run
resumed from a checkpoint draws the same batches as an uninterrupted one whatever the number of workers.
"""

from __future__ import annotations

import os
import random
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, get_worker_info

from nnlab.errors import NnlabError

MAX_DEFAULT_WORKERS = 8
MIN_CPUS_FOR_WORKERS = 4


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_num_workers() -> int:
    """DataLoader workers when none are asked for: ``$NNLAB_NUM_WORKERS`` if set, else one per available core less
    one (the main process trains), at most 8, and 0 (load in the main process) below 4 cores.

    Below 4 cores a worker takes a core the training step needs, and passing batches between processes costs
    more than indexing a resize cache (measured with benchmarks/data_pipeline.py, see the README).
    """
    env = os.environ.get("NNLAB_NUM_WORKERS", "").strip()
    if env:
        if not env.isdigit():
            raise NnlabError(f"NNLAB_NUM_WORKERS must be a whole number of at least 0, got {env!r}")
        return int(env)
    cpus = available_cpus()
    return 0 if cpus < MIN_CPUS_FOR_WORKERS else min(MAX_DEFAULT_WORKERS, cpus - 1)


def resolve_num_workers(num_workers: int | None) -> int:
    """``num_workers`` as given, or :func:`default_num_workers` for None."""
    return default_num_workers() if num_workers is None else int(num_workers)


def make_loader(
    ds: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    num_workers: int | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader whose shuffling depends only on ``seed`` (so epochs are reproducible).

    ``num_workers`` None picks :func:`default_num_workers`; ``pin_memory`` (for a CUDA device) puts batches in
    page-locked memory so the copy to the GPU can overlap compute.
    """
    workers = resolve_num_workers(num_workers)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
    )


class _EpochSeeded(Dataset):
    """``ds`` seen through workers that reseed their random streams at the first fetch of each epoch.

    DataLoader seeds a persistent worker once, when it starts; the epoch's seed travels to the workers in a
    shared-memory tensor, and batch k of an epoch always goes to worker k mod W, so each worker's draws depend
    only on (epoch seed, worker id).
    """

    def __init__(self, ds: Dataset):
        self.dataset = ds
        self.epoch_seed = torch.zeros((), dtype=torch.int64).share_memory_()
        self._seeded: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def _reseed(self) -> None:
        info = get_worker_info()
        seed = int(self.epoch_seed)
        if info is None or seed == self._seeded:
            return
        self._seeded = seed
        worker_seed = seed * 1_000_003 + 7919 * (info.id + 1)
        random.seed(worker_seed)
        np.random.seed(worker_seed % (2**32))
        torch.manual_seed(worker_seed)

    def __getitem__(self, i: int):
        self._reseed()
        return self.dataset[i]

    def __getitems__(self, rows: Sequence[int]) -> list:
        self._reseed()
        batched = getattr(self.dataset, "__getitems__", None)
        return batched(rows) if batched is not None else [self.dataset[i] for i in rows]


class EpochLoader:
    """A training DataLoader built once per run; ``epoch(seed)`` iterates one epoch drawn from ``seed``.

    ``sampler`` replaces the default (a seeded random shuffle, or the dataset order with ``shuffle=False``); one
    with ``set_epoch`` (e.g. ``DistributedSampler``) is told each epoch's seed. With ``uint8`` and a dataset that
    offers ``uint8_view()`` (an :class:`~nnlab.data.dataset.ImageDataset` holding a uint8 cache), batches are
    uint8 pixels for the consumer to divide by 255 on its device (``self.uint8`` says whether they are).
    """

    def __init__(
        self,
        ds: Dataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        num_workers: int | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        sampler: Sampler | None = None,
        uint8: bool = False,
    ):
        self.num_workers = resolve_num_workers(num_workers)
        view = getattr(ds, "uint8_view", None) if uint8 else None
        view = view() if callable(view) else None
        self.uint8 = view is not None
        ds = view if view is not None else ds
        self._generator = torch.Generator()
        if sampler is None:
            sampler = RandomSampler(ds, generator=self._generator) if shuffle else SequentialSampler(ds)
        self.sampler = sampler
        self._dataset = _EpochSeeded(ds)
        self.loader = DataLoader(
            self._dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=pin_memory,
            drop_last=drop_last,
            generator=torch.Generator().manual_seed(0),
        )

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, seed: int) -> Iterator:
        """The batches of the epoch whose random streams derive from ``seed``."""
        self._generator.manual_seed(seed)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(seed)
        self._dataset.epoch_seed.fill_(seed)
        return iter(self.loader)
