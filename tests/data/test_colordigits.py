"""The built-in colordigits dataset: deterministic generation, caching, fixed disjoint splits."""

from __future__ import annotations

import numpy as np

from nnlab.data import load_dataset
from nnlab.data.builtin import mnist5k_source
from nnlab.data.colordigits import (
    cache_path,
    colordigits_images,
    colordigits_large_images,
    colordigits_large_source,
    colordigits_source,
    generate_colordigits,
    generate_colordigits_large,
    large_cache_path,
)


def _digits() -> np.ndarray:
    return mnist5k_source().full.images[:, 0].numpy()


def test_same_seed_same_images_other_seed_differs():
    digits, rows = _digits(), range(0, 5000, 400)
    a, b = generate_colordigits(digits, 0, rows), generate_colordigits(digits, 0, rows)
    c = generate_colordigits(digits, 1, rows)
    assert a.shape == (13, 3, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 20  # colour clutter, not a blank canvas


def test_cached_once_and_splits_fixed_and_disjoint(tmp_path):
    images = colordigits_images(tmp_path, seed=0)
    assert cache_path(tmp_path, 0).is_file() and images.shape == (5000, 3, 32, 32)
    assert np.array_equal(images[:12], generate_colordigits(_digits(), 0, range(12)))
    assert np.array_equal(colordigits_images(tmp_path, seed=0), images)  # read back from the cache
    parts = {s: load_dataset("colordigits", s, root=tmp_path) for s in ("train", "val", "test")}
    idx = {s: set(d.indices.tolist()) for s, d in parts.items()}
    assert not idx["train"] & idx["val"] and not idx["train"] & idx["test"] and not idx["val"] & idx["test"]
    assert sum(map(len, idx.values())) == 5000
    assert parts["train"].info.channels == 3 and parts["train"].info.image_size == 32
    # the same digits as mnist5k's fixed test carve, so an mnist5k model never saw a colordigits test digit
    assert idx["test"] == set(load_dataset("mnist5k", "test").indices.tolist())
    x, y = parts["test"][0]
    assert tuple(x.shape) == (3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y == int(mnist5k_source().full.targets[parts["test"].indices[0]])


def test_large_pool_is_deterministic_and_blind_to_digits_outside_it():
    digits = _digits()[:60]
    pool = np.arange(0, 60, 2)
    a = generate_colordigits_large(digits, pool, copies=2)
    assert a.shape == (60, 3, 32, 32) and np.array_equal(a, generate_colordigits_large(digits, pool, copies=2))
    assert not np.array_equal(a[:30], a[30:])  # each copy is a new drawing
    scrambled = digits.copy()
    scrambled[1::2] = np.random.default_rng(5).integers(0, 256, scrambled[1::2].shape, dtype=np.uint8)
    # the digits outside the pool appear nowhere, not even as clutter fragments
    assert np.array_equal(a, generate_colordigits_large(scrambled, pool, copies=2))


def test_large_source_trains_on_non_test_digits_and_tests_on_colordigits_test(tmp_path, monkeypatch):
    monkeypatch.setattr("nnlab.data.colordigits.LARGE_COPIES", 2)  # two drawings of each digit keep the test short
    fake = np.random.default_rng(3).integers(0, 256, (5000, 3, 32, 32), dtype=np.uint8)
    cache_path(tmp_path, 0).parent.mkdir(parents=True)
    with open(cache_path(tmp_path, 0), "wb") as handle:  # stands in for the seed-0 array (generation is slow)
        np.savez(handle, images=fake, targets=mnist5k_source().full.targets)
    images, targets = colordigits_large_images(tmp_path)
    pool = np.sort(mnist5k_source().rest)
    assert large_cache_path(tmp_path, 2).is_file() and images.shape == (8000, 3, 32, 32)
    assert np.array_equal(targets, np.tile(mnist5k_source().full.targets[pool], 2))
    assert not set(pool.tolist()) & set(mnist5k_source().test.tolist())
    assert np.array_equal(images[:5], generate_colordigits_large(_digits(), pool, 1)[:5])
    assert np.array_equal(images[4000:4003], generate_colordigits(_digits(), 2, pool[:3], _digits()[pool]))
    source = colordigits_large_source(tmp_path)
    parts = {s: load_dataset("colordigits-large", s, root=tmp_path) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [7200, 400, 1000]
    assert np.bincount(parts["val"].targets).tolist() == [40] * 10
    # no training image draws a validation digit: rows are copy * 4,000 + position in the pool
    assert not set((parts["train"].indices % 4000).tolist()) & set(parts["val"].indices.tolist())
    small_test = colordigits_source(tmp_path).part("test")
    assert np.array_equal(source.part("test").images.numpy(), small_test.images.numpy())
    assert np.array_equal(parts["test"].targets, small_test.targets)
    assert source.info().name == "colordigits-large" and parts["train"].info.channels == 3
