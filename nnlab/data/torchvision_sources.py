"""torchvision-backed datasets: cifar10, cifar100, svhn, mnist, fashion-mnist.

Files live under the data root in torchvision's own layout:

- cifar10:        ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
- cifar100:       ROOT/cifar-100-python/{train, test, meta}
- svhn:           ROOT/{train_32x32.mat, test_32x32.mat}
- mnist:          ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte
- fashion-mnist:  ROOT/FashionMNIST/raw/ (same four names)

Nothing is fetched unless ``download=True``. Integrity: torchvision compares the MD5 of every CIFAR batch
and SVHN .mat file on each load. We subclass those two classes so that loading checks that the files
exist (a damaged file still fails to parse and is reported), while downloading keeps torchvision's MD5
verification of what it fetches (CIFAR's archive, SVHN's .mat). This avoids hashing ~180 MB on every
load and lets the tests load tiny files written in the real formats. Safety does not rest on the MD5:
the CIFAR batches (python pickles) are read here, not by torchvision, through
:func:`nnlab.data.safe_pickle.load_plain_pickle`, which admits only plain data and numpy arrays, so a
planted batch file cannot run code. MNIST's raw files carry no MD5 check in torchvision, so its classes
are used as they are.

The images are read once into uint8 tensors (N×C×H×W) and cached per (dataset, root, part, file stamps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets as tvd

from nnlab.data.info import CIFAR10_CLASSES, CIFAR100_CLASSES, DIGIT_CLASSES, FASHION_CLASSES, \
    TORCHVISION_STATS, DatasetInfo
from nnlab.data.safe_pickle import load_plain_pickle
from nnlab.data.source import Part, Source, check_counts, check_image_shape, check_label_range, integer_labels
from nnlab.errors import NnlabError


class _CIFAR10(tvd.CIFAR10):
    """CIFAR10 whose load-time integrity check is presence only (download still verifies the archive MD5)."""

    train_list = [[name, None] for name, _ in tvd.CIFAR10.train_list]
    test_list = [[name, None] for name, _ in tvd.CIFAR10.test_list]
    meta = {**tvd.CIFAR10.meta, "md5": None}


class _CIFAR100(tvd.CIFAR100):
    """CIFAR100 with the same presence-only load check as ``_CIFAR10``."""

    train_list = [[name, None] for name, _ in tvd.CIFAR100.train_list]
    test_list = [[name, None] for name, _ in tvd.CIFAR100.test_list]
    meta = {**tvd.CIFAR100.meta, "md5": None}


class _SVHN(tvd.SVHN):
    """SVHN whose load-time check is presence only; download (when the file is absent) verifies MD5."""

    def _check_integrity(self) -> bool:
        return os.path.isfile(os.path.join(self.root, self.filename))

    def download(self) -> None:
        if not self._check_integrity():
            super().download()


_MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"]


@dataclass(frozen=True)
class TorchvisionSpec:
    """How one torchvision dataset is laid out and read."""

    name: str
    cls: Any
    folder: str  # relative to the root; "" = the root itself
    files: dict  # part ("pool"/"test") -> files (relative to folder) torchvision needs for that part
    classes: tuple
    channels: int
    size: int

    def kwargs(self, part: str) -> dict:
        if self.cls is _SVHN:
            return {"split": "train" if part == "pool" else "test"}
        return {"train": part == "pool"}


_CIFAR10_FILES = [n for n, _ in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list] + [tvd.CIFAR10.meta["filename"]]
_CIFAR100_FILES = [n for n, _ in tvd.CIFAR100.train_list + tvd.CIFAR100.test_list] + [tvd.CIFAR100.meta["filename"]]

SPECS: dict[str, TorchvisionSpec] = {
    "cifar10": TorchvisionSpec("cifar10", _CIFAR10, "cifar-10-batches-py",
                               {"pool": _CIFAR10_FILES, "test": _CIFAR10_FILES}, tuple(CIFAR10_CLASSES), 3, 32),
    "cifar100": TorchvisionSpec("cifar100", _CIFAR100, "cifar-100-python",
                                {"pool": _CIFAR100_FILES, "test": _CIFAR100_FILES}, tuple(CIFAR100_CLASSES), 3, 32),
    "svhn": TorchvisionSpec("svhn", _SVHN, "", {"pool": ["train_32x32.mat"], "test": ["test_32x32.mat"]},
                            tuple(DIGIT_CLASSES), 3, 32),
    "mnist": TorchvisionSpec("mnist", tvd.MNIST, "MNIST/raw", {"pool": _MNIST_FILES, "test": _MNIST_FILES},
                             tuple(DIGIT_CLASSES), 1, 28),
    "fashion-mnist": TorchvisionSpec("fashion-mnist", tvd.FashionMNIST, "FashionMNIST/raw",
                                     {"pool": _MNIST_FILES, "test": _MNIST_FILES}, tuple(FASHION_CLASSES), 1, 28),
}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@lru_cache(maxsize=4)
def _read(name: str, root: str, part: str, stamp: tuple) -> tuple[torch.Tensor, np.ndarray, list[str] | None]:
    """Images (uint8 N×C×H×W), labels and (CIFAR only) class names of one part, each file checked for consistency."""
    spec = SPECS[name]
    if spec.cls in (_CIFAR10, _CIFAR100):
        return _read_cifar(spec.cls, Path(root), part)
    if spec.cls is _SVHN:
        return _read_svhn(Path(root) / f"{'train' if part == 'pool' else 'test'}_32x32.mat", len(spec.classes))
    folder = Path(root) / spec.folder
    prefix = "train" if part == "pool" else "t10k"
    return _read_idx_pair(folder / f"{prefix}-images-idx3-ubyte", folder / f"{prefix}-labels-idx1-ubyte", spec)


def _read_cifar(cls: Any, root: Path, part: str) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """CIFAR batches in torchvision's layout, each read with the restricted unpickler (never ``pickle.load``)."""
    folder = root / cls.base_folder
    meta_file = folder / cls.meta["filename"]
    meta = _entries(meta_file, cls.meta["key"])
    classes = [str(c) for c in meta[cls.meta["key"]]]
    if not classes:
        raise NnlabError(f"{meta_file} names no classes")
    data, targets = [], []
    for file_name, _ in cls.train_list if part == "pool" else cls.test_list:
        path = folder / file_name
        entry = _entries(path, "data")
        key = "labels" if "labels" in entry else "fine_labels"
        if key not in entry:
            raise NnlabError(f"{path} has no 'labels' (CIFAR-10) or 'fine_labels' (CIFAR-100) entry")
        rows = np.asarray(entry["data"])
        if rows.ndim != 2:
            raise NnlabError(f"{path}: its data is an array of {rows.ndim} dimensions; CIFAR stores one row per image")
        check_image_shape(str(path), rows.shape[1:], (3072,), "3×32×32 values per row")
        if rows.dtype != np.uint8:
            raise NnlabError(f"{path}: its images must be bytes (uint8), found {rows.dtype} values")
        labels = integer_labels(str(path), entry[key])
        check_counts(str(path), len(rows), len(labels))
        check_label_range(str(path), labels, len(classes))
        data.append(rows)
        targets.append(labels)
    images = torch.from_numpy(np.ascontiguousarray(np.vstack(data).reshape(-1, 3, 32, 32)))
    return images, np.concatenate(targets), classes


