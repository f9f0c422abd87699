"""Each torchvision dataset loads from tiny files written in its real on-disk format, with download=False."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import datasets as tvd

from nnlab.data import load_dataset
from nnlab.data.info import CIFAR10_CLASSES, CIFAR100_CLASSES, FASHION_CLASSES
from nnlab.errors import NnlabError


def _check_pool(name, root, n_pool, **kw):
    train = load_dataset(name, "train", root=root, val_fraction=0.2, **kw)
    val = load_dataset(name, "val", root=root, val_fraction=0.2, **kw)
    assert len(train) + len(val) == n_pool
    assert not set(train.indices) & set(val.indices)
    assert sorted(np.concatenate([train.indices, val.indices])) == list(range(n_pool))
    return train, val


def test_cifar10_python_batches(cifar10_root):
    root, ref = cifar10_root
    train, val = _check_pool("cifar10", root, 50)
    assert train.classes == CIFAR10_CLASSES and train.info.channels == 3 and train.info.image_size == 32
    x, y = val[3]
    i = val.indices[3]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32)
    assert torch.equal(x, torch.from_numpy(ref["x_train"][i]).float() / 255) and y == ref["y_train"][i]
    test = load_dataset("cifar10", "test", root=root)
    images, labels = test.as_tensors()
    assert torch.equal(images, torch.from_numpy(ref["x_test"]).float() / 255)
    assert labels.tolist() == ref["y_test"].tolist()


def test_cifar10_md5_check_is_relaxed_only_in_our_loader(cifar10_root):
    # Stock torchvision rejects the tiny files by their MD5; our subclass checks presence only.
    root, _ = cifar10_root
    with pytest.raises(RuntimeError):
        tvd.CIFAR10(str(root), train=True, download=False)
    assert len(load_dataset("cifar10", "test", root=root, download=True)) == 20  # present: no fetch attempted


def test_cifar100_fine_labels(cifar100_root):
    root, ref = cifar100_root
    train = load_dataset("cifar100", "train", root=root, val_fraction=0.5)
    val = load_dataset("cifar100", "val", root=root, val_fraction=0.5)
    assert len(train.classes) == 100 and train.classes == CIFAR100_CLASSES
    assert np.bincount(val.targets, minlength=100).tolist() == [1] * 100  # stratified: one per class
    test = load_dataset("cifar100", "test", root=root)
    x, y = test[17]
    assert torch.equal(x, torch.from_numpy(ref["x_test"][17]).float() / 255) and y == ref["y_test"][17]
    assert len(train) + len(val) == 200


def test_svhn_mat_files(svhn_root):
    root, ref = svhn_root
    train, _ = _check_pool("svhn", root, 30)
    assert train.classes == [str(i) for i in range(10)]
    test = load_dataset("svhn", "test", root=root, download=True)  # present: our download() leaves it alone
    images, labels = test.as_tensors()
    assert labels.tolist() == ref["y_test"].tolist()  # the file's 10 came back as 0
    assert 0 in labels.tolist()
    assert torch.equal(images, torch.from_numpy(ref["x_test"]).float() / 255)  # H×W×C×N orientation undone


@pytest.mark.parametrize("name, fixture, classes", [
    ("mnist", "mnist_root", [str(i) for i in range(10)]),
    ("fashion-mnist", "fashion_root", FASHION_CLASSES),
])
def test_mnist_idx_files(name, fixture, classes, request):
    root, ref = request.getfixturevalue(fixture)
    train, val = _check_pool(name, root, 40)
    assert train.classes == classes and train.info.channels == 1 and train.info.image_size == 28
    x, y = train[5]
    i = train.indices[5]
    assert x.shape == (1, 28, 28)
    assert torch.equal(x[0], torch.from_numpy(ref["x_train"][i]).float() / 255) and y == ref["y_train"][i]
    rgb = load_dataset(name, "test", root=root, channels=3, image_size=32)
    x3, _ = rgb[0]
    assert x3.shape == (3, 32, 32) and torch.equal(x3[0], x3[1]) and torch.equal(x3[1], x3[2])
    assert rgb.info.mean == [train.info.mean[0]] * 3


@pytest.mark.parametrize("name, folder, first_file", [
    ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ("cifar100", "cifar-100-python", "train"),
    ("svhn", "", "train_32x32.mat"),
    ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
    ("fashion-mnist", "FashionMNIST/raw", "train-images-idx3-ubyte"),
])
def test_absent_offline_names_the_folder_and_files(tmp_path, name, folder, first_file):
    root = tmp_path / "nowhere"
    with pytest.raises(NnlabError) as err:
        load_dataset(name, "train", root=root)
    msg = str(err.value)
    assert str(root / folder if folder else root) in msg
    assert first_file in msg and "download=True" in msg and "data root" in msg
    assert "\n" not in msg
    assert not root.exists()  # nothing created, nothing fetched


def test_corrupt_file_is_one_clear_error(cifar10_root):
    root, _ = cifar10_root
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(NnlabError, match="could not read cifar10"):
        load_dataset("cifar10", "test", root=root)


def test_default_root_comes_from_environment(monkeypatch, mnist_root):
    root, _ = mnist_root
    from nnlab.data import default_data_root

    monkeypatch.setenv("NNLAB_DATA", str(root))
    assert default_data_root() == root
    assert len(load_dataset("mnist", "test")) == 20
    monkeypatch.delenv("NNLAB_DATA")
    assert str(default_data_root()) == "data"
