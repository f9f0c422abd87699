"""The source abstraction: where a dataset's rows come from before splitting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from nnlab.data.info import DatasetInfo
from nnlab.errors import NnlabError


@dataclass
class Part:
    """Rows of one source array: labels, their positions in that array, and images or file paths."""

    targets: np.ndarray
    positions: np.ndarray
    images: torch.Tensor | None = None
    paths: list[str] | None = None

    def __post_init__(self) -> None:
        rows = len(self.images) if self.images is not None else len(self.paths) if self.paths is not None else None
        if len(self.positions) != len(self.targets) or (rows is not None and rows != len(self.targets)):
            raise NnlabError(f"a dataset part has {rows if rows is not None else len(self.positions)} images but "
                             f"{len(self.targets)} labels; the counts must agree")

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


# ---------------------------------------------------------------- consistency checks run when a source opens its files


def check_counts(images_file: str, n_images: int, n_labels: int, labels_file: str | None = None) -> None:
    """Refuse a file (or image/label file pair) whose image and label counts differ; the error names both counts."""
    if n_images == n_labels:
        return
    if labels_file is None or labels_file == images_file:
        raise NnlabError(f"{images_file} holds {n_images} images but {n_labels} labels; each image needs one label")
    raise NnlabError(f"{images_file} holds {n_images} images but {labels_file} holds {n_labels} labels; "
                     f"each image needs one label")


def integer_labels(where: str, values: object) -> np.ndarray:
    """``values`` as a one-dimensional int64 array, refusing anything but whole-number labels."""
    try:
        labels = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise NnlabError(f"{where}: its labels are not a list of numbers ({exc})") from None
    if labels.ndim != 1:
        raise NnlabError(f"{where}: its labels form an array of shape {_shape(labels.shape)}, not a list")
    if len(labels) and labels.dtype.kind not in "iu":
        raise NnlabError(f"{where}: its labels must be whole numbers, found {labels.dtype} values")
    return labels.astype(np.int64)


def check_label_range(where: str, labels: np.ndarray, n_classes: int) -> None:
    """Refuse labels that name no class of ``n_classes``; the error counts them and shows one."""
    if not len(labels):
        return
    if n_classes < 1:
        raise NnlabError(f"{where} has {len(labels)} labels but the dataset names no classes")
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        raise NnlabError(f"{where} has {int(outside.sum())} of {len(labels)} labels outside the {n_classes} classes "
                         f"(0 to {n_classes - 1}), e.g. {int(labels[outside][0])}")


def check_image_shape(where: str, found: tuple[int, ...], expected: tuple[int, ...], meaning: str = "") -> None:
    """Refuse images whose dimensions are not the format's; ``meaning`` explains the expected shape, e.g. "3×32×32"."""
    if tuple(found) != tuple(expected):
        explained = f" ({meaning})" if meaning else ""
        raise NnlabError(f"{where} holds images of shape {_shape(found)}, but the format's images are "
                         f"{_shape(expected)}{explained}")


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(int(d)) for d in shape) if len(shape) else "a scalar"
