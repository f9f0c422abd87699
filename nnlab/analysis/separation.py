"""Kalhor's separation indices (SI, center SI, high-order, soft-order and anti SI), exact, on top of the exact
nearest-neighbour engine :mod:`nnlab.analysis.neighbours`.

Definitions (the whole toolbox relies on them, so they are exact):

* Features ``X`` (N × D) are z-scored per feature by default: ``(x - mean) / (std + 1e-10)`` with the
  standard deviation taken with Bessel's correction, all in float64.
* The distance between two samples is the float64 sum of their squared feature differences
  (Euclidean distance, squared; the square root does not change any ordering).
* The neighbours of a sample are all *other* samples ordered by ``(distance, sample index)``: ties between
  equally near neighbours go to the lowest sample index. Ties between equally near class means go to the
  lowest class label.
* SI: fraction of samples whose nearest neighbour has the same label. High-order SI of order k: fraction whose
  k nearest neighbours all share its label. Soft-order SI: mean fraction of the k nearest that share it.
  Anti-SI of order k: fraction whose k nearest all have other labels. Center SI (CSI): fraction of samples whose
  nearest class mean (means of the normalized features) is the mean of their own class.

The neighbours come from :func:`nnlab.analysis.neighbours.knn` (float32 GEMMs with a rigorous error bound, exact
float64 re-checks where the bound cannot decide, bounded memory, optionally shared out over a process group).
The class means of the CSI are gathered in the engine's one pass over the features (or in a pass of their own for
the CSI alone), and every sample's nearest mean is found the same way: float64 products with a float64 bound,
float64 difference-based distances where it cannot decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from nnlab.analysis.neighbours import (
    DEFAULT_MEMORY_BUDGET_MB,
    MAX_CHUNK,
    STD_EPS,
    U64,
    Features,
    exact_sqdist,
    gamma,
    knn,
    nearest_neighbors,
    pair_chunk,
    settle,
)
from nnlab.errors import NnlabError

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "anti_si",
    "center_separation_index",
    "high_order_si",
    "nearest_neighbors",
    "normalize_features",
    "separation_index",
    "separation_indices",
    "soft_order_si",
    "validate_inputs",
]


def _as_tensor(X: Any, name: str) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        return torch.as_tensor(np.asarray(X))
    except (TypeError, ValueError) as exc:
        raise NnlabError(f"{name} cannot be read as a numeric array ({exc})") from None


def _all_finite(X: torch.Tensor) -> bool:
    # the sum is finite only when no value is NaN or Inf (finite values may overflow it: then look closer)
    if bool(torch.isfinite(X.sum())):
        return True
    step = max(1, (1 << 24) // max(1, X.shape[1]))  # rows at a time: no N × D mask for wide features
    return all(bool(torch.isfinite(X[r : r + step]).all()) for r in range(0, X.shape[0], step))


def validate_inputs(X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check features and labels and return them as (N × D tensor, int64 label tensor).

    Raises NnlabError for NaN/Inf, fewer than 2 samples, a single class, or features and labels of different
    lengths; extra trailing feature dimensions (activation maps) are flattened.
    """
    Xt = _as_tensor(X, "features")
    yt = _as_tensor(y, "labels")
    if Xt.dim() == 0:
        raise NnlabError("features must be an N x D array, got a scalar")
    if Xt.dim() == 1:
        Xt = Xt.reshape(-1, 1)
    elif Xt.dim() > 2:
        Xt = Xt.reshape(Xt.shape[0], -1)
    yt = yt.reshape(-1)
    if Xt.shape[0] != yt.shape[0]:
        raise NnlabError(f"features have {Xt.shape[0]} rows but there are {yt.shape[0]} labels")
    if Xt.shape[0] < 2:
        raise NnlabError(f"the separation index needs at least 2 samples, got {Xt.shape[0]}")
    if Xt.shape[1] < 1:
        raise NnlabError("features have no columns")
    if yt.is_floating_point():
        if not torch.equal(yt, yt.round()):
            raise NnlabError("labels must be integers")
    yt = yt.to(torch.int64)
    if not Xt.is_floating_point():
        Xt = Xt.to(torch.float64)
    if not _all_finite(Xt):
        raise NnlabError("features contain NaN or Inf values")
    if torch.unique(yt).numel() < 2:
        raise NnlabError("the separation index needs at least 2 classes, but all labels are the same")
    return Xt, yt