def _entries(path: Path, key: str) -> dict:
    """A CIFAR pickle (a plain mapping) that must hold ``key``."""
    entry = load_plain_pickle(path)
    if not isinstance(entry, dict) or key not in entry:
        raise NnlabError(f"{path} is not a CIFAR file in torchvision's layout (it has no {key!r} entry)")
    return entry


def _read_svhn(path: Path, n_classes: int) -> tuple[torch.Tensor, np.ndarray, None]:
    """An SVHN .mat file: X is H×W×C×N uint8, y holds N labels 1..10 (10 standing for the digit 0)."""
    import scipy.io

    loaded = scipy.io.loadmat(str(path))
    if "X" not in loaded or "y" not in loaded:
        raise NnlabError(f"{path} is not an SVHN file (it needs the variables X and y)")
    x, y = np.asarray(loaded["X"]), np.asarray(loaded["y"])
    if x.ndim != 4:
        raise NnlabError(f"{path}: X is an array of {x.ndim} dimensions; SVHN stores 32×32×3×N images")
    check_image_shape(f"{path} (X)", x.shape[:3], (32, 32, 3), "height×width×channels, N last")
    if x.dtype != np.uint8:
        raise NnlabError(f"{path}: its images must be bytes (uint8), found {x.dtype} values")
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    labels = integer_labels(f"{path} (y)", y)
    check_counts(f"{path} (X)", x.shape[3], len(labels), "y")
    labels = np.where(labels == 10, 0, labels)  # SVHN's 10 is the digit 0 (torchvision reads 0 as 0 too)
    check_label_range(f"{path} (y, with 10 read as 0)", labels, n_classes)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))), labels, None


