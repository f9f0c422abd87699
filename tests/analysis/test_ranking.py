from __future__ import annotations

import numpy as np
import pytest

from nnlab.analysis import forward_ranking, separation_index, univariate_ranking
from nnlab.errors import NnlabError
from tests.analysis import _brute

CASES = _brute.cases(10, 4, (25, 50), (3, 9))


@pytest.mark.parametrize("name,X,y,normalize", CASES, ids=[c[0] for c in CASES])
def test_forward_ranking_equals_brute_force_step_by_step(name, X, y, normalize):
    features, sis = _brute.greedy_ranking(X, y, normalize=normalize)
    got = forward_ranking(X, y, normalize=normalize, neighbors=4, walk_budget=3)
    assert got.features == features
    assert got.si == pytest.approx(sis, abs=1e-12)
    assert got.best_step == int(np.argmax(sis)) + 1
    assert got.si_all == pytest.approx(sis[-1])


def test_forward_ranking_class_structured_ties_and_progress():
    # CNN-like: non-negative, many zeros, class structure, many duplicated rows
    rng = np.random.default_rng(11)
    n, d = 80, 10
    y = np.arange(n) % 4
    X = np.maximum(rng.standard_normal((4, d))[y] + rng.standard_normal((n, d)) - 0.5, 0.0)
    X[60:] = X[:20]
    calls = []
    got = forward_ranking(X, y, max_steps=6, progress=lambda s, t, v: calls.append((s, t, v)))
    features, sis = _brute.greedy_ranking(X, y, steps=6)
    assert got.features == features
    assert got.si == pytest.approx(sis, abs=1e-12)
    assert [c[0] for c in calls] == list(range(1, 7)) and all(c[1] == 6 for c in calls)
    assert got.si_all == pytest.approx(separation_index(X, y))


def test_univariate_ranking_matches_per_feature_si():
    rng = np.random.default_rng(12)
    X = _brute.tie_heavy(rng, 40, 6)
    y = rng.integers(0, 3, 40)
    feats, sis = univariate_ranking(X, y)
    own = [_brute.indices(X[:, [f]], y, 1)["si"] for f in range(6)]
    assert sorted(feats) == list(range(6))
    assert sis == pytest.approx([own[f] for f in feats])
    assert feats == sorted(range(6), key=lambda f: (-own[f], f))


def test_ranking_bad_inputs():
    with pytest.raises(NnlabError, match="NaN or Inf"):
        forward_ranking(np.array([[np.nan, 1.0], [0.0, 1.0]]), [0, 1])
    with pytest.raises(NnlabError, match="2 classes"):
        forward_ranking(np.zeros((3, 2)), [0, 0, 0])
    with pytest.raises(NnlabError, match="max_steps"):
        forward_ranking(np.eye(3), [0, 1, 0], max_steps=0)
