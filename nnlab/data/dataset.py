"""``ImageDataset``: the one dataset type every nnlab stage consumes."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from nnlab.data.augment import build_augment
from nnlab.data.batch_augment import build_batch_augment
from nnlab.data.info import DatasetInfo
from nnlab.data.transforms import prepare, to_float

# In-memory images are resized/converted once, at construction, into a cache of the wanted size when it fits this
# budget: uint8 for uint8 sources (a quarter of the memory; items are within half a grey level, 0.5/255, of
# per-item float preparation, exact when no resize is needed), float32 for float sources (items exactly what
# per-item preparation gives). Larger data (e.g. CIFAR-10 upscaled to 224) is prepared a batch at a time in
# ``__getitems__``, i.e. in the DataLoader workers.
CACHE_BYTES = 1 << 30
_CHUNK_BYTES = 16 << 20  # float32 images prepared per step: small enough for the allocator to reuse


class ImageDataset(Dataset):
    """Images as float32 C×H×W in [0, 1] (never normalized) with int labels.

    Attributes: ``name``, ``split``, ``classes``, ``targets`` (np.int64), ``indices`` (np.int64 row
    positions in the source array the split was drawn from, see nnlab.data), ``info`` (DatasetInfo of
    the yielded images), ``augment`` (preset name; only ever active on the train split), ``cache``
    (``float32``, ``uint8`` or ``none``: how the prepared images are held, see ``CACHE_BYTES``).

    Backed either by an in-memory tensor N×C×H×W (uint8 or float in [0, 1]) or by image files read
    with ``loader(path) -> uint8 C×H×W``. A DataLoader fetches whole batches through ``__getitems__``, so
    images that are not cached are resized one batch per call rather than one image per call.
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
        self._batch_augment = build_batch_augment(self.augment, info.image_size, info.channels)
        # the per-sample form only where the preset has no batched one
        self._augment = None if self._batch_augment else build_augment(self.augment, info.image_size, info.channels)
        self.resize = resize
        self._paths = list(paths) if paths is not None else None
        self._loader = loader
        self._images = images
        self.cache = "none"  # "float32": _images is the prepared float tensor; "uint8": prepared and quantized
        if images is not None:
            pixels = len(images) * info.channels * info.image_size ** 2
            if images.dtype == torch.uint8 and pixels <= CACHE_BYTES:
                self.cache = "uint8"
                if self._needs_prepare(images):
                    self._images = self._prepare_all(images, torch.uint8)
            elif images.dtype == torch.float32 and not self._needs_prepare(images):
                self.cache = "float32"
            elif pixels * 4 <= CACHE_BYTES:
                self._images, self.cache = self._prepare_all(images), "float32"

    def _needs_prepare(self, images: torch.Tensor) -> bool:
        return tuple(images.shape[1:]) != (self.info.channels, self.info.image_size, self.info.image_size)

    def _prepare_all(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        s, c = self.info.image_size, self.info.channels
        out = torch.empty((len(images), c, s, s), dtype=dtype)
        chunk = max(1, _CHUNK_BYTES // (c * s * s * 4))
        for start in range(0, len(images), chunk):
            x = prepare(to_float(images[start:start + chunk]), c, s, self.resize)
            out[start:start + chunk] = x if dtype == torch.float32 else x.mul_(255.0).round_()
        return out

    def _batch(self, rows: Sequence[int]) -> torch.Tensor:
        """The prepared (not augmented) images of ``rows`` as one float32 N×C×H×W tensor."""
        if self.cache != "none":
            return to_float(self._images[torch.as_tensor(rows, dtype=torch.long)])
        s, c = self.info.image_size, self.info.channels
        if self._images is not None:
            return prepare(to_float(self._images[torch.as_tensor(rows, dtype=torch.long)]), c, s, self.resize)
        images = [to_float(self._loader(self._paths[i])) for i in rows]
        if all(x.shape == images[0].shape for x in images):  # same-size files: one batched resize
            return prepare(torch.stack(images), c, s, self.resize)
        return torch.stack([prepare(x, c, s, self.resize) for x in images])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([int(i)])[0]

    def __getitems__(self, rows: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        """The items of ``rows`` (what a DataLoader asks for a batch at a time), augmented: all at once where the
        preset has a batched form (nnlab.data.batch_augment), else each on its own."""
        rows = [int(i) for i in rows]
        if not rows:
            return []
        batch = self._batch(rows)
        if self._batch_augment is not None:
            batch = self._batch_augment(batch)
        items = []
        for x, i in zip(batch.unbind(0), rows):
            if self._augment is not None:
                x = self._augment(x).clamp(0.0, 1.0)
            items.append((x, int(self.targets[i])))
        return items

    def uint8_view(self) -> Dataset | None:
        """This split's cached pixels as uint8 items (augmented as uint8), or None unless the cache is uint8.

        For a loader that feeds a device: a uint8 batch is a quarter of the float32 one to collate, pin and
        copy, and the consumer converts it to float (``/ 255``) on the device, as timm's prefetcher does.
        """
        return _Uint8Items(self) if self.cache == "uint8" else None

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (float32 N×C×H×W in [0, 1], prepared, NOT augmented) and labels (int64), at once.

        Meant for fast whole-dataset passes (feature extraction, SI, full-batch training) on data
        that fits in memory; a float32 result is kept (folder datasets read every file once), a uint8
        cache is converted on each call.
        """
        if self.cache == "none":
            if self._images is not None:
                self._images = self._prepare_all(self._images)
            else:
                s, c = self.info.image_size, self.info.channels
                images = [prepare(to_float(self._loader(p)), c, s, self.resize) for p in self._paths]
                self._images = torch.stack(images) if images else torch.empty((0, c, s, s))
            self.cache = "float32"
        return to_float(self._images), torch.from_numpy(self.targets)

    def class_counts(self) -> np.ndarray:
        """Images per class (length = number of classes)."""
        return np.bincount(self.targets, minlength=len(self.classes))

    def __repr__(self) -> str:
        i = self.info
        return (f"ImageDataset({self.name!r}, split={self.split!r}, n={len(self)}, classes={len(self.classes)}, "
                f"shape={i.channels}x{i.image_size}x{i.image_size}, augment={self.augment!r}, "
                f"cache={self.cache!r})")


class _Uint8Items(Dataset):
    """An :class:`ImageDataset` with a uint8 cache, yielding its prepared pixels as uint8 C×H×W."""

    def __init__(self, ds: ImageDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([int(i)])[0]

    def __getitems__(self, rows: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        rows = [int(i) for i in rows]
        batch = self.ds._images[torch.as_tensor(rows, dtype=torch.long)]
        augment = self.ds._augment
        if self.ds._batch_augment is not None:  # the whole batch at once, in [0, 1] floats, back to uint8
            batch = self.ds._batch_augment(batch.float().div_(255.0)).mul_(255.0).round_().to(torch.uint8)
        return [(augment(x) if augment is not None else x, int(self.ds.targets[i]))
                for x, i in zip(batch.unbind(0), rows)]
