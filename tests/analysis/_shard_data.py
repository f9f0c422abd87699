"""The data of the sharded-index test, the same in the torchrun workers and in the test process."""

from __future__ import annotations

import numpy as np

from tests.analysis import _brute


def sharded_case() -> tuple[np.ndarray, np.ndarray]:
    """300 tie-heavy rows (duplicates, all-zero rows, ReLU zeros) of 12 features, 4 classes."""
    rng = np.random.default_rng(11)
    X = _brute.tie_heavy(rng, 300, 12)
    y = rng.integers(0, 4, 300)
    return X, y
