"""Batches from a dataset: the one DataLoader recipe every stage uses."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader whose shuffling depends only on ``seed`` (so epochs are reproducible).

    ``sampler`` (e.g. a DistributedSampler, which shuffles by itself) replaces ``shuffle``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle if sampler is None else None, sampler=sampler,
                      generator=generator, num_workers=num_workers, drop_last=drop_last, persistent_workers=False)
