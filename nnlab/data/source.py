"""The source abstraction: where a dataset's rows come from before splitting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from nnlab.data.info import DatasetInfo


@dataclass
class Part:
    """Rows of one source array: labels, their positions in that array, and images or file paths."""

    targets: np.ndarray
    positions: np.ndarray
    images: torch.Tensor | None = None
    paths: list[str] | None = None

    def take(self, rows: np.ndarray) -> Part:
        """The sub-part made of ``rows`` (positions into this part)."""
        return Part(
            targets=self.targets[rows],
            positions=self.positions[rows],
            images=self.images[torch.from_numpy(rows)] if self.images is not None else None,
            paths=[self.paths[i] for i in rows] if self.paths is not None else None,
        )


class Source:
    """A dataset before splitting. ``part("pool")`` is what train/val are carved from, ``part("test")`` the
    test rows, ``part("val")`` a predefined validation set or None (then val is carved from the pool)."""

    loader: Callable[[str], torch.Tensor] | None = None

    def info(self) -> DatasetInfo:  # pragma: no cover - interface
        raise NotImplementedError

    def part(self, which: str) -> Part | None:  # pragma: no cover - interface
        raise NotImplementedError


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of N×C×H×W images (uint8 or [0, 1] float), in [0, 1] units."""
    s1 = torch.zeros(images.shape[1], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    count = 0
    for start in range(0, len(images), 1024):
        x = images[start:start + 1024].to(torch.float64)
        if images.dtype == torch.uint8:
            x = x / 255.0
        s1 += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
        count += x.numel() // x.shape[1]
    mean = s1 / count
    std = (s2 / count - mean * mean).clamp_min(0).sqrt()
    return [round(float(m), 6) for m in mean], [round(float(s), 6) for s in std]
