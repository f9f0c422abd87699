"""Brute-force reference implementations of the separation indices, written independently of nnlab."""

from __future__ import annotations

import numpy as np


def zscore(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + 1e-10)


def sqdist(Z: np.ndarray) -> np.ndarray:
    """Difference-based float64 squared distances, diagonal set to +inf."""
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(D, np.inf)
    return D


def neighbours(Z: np.ndarray, k: int) -> np.ndarray:
    """k nearest other samples of every row, ordered by (distance, index)."""
    D = sqdist(Z)
    n = Z.shape[0]
    return np.array([sorted(range(n), key=lambda j: (D[i, j], j))[:k] for i in range(n)])


def indices(X, y, k: int, normalize: bool = True) -> dict[str, float]:
    Z = zscore(X) if normalize else np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    nb = neighbours(Z, k)
    same = y[nb] == y[:, None]
    classes = np.unique(y)
    means = np.stack([Z[y == c].mean(axis=0) for c in classes])
    dm = ((Z[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    nearest_mean = np.array([min(range(len(classes)), key=lambda c: (dm[i, c], c)) for i in range(len(y))])
    return {
        "si": same[:, 0].mean(),
        "csi": (classes[nearest_mean] == y).mean(),
        f"high_order_si_{k}": same.all(axis=1).mean(),
        f"soft_order_si_{k}": same.mean(axis=1).mean(),
        f"anti_si_{k}": (~same).all(axis=1).mean(),
    }


def greedy_ranking(X, y, normalize: bool = True, steps: int | None = None) -> tuple[list[int], list[float]]:
    """Greedy forward selection straight from the definition; distances summed feature by feature in
    selection order, nearest neighbour = lowest index among the nearest, ties between features -> lowest index."""
    Z = zscore(X) if normalize else np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n, d = Z.shape
    acc = np.zeros((n, n))
    chosen: list[int] = []
    sis: list[float] = []
    for _ in range(steps or d):
        best, best_f = -1, -1
        for f in range(d):
            if f in chosen:
                continue
            diff = Z[:, f][:, None] - Z[:, f][None, :]
            cand = acc + diff * diff
            np.fill_diagonal(cand, np.inf)
            correct = int((y[np.argmin(cand, axis=1)] == y).sum())  # argmin: first = lowest index
            if correct > best:
                best, best_f = correct, f
        chosen.append(best_f)
        sis.append(best / n)
        diff = Z[:, best_f][:, None] - Z[:, best_f][None, :]
        acc = acc + diff * diff
    return chosen, sis


def tie_heavy(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """ReLU-like data: about half the entries exactly zero, a quarter of the rows duplicated, some all-zero rows."""
    X = np.maximum(rng.standard_normal((n, d)), 0.0)
    X[rng.random((n, d)) < 0.3] = 0.0
    q = n // 4
    X[n - q :] = X[rng.integers(0, n - q, q)]
    X[1] = 0.0
    X[2] = 0.0
    return X


def cases(seed: int, rounds: int, n_range: tuple[int, int], d_range: tuple[int, int]):
    """Test data sets as (name, X, y, normalize): per round a random, a tie-heavy and an integer-grid set.

    The grid sets are compared without normalization, where equal real distances stay equal in float64.
    """
    rng = np.random.default_rng(seed)
    out = []
    for t in range(rounds):
        n, d = int(rng.integers(*n_range)), int(rng.integers(*d_range))
        y = rng.integers(0, 3, n)
        y[:2] = [0, 1]
        out.append((f"random{t}", rng.standard_normal((n, d)), y, True))
        out.append((f"ties{t}", tie_heavy(rng, n, d), y, True))
        out.append((f"grid{t}", rng.integers(0, 3, (n, d)).astype(np.float64), y, False))
    return out
