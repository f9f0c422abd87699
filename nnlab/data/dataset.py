"""``ImageDataset``: the one dataset type every nnlab stage consumes."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from nnlab.data.augment import build_augment
from nnlab.data.info import DatasetInfo
from nnlab.data.transforms import prepare, to_float

# Resized/converted in-memory images are precomputed once when the float32 result fits this budget;
# larger ones (e.g. CIFAR upscaled to 224) are prepared per item instead.
PRECOMPUTE_BYTES = 1 << 30
_CHUNK = 2048


class ImageDataset(Dataset):
    """Images as float32 C×H×W in [0, 1] (never normalized) with int labels.

    Attributes: ``name``, ``split``, ``classes``, ``targets`` (np.int64), ``indices`` (np.int64 row
    positions in the source array the split was drawn from, see nnlab.data), ``info`` (DatasetInfo of
    the yielded images), ``augment`` (preset name; only ever active on the train split).

    Backed either by an in-memory tensor N×C×H×W (uint8 or float in [0, 1]) or by image files read
    with ``loader(path) -> uint8 C×H×W``.
    """

    def __init__(self, *, name: str, split: str, info: DatasetInfo, targets: np.ndarray, indices: np.ndarray,
                 images: torch.Tensor | None = None, paths: Sequence[str] | None = None,
                 loader: Callable[[str], torch.Tensor] | None = None, augment: str = "none",
                 resize: str = "bilinear"):
        if (images is None) == (paths is None):
            raise ValueError("give exactly one of images or paths")
        self.name = name
        self.split = split
        self.info = info
        self.classes = list(info.classes)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.augment = augment if split == "train" else "none"
        self._augment = build_augment(self.augment, info.image_size, info.channels)
        self.resize = resize
        self._paths = list(paths) if paths is not None else None
        self._loader = loader
        self._images = images
        self._ready = False  # True when _images already holds the prepared float32 tensor
        if images is not None:
            if self._needs_prepare(images):
                nbytes = len(images) * info.channels * info.image_size ** 2 * 4
                if nbytes <= PRECOMPUTE_BYTES:
                    self._images = self._prepare_all(images)
                    self._ready = True
            elif images.dtype == torch.float32:
                self._ready = True

    def _needs_prepare(self, images: torch.Tensor) -> bool:
        return tuple(images.shape[1:]) != (self.info.channels, self.info.image_size, self.info.image_size)

    def _prepare_all(self, images: torch.Tensor) -> torch.Tensor:
        s, c = self.info.image_size, self.info.channels
        out = torch.empty((len(images), c, s, s), dtype=torch.float32)
        for start in range(0, len(images), _CHUNK):
            out[start:start + _CHUNK] = prepare(to_float(images[start:start + _CHUNK]), c, s, self.resize)
        return out

    def __len__(self) -> int:
        return len(self.targets)

    def _image(self, i: int) -> torch.Tensor:
        if self._images is None:
            x = to_float(self._loader(self._paths[i]))
        elif self._ready:
            return self._images[i]
        else:
            x = to_float(self._images[i])
        return prepare(x, self.info.channels, self.info.image_size, self.resize)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self._image(int(i))
        if self._augment is not None:
            x = self._augment(x).clamp(0.0, 1.0)
        return x, int(self.targets[i])

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (float32 N×C×H×W in [0, 1], prepared, NOT augmented) and labels (int64), at once.

        Meant for fast whole-dataset passes (feature extraction, SI, full-batch training) on data
        that fits in memory; the result is cached, and folder datasets read every file once.
        """
        if not self._ready:
            if self._images is not None:
                self._images = self._prepare_all(self._images)
            else:
                s, c = self.info.image_size, self.info.channels
                images = [prepare(to_float(self._loader(p)), c, s, self.resize) for p in self._paths]
                self._images = torch.stack(images) if images else torch.empty((0, c, s, s))
            self._ready = True
        return self._images, torch.from_numpy(self.targets)

    def class_counts(self) -> np.ndarray:
        """Images per class (length = number of classes)."""
        return np.bincount(self.targets, minlength=len(self.classes))

    def __repr__(self) -> str:
        i = self.info
        return (f"ImageDataset({self.name!r}, split={self.split!r}, n={len(self)}, classes={len(self.classes)}, "
                f"shape={i.channels}x{i.image_size}x{i.image_size}, augment={self.augment!r})")
