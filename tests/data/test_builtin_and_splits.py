"""digits / mnist5k shapes, the fixed test carve, seeded stratified train/val, fraction and limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.data import dataset_info, load_dataset


@pytest.mark.parametrize("name, total, size, test_n", [("digits", 1797, 8, 360), ("mnist5k", 5000, 28, 1000)])
def test_builtin_shapes_and_sizes(name, total, size, test_n):
    splits = {s: load_dataset(name, s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == total
    assert len(splits["test"]) == test_n
    all_idx = np.concatenate([d.indices for d in splits.values()])
    assert sorted(all_idx) == list(range(total))  # the three splits partition the bundled array
    x, y = splits["train"][0]
    assert x.shape == (1, size, size) and x.dtype == torch.float32 and isinstance(y, int)
    images, labels = splits["val"].as_tensors()
    assert images.shape == (len(splits["val"]), 1, size, size) and labels.dtype == torch.int64
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0 and float(images.max()) > 0.9
    info = dataset_info(name)
    assert info.classes == [str(i) for i in range(10)] and info.channels == 1 and info.image_size == size
    assert 0.05 < info.mean[0] < 0.5 and 0.2 < info.std[0] < 0.5


def test_digits_pixels_are_sklearn_over_16():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = load_dataset("digits", "test")
    images, labels = ds.as_tensors()
    expected = torch.from_numpy(ref.images[ds.indices] / 16.0).float().unsqueeze(1)
    assert torch.allclose(images, expected) and labels.tolist() == ref.target[ds.indices].tolist()


def test_test_split_is_fixed_and_independent_of_seed():
    a = load_dataset("digits", "test", seed=0)
    b = load_dataset("digits", "test", seed=123, val_fraction=0.3)
    assert np.array_equal(a.indices, b.indices)
    assert np.bincount(a.targets).min() >= 35  # stratified: 20 % of ~180 per class


def test_val_is_seeded_disjoint_and_stratified():
    t0, v0 = load_dataset("mnist5k", "train", seed=0), load_dataset("mnist5k", "val", seed=0)
    v0_again = load_dataset("mnist5k", "val", seed=0)
    v1 = load_dataset("mnist5k", "val", seed=1)
    assert np.array_equal(v0.indices, v0_again.indices)
    assert not np.array_equal(v0.indices, v1.indices)
    assert not set(t0.indices) & set(v0.indices)
    assert np.bincount(v0.targets).tolist() == [40] * 10  # 10 % of 400 per class, exactly kept
    v = load_dataset("mnist5k", "val", val_fraction=0.25)
    assert len(v) == 1000 and np.bincount(v.targets).tolist() == [100] * 10


def test_stratification_keeps_class_proportions_on_unbalanced_digits():
    pool = np.concatenate([load_dataset("digits", s).targets for s in ("train", "val")])
    val = load_dataset("digits", "val", val_fraction=0.2, seed=3)
    expected = np.bincount(pool) * 0.2
    assert np.abs(np.bincount(val.targets) - expected).max() <= 1.0


def test_fraction_and_limit_are_stratified_seeded_subsets():
    train = load_dataset("mnist5k", "train")
    sub = load_dataset("mnist5k", "train", fraction=0.1)
    assert len(sub) == 360 and np.bincount(sub.targets).tolist() == [36] * 10
    assert set(sub.indices) <= set(train.indices)
    lim = load_dataset("mnist5k", "train", limit=50, seed=4)
    assert len(lim) == 50 and np.bincount(lim.targets).tolist() == [5] * 10
    assert np.array_equal(lim.indices, load_dataset("mnist5k", "train", limit=50, seed=4).indices)
    assert not np.array_equal(lim.indices, load_dataset("mnist5k", "train", limit=50, seed=5).indices)
    assert len(load_dataset("digits", "test", limit=10_000)) == 360  # a limit above the size keeps everything
    assert len(load_dataset("digits", "test", fraction=1.0)) == 360


def test_resize_and_grey_to_rgb_are_precomputed_and_adapt_info():
    ds = load_dataset("digits", "train", image_size=32, channels=3)
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and torch.equal(x[0], x[2])
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert ds.info.channels == 3 and ds.info.image_size == 32 and len(ds.info.mean) == 3
    assert ds.cache == "float32"  # the resized tensor was computed once, __getitem__ only indexes it
    images, _ = ds.as_tensors()
    assert torch.equal(images[0], x)


def test_rgb_to_grey_uses_luma(cifar10_root):
    root, ref = cifar10_root
    ds = load_dataset("cifar10", "test", root=root, channels=1)
    x, _ = ds[0]
    rgb = torch.from_numpy(ref["x_test"][0]).float() / 255
    assert x.shape == (1, 32, 32)
    # uint8 source → uint8 cache of the converted images: within half a grey level
    assert torch.allclose(x[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], atol=0.5 / 255 + 1e-6)
    assert len(ds.info.mean) == 1


def test_dataloader_batches_and_pickles():
    import pickle

    from torch.utils.data import DataLoader

    ds = load_dataset("mnist5k", "val", limit=30)
    xb, yb = next(iter(DataLoader(pickle.loads(pickle.dumps(ds)), batch_size=16)))
    assert xb.shape == (16, 1, 28, 28) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert torch.equal(xb, ds.as_tensors()[0][:16])


def test_pad_mode_centres_mnist_on_a_larger_canvas():
    plain = load_dataset("mnist5k", "test", limit=10)
    padded = load_dataset("mnist5k", "test", limit=10, image_size=32, resize="pad")
    x, x32 = plain[0][0], padded[0][0]
    assert x32.shape == (1, 32, 32) and torch.equal(x32[:, 2:30, 2:30], x)
    assert float(x32[:, :2].abs().sum()) == 0.0
    cropped = load_dataset("mnist5k", "test", limit=10, image_size=20, resize="pad")
    assert torch.equal(cropped[0][0], x[:, 4:24, 4:24])


def _sklearn_split(targets, n_take, seed):
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(targets), dtype=np.int64)
    try:
        keep, take = train_test_split(positions, test_size=n_take, stratify=targets, random_state=seed)
    except ValueError:
        keep, take = train_test_split(positions, test_size=n_take, stratify=None, random_state=seed)
    return np.sort(keep), np.sort(take)


def test_splits_draw_the_same_rows_as_scikit_learns_train_test_split():
    """nnlab.data.splits replays StratifiedShuffleSplit / ShuffleSplit without importing scikit-learn; every
    split of these varied label sets (balanced, skewed, singleton classes, more classes than rows taken) must
    be the one scikit-learn draws."""
    from nnlab.data.splits import _split

    rng = np.random.default_rng(0)
    label_sets = [
        np.repeat(np.arange(10), 180)[:1797],
        rng.integers(0, 10, 500),
        rng.choice(7, 300, p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05]),
        np.array([0] * 40 + [1] * 3 + [2]),  # a singleton class: unstratified
        rng.integers(0, 50, 120),
        np.array(["cat", "dog", "cat", "eel", "dog", "eel", "cat", "dog"]),
    ]
    for targets in label_sets:
        n = len(targets)
        for n_take in sorted({1, 2, 5, n // 10 or 1, n // 5, n // 2, n - 3, n - 1}):
            for seed in (0, 1, 20240601):
                ours = _split(targets, n_take, seed)
                theirs = _sklearn_split(targets, n_take, seed)
                assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1]), (n, n_take, seed)
