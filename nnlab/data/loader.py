"""Batches from a dataset: the one DataLoader recipe every stage uses."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling depends only on ``seed`` (so epochs are reproducible)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers,
                      drop_last=drop_last, persistent_workers=False)
