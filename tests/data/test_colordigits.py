"""The built-in colordigits dataset: deterministic generation, caching, fixed disjoint splits."""

from __future__ import annotations

import numpy as np

from nnlab.data import load_dataset
from nnlab.data.builtin import mnist5k_source
from nnlab.data.colordigits import cache_path, colordigits_images, generate_colordigits


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