def _read_idx_pair(images_file: Path, labels_file: Path,
                   spec: TorchvisionSpec) -> tuple[torch.Tensor, np.ndarray, None]:
    """An MNIST-style pair of idx files: N×28×28 uint8 images and N uint8 labels."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    arrays = []
    for path in (images_file, labels_file):
        try:
            arrays.append(read_sn3_pascalvincent_tensor(str(path), strict=True))
        except Exception as exc:  # torchvision asserts on a bad header or a body of the wrong length
            raise NnlabError(f"could not read {path} as an idx file ({_reason(exc)}); delete the damaged files "
                             f"and download again") from None
    images, labels = arrays
    if images.dim() != 3:
        raise NnlabError(f"{images_file} holds a {images.dim()}-dimensional array; the format needs N×28×28 images")
    check_image_shape(str(images_file), tuple(images.shape[1:]), (spec.size, spec.size))
    if images.dtype != torch.uint8 or labels.dtype != torch.uint8:
        raise NnlabError(f"{images_file if images.dtype != torch.uint8 else labels_file} must hold bytes (uint8), "
                         f"found {images.dtype if images.dtype != torch.uint8 else labels.dtype}")
    targets = integer_labels(str(labels_file), labels.numpy())
    check_counts(str(images_file), len(images), len(targets), str(labels_file))
    check_label_range(str(labels_file), targets, len(spec.classes))
    return images.unsqueeze(1).contiguous(), targets, None


class TorchvisionSource(Source):
    """One of SPECS under a data root; reads lazily, only the part asked for."""

    def __init__(self, spec: TorchvisionSpec, root: Path, download: bool):
        self.spec = spec
        self.root = root
        self.download = download
        self.classes = list(spec.classes)

    @property
    def folder(self) -> Path:
        return self.root / self.spec.folder if self.spec.folder else self.root

    def info(self) -> DatasetInfo:
        mean, std = TORCHVISION_STATS[self.spec.name]
        return DatasetInfo(self.spec.name, list(self.classes), self.spec.channels, self.spec.size,
                           list(mean), list(std))

    def _missing(self, part: str) -> list[str]:
        return [f for f in self.spec.files[part] if not (self.folder / f).is_file()]

    def _fetch(self, part: str) -> None:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.spec.cls(str(self.root), download=True, **self.spec.kwargs(part))
        except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError/...; never let it escape
            raise NnlabError(f"downloading {self.spec.name} into {self.folder} failed ({_reason(exc)}); check the "
                             f"network or place the files there by hand") from None

    def part(self, which: str) -> Part | None:
        if which == "val":
            return None
        missing = self._missing(which)
        if missing and self.download:
            self._fetch(which)
            missing = self._missing(which)
        if missing:
            hint = f"point the data root at the folder that holds {self.spec.folder.split('/')[0]}/" \
                if self.spec.folder else "point the data root at the folder that holds them"
            raise NnlabError(f"dataset {self.spec.name} is not available offline: {self.folder} must contain "
                             f"{', '.join(missing)}; download it (download=True), or {hint}")
        stamp = tuple((f, (self.folder / f).stat().st_mtime_ns, (self.folder / f).stat().st_size)
                      for f in self.spec.files[which])
        try:
            images, targets, classes = _read(self.spec.name, str(self.root), which, stamp)
        except NnlabError:
            raise
        except Exception as exc:  # a damaged or foreign file: report it, never torchvision's traceback
            raise NnlabError(f"could not read {self.spec.name} from {self.folder} ({_reason(exc)}); delete the "
                             f"damaged files and download again") from None
        if classes:
            self.classes = classes
        return Part(targets=targets, positions=np.arange(len(targets), dtype=np.int64), images=images)
