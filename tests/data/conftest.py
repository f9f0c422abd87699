"""Writers of TINY datasets in the real on-disk formats torchvision reads (no downloads, no network)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from nnlab.data.info import CIFAR10_CLASSES, CIFAR100_CLASSES


def _balanced(n_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.tile(np.arange(n_classes), per_class)).astype(np.int64)


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_class_train: int = 5, per_class_test: int = 2) -> dict:
    """ROOT/cifar-10-batches-py/ with 5 training batches, test_batch and batches.meta (python pickles)."""
    rng = np.random.default_rng(10)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    y_train = _balanced(10, per_class_train, rng)
    x_train = rng.integers(0, 256, (len(y_train), 3, 32, 32), dtype=np.uint8)
    for b, rows in enumerate(np.array_split(np.arange(len(y_train)), 5), start=1):
        _pickle(folder / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5",
                                             "labels": y_train[rows].tolist(),
                                             "data": x_train[rows].reshape(len(rows), 3072),
                                             "filenames": [f"img_{i}.png" for i in rows]})
    y_test = _balanced(10, per_class_test, rng)
    x_test = rng.integers(0, 256, (len(y_test), 3, 32, 32), dtype=np.uint8)
    _pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": y_test.tolist(),
                                    "data": x_test.reshape(len(y_test), 3072),
                                    "filenames": [f"t_{i}.png" for i in range(len(y_test))]})
    _pickle(folder / "batches.meta", {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": 10, "num_vis": 3072})
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_cifar100(root: Path) -> dict:
    """ROOT/cifar-100-python/{train,test,meta} with fine and coarse labels."""
    rng = np.random.default_rng(100)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for name, per_class in (("train", 2), ("test", 1)):
        y = _balanced(100, per_class, rng)
        x = rng.integers(0, 256, (len(y), 3, 32, 32), dtype=np.uint8)
        _pickle(folder / name, {"filenames": [f"{name}_{i}.png" for i in range(len(y))], "batch_label": name,
                                "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist(),
                                "data": x.reshape(len(y), 3072)})
        out[f"x_{name}"], out[f"y_{name}"] = x, y
    _pickle(folder / "meta", {"fine_label_names": CIFAR100_CLASSES,
                              "coarse_label_names": [f"super{i}" for i in range(20)]})
    return out


def write_svhn(root: Path, per_class_train: int = 3, per_class_test: int = 1) -> dict:
    """ROOT/{train,test}_32x32.mat: X is H×W×C×N uint8, y is N×1 with 10 standing for the digit 0."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, per_class in (("train", per_class_train), ("test", per_class_test)):
        y = _balanced(10, per_class, rng)
        x = rng.integers(0, 256, (len(y), 3, 32, 32), dtype=np.uint8)
        y_file = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(root / f"{name}_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": y_file})
        out[f"x_{name}"], out[f"y_{name}"] = x, y
    return out


def _write_idx(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | array.ndim))  # 0x08 = unsigned byte
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", per_class_train: int = 4, per_class_test: int = 2) -> dict:
    """ROOT/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (uncompressed idx files)."""
    rng = np.random.default_rng(28)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, name, per_class in (("train", "train", per_class_train), ("t10k", "test", per_class_test)):
        y = _balanced(10, per_class, rng)
        x = rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
        out[f"x_{name}"], out[f"y_{name}"] = x, y
    return out


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_cifar10(tmp_path)


@pytest.fixture
def cifar100_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_cifar100(tmp_path)


@pytest.fixture
def svhn_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_svhn(tmp_path)


@pytest.fixture
def mnist_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_mnist(tmp_path, "MNIST")


@pytest.fixture
def fashion_root(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_mnist(tmp_path, "FashionMNIST")
