"""``folder:PATH`` — images in torchvision's ImageFolder layout (PATH/<class>/<image>).

If PATH has a ``train/`` subfolder, it is the pool train/val are drawn from; ``val/`` and ``test/``
subfolders, when present, are used as those splits (then --val-fraction is ignored for val). Without
``train/``, PATH itself is the pool. A missing ``test/`` is carved from the pool like the built-in
datasets (fixed stratified 20 %). Class names come from train/ (or PATH) folder names; val/test may
hold a subset of them. ``indices`` are positions in the sorted file list of the folder a split came from
(after the test carve: positions in that folder's list).

Native channels: 1 if the first image is greyscale, else 3 (everything is converted to that mode).
Native size: the height of the first image; images of another shape are resized to that square.
Normalization stats: computed on up to 256 evenly spaced pool images.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.transforms.functional import pil_to_tensor

from nnlab.data.info import DatasetInfo
from nnlab.data.source import Part, Source, channel_stats
from nnlab.data.splits import fixed_test_split
from nnlab.data.transforms import prepare, to_float
from nnlab.errors import NnlabError

_STAT_SAMPLE = 256


def _scan(directory: Path, class_to_idx: dict[str, int] | None) -> tuple[list[str], np.ndarray, dict[str, int]]:
    try:
        if class_to_idx is None:
            _, class_to_idx = find_classes(str(directory))
        else:
            extra = sorted(set(find_classes(str(directory))[0]) - set(class_to_idx))
            if extra:
                raise NnlabError(f"{directory} has class folders not in the training folder: {', '.join(extra)}")
        samples = make_dataset(str(directory), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    except FileNotFoundError as exc:
        raise NnlabError(f"{directory} is not an ImageFolder layout (one sub-folder of images per class): "
                         f"{str(exc).splitlines()[0]}") from None
    if not samples:
        raise NnlabError(f"{directory} holds no images ({', '.join(IMG_EXTENSIONS[:4])}, ...) in class sub-folders")
    paths = [p for p, _ in samples]
    return paths, np.asarray([t for _, t in samples], dtype=np.int64), class_to_idx


def _native_format(path: str) -> tuple[str, int]:
    """The folder's mode ("L" or "RGB") and square size, read from its first image (which must be readable)."""
    try:
        with Image.open(path) as first:
            mode = "L" if first.mode in ("1", "L", "I", "I;16", "F", "LA") else "RGB"
            width, height = first.size
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        raise NnlabError(f"cannot read image {path}, the first of the folder: {str(exc).splitlines()[0]}") from None
    if width < 1 or height < 1:
        raise NnlabError(f"image {path}, the first of the folder, is empty ({width}×{height} pixels)")
    return mode, int(height)


class FolderSource(Source):
    """An ImageFolder tree (see module docstring for the split rules)."""

    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise NnlabError(f"image folder {self.path} does not exist or is not a directory")
        base = self.path / "train" if (self.path / "train").is_dir() else self.path
        paths, targets, class_to_idx = _scan(base, None)
        self.classes = sorted(class_to_idx, key=class_to_idx.get)
        pool = Part(targets=targets, positions=np.arange(len(targets), dtype=np.int64), paths=paths)
        self.parts: dict[str, Part | None] = {"val": None}
        if (self.path / "test").is_dir() and base != self.path:
            self.parts["pool"] = pool
            self.parts["test"] = self._other("test", class_to_idx)
        else:
            rest, test = fixed_test_split(targets)
            self.parts["pool"], self.parts["test"] = pool.take(rest), pool.take(test)
        if (self.path / "val").is_dir() and base != self.path:
            self.parts["val"] = self._other("val", class_to_idx)
        self.mode, self.size = _native_format(paths[0])
        self._info: DatasetInfo | None = None

    def _other(self, sub: str, class_to_idx: dict[str, int]) -> Part:
        paths, targets, _ = _scan(self.path / sub, class_to_idx)
        return Part(targets=targets, positions=np.arange(len(targets), dtype=np.int64), paths=paths)

    def loader(self, path: str) -> torch.Tensor:
        """Read one image as uint8 C×H×W in the folder's native mode and size."""
        try:
            with Image.open(path) as img:
                x = pil_to_tensor(img.convert(self.mode))
        except OSError as exc:
            raise NnlabError(f"cannot read image {path}: {str(exc).splitlines()[0]}") from None
        if x.shape[-2:] != (self.size, self.size):
            x = (prepare(to_float(x), x.shape[0], self.size) * 255).round().to(torch.uint8)
        return x

    def info(self) -> DatasetInfo:
        if self._info is None:
            pool = self.parts["pool"]
            picks = np.unique(np.linspace(0, len(pool.paths) - 1, min(_STAT_SAMPLE, len(pool.paths))).astype(int))
            mean, std = channel_stats(torch.stack([self.loader(pool.paths[i]) for i in picks]))
            self._info = DatasetInfo(f"folder:{self.path}", list(self.classes), 1 if self.mode == "L" else 3,
                                     self.size, mean, std)
        return self._info

    def part(self, which: str) -> Part | None:
        return self.parts[which]


@lru_cache(maxsize=8)
def folder_source(path: str) -> FolderSource:
    """Cached FolderSource (scanning a big tree is slow); keyed by the path as given."""
    return FolderSource(path)
