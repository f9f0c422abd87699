from __future__ import annotations

import numpy as np
import pytest

from nnlab.analysis import forward_ranking
from tests.analysis import _brute


@pytest.mark.parametrize("list_size,max_pending,lazy_after", [(3, 0, 0), (5, 2, 0), (8, 5, 3), (12, 1000, 2), (6, 3, 5)])
def test_lazy_rows_and_short_lists_stay_exact(list_size, max_pending, lazy_after):
    # short neighbour lists and stale distance rows force every path: list updates, rebuilds, pending sums
    rng = np.random.default_rng(21)
    n, d = 60, 8
    y = rng.integers(0, 3, n)
    for X, normalize in ((_brute.tie_heavy(rng, n, d), True), (rng.standard_normal((n, d)), True),
                         (rng.integers(0, 3, (n, d)).astype(np.float64), False)):
        features, sis = _brute.greedy_ranking(X, y, normalize=normalize)
        got = forward_ranking(X, y, normalize=normalize, neighbors=2, walk_budget=2, list_size=list_size,
                              max_pending=max_pending, lazy_after=lazy_after)
        assert got.features == features
        assert got.si == pytest.approx(sis, abs=1e-12)
        assert sum(got.stats["step_rebuilt_rows"]) >= n  # the first step builds every row
