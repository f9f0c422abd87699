from __future__ import annotations

import numpy as np
import pytest
import torch

import nnlab.analysis.neighbours as neighbours
from nnlab.analysis import (
    anti_si,
    center_separation_index,
    high_order_si,
    nearest_neighbors,
    separation_index,
    separation_indices,
    soft_order_si,
)
from nnlab.errors import NnlabError
from tests.analysis import _brute

DATA = _brute.cases(0, 6, (20, 45), (1, 9))


@pytest.fixture(autouse=True, params=["float32", "bfloat16"])
def gemm_operands(request, monkeypatch):
    """Every test with float32 and with bfloat16 GEMM operands (each with its own error bound): the same results."""
    monkeypatch.setattr(neighbours, "GEMM_OPERANDS", request.param)
    return request.param


@pytest.mark.parametrize("name,X,y,normalize", DATA, ids=[d[0] for d in DATA])
def test_all_indices_match_brute_force(name, X, y, normalize):
    k = 3
    expected = _brute.indices(X, y, k, normalize=normalize)
    got = separation_indices(X, y, orders=(1, k), normalize=normalize, block_rows=7)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert got["high_order_si_1"] == pytest.approx(expected["si"], abs=1e-12)


def test_single_functions_agree_with_brute_force_on_ties():
    rng = np.random.default_rng(5)
    X = _brute.tie_heavy(rng, 40, 5)
    y = rng.integers(0, 4, 40)
    ref = _brute.indices(X, y, 2)
    assert separation_index(X, y, block_rows=3) == pytest.approx(ref["si"])
    assert center_separation_index(X, y) == pytest.approx(ref["csi"])
    assert high_order_si(X, y, 2) == pytest.approx(ref["high_order_si_2"])
    assert soft_order_si(X, y, 2) == pytest.approx(ref["soft_order_si_2"])
    assert anti_si(X, y, 2) == pytest.approx(ref["anti_si_2"])


def test_neighbours_ties_go_to_lowest_index_across_blocks():
    # rows 0, 3, 5 and 8 are identical: each one's nearest is the lowest other index of the group
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((12, 4))
    Z[[3, 5, 8]] = Z[0]
    Zt = torch.tensor(Z)
    idx, dist = nearest_neighbors(Zt, 3, block_rows=2)
    assert idx[0].tolist() == [3, 5, 8]
    assert idx[5].tolist() == [0, 3, 8]
    assert idx[8].tolist() == [0, 3, 5]
    assert torch.all(dist[[0, 3, 5, 8]] == 0)
    assert idx.tolist() == _brute.neighbours(Z, 3).tolist()


def test_memory_budget_forces_blocks_and_same_result():
    rng = np.random.default_rng(2)
    X = _brute.tie_heavy(rng, 60, 6)
    y = rng.integers(0, 3, 60)
    tiny = separation_indices(X, y, orders=(2,), memory_budget_mb=0.001)
    big = separation_indices(X, y, orders=(2,))
    assert tiny == big


def test_torch_input_and_normalize_off():
    X = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert separation_index(X, y, normalize=False) == 1.0
    assert separation_index(X, torch.tensor([0, 1, 0, 1]), normalize=False) == 0.0


def test_scale_invariance_of_normalized_si():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 2, 30)
    X2 = X * np.array([1.0, 1000.0, 0.001])
    assert separation_index(X, y) == pytest.approx(separation_index(X2, y))


@pytest.mark.parametrize(
    "X,y,match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN or Inf"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), [0, 1], "NaN or Inf"),
        (np.zeros((4, 2)), [1, 1, 1, 1], "2 classes"),
        (np.zeros((1, 2)), [0], "at least 2 samples"),
        (np.zeros((3, 2)), [0, 1], "3 rows but there are 2 labels"),
    ],
)
def test_bad_inputs_raise_one_clear_error(X, y, match):
    with pytest.raises(NnlabError, match=match):
        separation_index(X, y)


def test_order_larger_than_samples_is_an_error():
    with pytest.raises(NnlabError, match="order 5"):
        high_order_si(np.eye(3), [0, 1, 0], 5)


def _torch_nearest(Z: torch.Tensor) -> torch.Tensor:
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    D.fill_diagonal_(float("inf"))
    return D.argmin(dim=1)  # the first (lowest) index among equal minima


def test_symmetric_gram_over_several_sub_blocks_and_ties_matches_brute_force():
    # more than 1,024 rows: the upper block triangle is multiplied in several sub-blocks and mirrored
    rng = np.random.default_rng(7)
    X = _brute.tie_heavy(rng, 1100, 4)
    Z = torch.tensor(_brute.zscore(X))
    idx, _ = nearest_neighbors(Z, 1)
    assert torch.equal(idx[:, 0], _torch_nearest(Z))
    blocked, _ = nearest_neighbors(Z, 1, block_rows=300)  # row blocks, no symmetry
    assert torch.equal(blocked, idx)


def test_values_too_large_for_float32_fall_back_to_float64_exactly():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((40, 3)) * 1e20
    X[5] = X[9]
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    expected = _brute.indices(X, y, 2, normalize=False)
    got = separation_indices(X, y, orders=(2,), normalize=False)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize(
    "n,dim,budget",
    [(50, 40, 0.05), (50, 40, 0.03), (30, 2100, 0.01)],
    ids=["one-chunk", "streamed-chunks", "matrix-chunks"],
)
def test_feature_chunks_give_the_same_indices(n, dim, budget):
    # a tiny memory budget splits the features into GEMM chunks (wider float32 bound, more re-checks): all tiles
    # accumulated in one pass over the features, or each tile from the float values made once
    rng = np.random.default_rng(9)
    X = _brute.tie_heavy(rng, n, dim)
    y = rng.integers(0, 3, n)
    expected = _brute.indices(X, y, 2)
    got = separation_indices(X, y, orders=(2,), memory_budget_mb=budget)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_input_features_are_not_modified():
    X = torch.rand(30, 5, dtype=torch.float64)
    before = X.clone()
    separation_indices(X, torch.arange(30) % 3, orders=(2,))
    assert torch.equal(X, before)