def normalize_features(X: torch.Tensor) -> torch.Tensor:
    """Z-score every feature in float64: mean 0, divided by (Bessel-corrected std + 1e-10) (a full float64 copy;
    the indices themselves never make one, see :class:`nnlab.analysis.neighbours.Features`)."""
    Z = X.to(torch.float64)
    mean = Z.mean(dim=0, keepdim=True)
    std = Z.std(dim=0, unbiased=True, keepdim=True) if Z.shape[0] > 1 else torch.zeros_like(mean)
    return (Z - mean) / (std + STD_EPS)


class _Centers:
    """Class means of the (normalized) features and the float64 products of every sample with them, gathered a
    block of features at a time (:meth:`add`, a column visitor of the engine's pass), for the center SI."""

    def __init__(self, inverse: torch.Tensor, dim: int) -> None:
        self.inverse = inverse
        self.n_classes = int(inverse.max()) + 1
        dev = inverse.device
        self.counts = torch.bincount(inverse, minlength=self.n_classes).to(torch.float64)
        self.means = torch.empty((self.n_classes, dim), dtype=torch.float64, device=dev)
        self.cross = torch.zeros((inverse.numel(), self.n_classes), dtype=torch.float64, device=dev)
        self.norms = torch.zeros(self.n_classes, dtype=torch.float64, device=dev)
        self.sample_norms = torch.zeros(inverse.numel(), dtype=torch.float64, device=dev)
        self.chunks = 0

    def add(self, c0: int, c1: int, Z: torch.Tensor) -> None:
        """Take in features c0:c1 (float64 values of all samples)."""
        sums = torch.zeros((self.n_classes, c1 - c0), dtype=torch.float64, device=Z.device)
        mu = sums.index_add_(0, self.inverse, Z).div_(self.counts[:, None])
        self.means[:, c0:c1] = mu
        self.norms += torch.linalg.vector_norm(mu, dim=1).square_()
        self.sample_norms += torch.linalg.vector_norm(Z, dim=1).square_()
        self.cross.addmm_(Z, mu.T)
        self.chunks += 1

    def index(self, Q: Features, memory_budget_mb: float) -> float:
        """The CSI: every sample's nearest class mean (ties → lowest class), exact: float64 GEMM distances with a
        γ₆₄ bound (any accumulation order: γ(D + chunks)), float64 difference re-check where it cannot decide."""
        c = gamma(Q.dim + self.chunks + 32, U64)
        approx = (self.cross * -2.0).add_(self.sample_norms[:, None]).add_(self.norms[None, :])
        tol = (self.sample_norms.sqrt()[:, None] + self.norms.sqrt()[None, :]).square_().mul_(c)
        upper = (approx + tol).min(dim=1).values
        rows, cols = (approx - tol <= upper[:, None]).nonzero(as_tuple=True)
        means = Features(self.means, normalize=False)
        chunk = pair_chunk(Q.dim, memory_budget_mb)
        nearest, _ = settle(rows, cols, Q.n, 1, False, lambda r, q: exact_sqdist(Q, means, r, q, chunk))
        return float((nearest[:, 0] == self.inverse).double().mean())


def _check_orders(orders: Iterable[int], n: int) -> list[int]:
    out = []
    for k in orders:
        k = int(k)
        if k < 1:
            raise NnlabError(f"orders must be positive integers, got {k}")
        if k > n - 1:
            raise NnlabError(f"order {k} needs at least {k + 1} samples, got {n}")
        out.append(k)
    return sorted(set(out))


def _prepare(X: Any, y: Any, normalize: bool, device: Any) -> tuple[Features, torch.Tensor]:
    Xt, yt = validate_inputs(X, y)
    dev = torch.device(device) if device is not None else Xt.device
    return Features(Xt.to(dev), normalize), yt.to(dev)


