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
    # tiny lists and pending limits: rows go stale, lists leave their radii and rows are brought up to date often;
    # lazy_after: the first steps update the whole matrix, as in the default set-up
    for lazy in (
        {"list_size": 2, "max_pending": 2},
        {"list_size": 3, "max_pending": 5, "lazy_after": 4, "top_columns": 2},
    ):
        got = forward_ranking(X, y, normalize=normalize, neighbors=4, walk_budget=3, **lazy)
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


def _cnn_like(seed, n, d, classes, spread, shift, duplicated):
    """ReLU-like features with class structure; the last ``duplicated`` rows repeat the first ones."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = np.maximum(rng.standard_normal((classes, d))[y] * spread + rng.standard_normal((n, d)) - shift, 0.0)
    if duplicated:
        X[n - duplicated :] = X[:duplicated]
    return X, y


def test_forward_ranking_lazy_rows_on_cnn_like_features():
    # CNN-like features of a size where lists leave their radii and rows wait with pending features
    n, d = 160, 20
    X, y = _cnn_like(13, n, d, 4, 0.8, 0.3, 40)
    features, sis = _brute.greedy_ranking(X, y)
    updated = {}
    settings = {
        "lazy": {"lazy_after": 2},
        "small": {"list_size": 4, "max_pending": 6, "lazy_after": 2, "walk_budget": 3},
        "eager": {"lazy_after": d},
    }
    for name, lazy in settings.items():
        got = forward_ranking(X, y, neighbors=5, **lazy)
        assert got.features == features
        assert got.si == pytest.approx(sis, abs=1e-12)
        updated[name] = got.stats["step_rows_updated"]
    assert all(u == n for u in updated["eager"])
    assert min(updated["lazy"]) < n and min(updated["small"]) < n  # the lazy path was taken
    assert max(got.stats["step_rows_settled"]) > 0  # whole rows were settled at once


def test_catch_up_sums_pending_features_one_by_one_in_order():
    # the row catch-up adds up to eight features per pass; every entry must round as the one-by-one sum does
    from nnlab.analysis import _rank_kernels as K

    rng = np.random.default_rng(14)
    n, d = 2100, 40  # more than one 1,024-column chunk, and a partial one
    z = rng.standard_normal((d, n)) * rng.uniform(0.1, 30.0, (d, 1))
    selected = rng.permutation(d).astype(np.int64)
    for v0, s in [(0, 0), (3, 4), (0, 8), (5, 21), (0, 40)]:
        row = rng.random(n) * 10
        want = row.copy()
        for t in range(v0, s):
            zz = z[selected[t]]
            want = want + (zz[7] - zz) ** 2
        K._catch_up(row, z, selected, v0, s, 7)
        assert np.array_equal(row, want), (v0, s)


def test_forward_ranking_with_more_candidates_than_listed_per_row():
    # more candidates than a row lists for its pair tests: the unlisted ones are settled by one test
    X, y = _cnn_like(15, 150, 60, 3, 0.7, 0.3, 30)
    features, sis = _brute.greedy_ranking(X, y, steps=12)
    for lazy in ({"lazy_after": 2}, {"list_size": 4, "max_pending": 3, "lazy_after": 3, "walk_budget": 3}):
        got = forward_ranking(X, y, max_steps=12, neighbors=5, top_columns=6, **lazy)
        assert got.features == features
        assert got.si == pytest.approx(sis, abs=1e-12)


def test_forward_ranking_with_long_runs_of_equal_values():
    # ReLU-like features that are zero for most samples: runs of equal values longer than the walk searches one by
    # one, in the first steps (distances summed from the features) and later ones (from the matrix)
    X, y = _cnn_like(16, 260, 14, 3, 0.6, 0.9, 0)
    assert (X == 0).mean() > 0.5
    # small integers: equal distances within a run, so the lowest index must win there too
    for data, normalize in ((X, True), (np.round(X * 2), False)):
        features, sis = _brute.greedy_ranking(data, y, normalize=normalize, steps=11)
        for lazy in ({}, {"lazy_after": 2, "list_size": 4, "max_pending": 3, "walk_budget": 3}):
            got = forward_ranking(data, y, normalize=normalize, max_steps=11, neighbors=4, **lazy)
            assert got.features == features
            assert got.si == pytest.approx(sis, abs=1e-12)