def _centers(y: torch.Tensor, dim: int) -> _Centers:
    return _Centers(torch.unique(y, sorted=True, return_inverse=True)[1], dim)


def separation_indices(
    X: Any,
    y: Any,
    *,
    orders: Sequence[int] = (),
    center: bool = True,
    normalize: bool = True,
    device: Any = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    group: Any = None,
) -> dict[str, float]:
    """Several separation indices from one neighbour search.

    Returns ``{"si": ..., "csi": ... (if center), "high_order_si_k": ..., "soft_order_si_k": ...,
    "anti_si_k": ...}`` for every k in ``orders``. ``device`` picks where the work runs (CPU or CUDA; default:
    where X lives), ``block_rows``/``memory_budget_mb`` bound the size of the distance tiles. X is read as given
    (float32 features stay float32 in memory; no float64 copy of the whole matrix is made); the class means of the
    center SI are gathered in the same pass over the features as the distances. ``group``: a
    ``torch.distributed`` process group (e.g. ``torch.distributed.group.WORLD`` under torchrun) whose processes all
    call this with the same X and y: they share the neighbour search and all return the same indices, identical
    to one process's.
    """
    Q, yt = _prepare(X, y, normalize, device)
    ks = _check_orders(orders, Q.n)
    kmax = max([1] + ks)
    centers = _centers(yt, Q.dim) if center else None
    idx, _ = knn(
        Q,
        kmax,
        block_rows=block_rows,
        memory_budget_mb=memory_budget_mb,
        need_distances=False,
        visit=None if centers is None else centers.add,
        group=group,
    )
    same = yt[idx] == yt[:, None]
    out: dict[str, float] = {"si": float(same[:, 0].double().mean())}
    if centers is not None:
        out["csi"] = centers.index(Q, memory_budget_mb)
    for k in ks:
        sk = same[:, :k]
        out[f"high_order_si_{k}"] = float(sk.all(dim=1).double().mean())
        out[f"soft_order_si_{k}"] = float(sk.double().mean(dim=1).mean())
        out[f"anti_si_{k}"] = float((~sk).all(dim=1).double().mean())
    return out


def separation_index(
    X: Any,
    y: Any,
    *,
    normalize: bool = True,
    device: Any = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    group: Any = None,
) -> float:
    """SI: fraction of samples whose nearest other sample (ties → lowest index) has the same label."""
    return separation_indices(
        X,
        y,
        center=False,
        normalize=normalize,
        device=device,
        block_rows=block_rows,
        memory_budget_mb=memory_budget_mb,
        group=group,
    )["si"]


def center_separation_index(
    X: Any,
    y: Any,
    *,
    normalize: bool = True,
    device: Any = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> float:
    """CSI: fraction of samples whose nearest class mean (ties → lowest class label) is their own class's."""
    Q, yt = _prepare(X, y, normalize, device)
    centers = _centers(yt, Q.dim)
    width = max(1, min(Q.dim, MAX_CHUNK, int(memory_budget_mb * 1024 * 1024 // (16 * Q.n))))
    for c0, c1, Z in Q.column_blocks(width):
        centers.add(c0, c1, Z)
    return centers.index(Q, memory_budget_mb)


def _order_index(X: Any, y: Any, k: int, key: str, **kwargs: Any) -> float:
    return separation_indices(X, y, orders=(k,), center=False, **kwargs)[f"{key}_{int(k)}"]


def high_order_si(X: Any, y: Any, k: int, **kwargs: Any) -> float:
    """High-order SI: fraction of samples whose k nearest neighbours all share its label."""
    return _order_index(X, y, k, "high_order_si", **kwargs)


def soft_order_si(X: Any, y: Any, k: int, **kwargs: Any) -> float:
    """Soft-order SI: mean over samples of the fraction of its k nearest neighbours that share its label."""
    return _order_index(X, y, k, "soft_order_si", **kwargs)


def anti_si(X: Any, y: Any, k: int, **kwargs: Any) -> float:
    """Anti-SI of order k: fraction of samples whose k nearest neighbours all have other labels."""
    return _order_index(X, y, k, "anti_si", **kwargs)
