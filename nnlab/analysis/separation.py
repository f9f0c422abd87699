"""Kalhor's separation indices (SI, center SI, high-order, soft-order and anti SI), exact and block-wise.

Definitions (the whole toolbox relies on them, so they are exact):

* Features ``X`` (N × D) are z-scored per feature by default: ``(x - mean) / (std + 1e-10)`` with the
  standard deviation taken with Bessel's correction. The normalized features are held in float64.
* The distance between two samples is the float64 sum of their squared feature differences
  (Euclidean distance, squared; the square root does not change any ordering).
* The neighbours of a sample are all *other* samples ordered by ``(distance, sample index)``: ties between
  equally near neighbours go to the lowest sample index. Ties between equally near class means go to the
  lowest class label.
* SI: fraction of samples whose nearest neighbour has the same label. High-order SI of order k: fraction whose
  k nearest neighbours all share its label. Soft-order SI: mean fraction of the k nearest that share it.
  Anti-SI of order k: fraction whose k nearest all have other labels. Center SI (CSI): fraction of samples whose
  nearest class mean (means of the normalized features) is the mean of their own class.

How: distances are found with a float64 GEMM (``|a|² + |b|² - 2ab``) one block of rows at a time, so memory stays
within ``memory_budget_mb`` whatever N is. A GEMM distance is not bit-exact, so every neighbour whose GEMM
distance lies within a rigorous rounding-error bound of the k-th smallest is re-checked with exact
difference-based distances before the ``(distance, index)`` order is applied. Exact ties (ReLU zeros,
duplicated rows) therefore come out exactly as a brute force over differences would give them.
The same code runs on CPU and GPU (``device``).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch

from nnlab.errors import NnlabError

STD_EPS = 1e-10
DEFAULT_MEMORY_BUDGET_MB = 256.0
_U64 = float(np.finfo(np.float64).eps) / 2.0


def _as_tensor(X: Any, name: str) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        return torch.as_tensor(np.asarray(X))
    except (TypeError, ValueError) as exc:
        raise NnlabError(f"{name} cannot be read as a numeric array ({exc})") from None


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
    if not bool(torch.isfinite(Xt).all()):
        raise NnlabError("features contain NaN or Inf values")
    if torch.unique(yt).numel() < 2:
        raise NnlabError("the separation index needs at least 2 classes, but all labels are the same")
    return Xt, yt


def normalize_features(X: torch.Tensor) -> torch.Tensor:
    """Z-score every feature in float64: mean 0, divided by (Bessel-corrected std + 1e-10)."""
    Z = X.to(torch.float64)
    mean = Z.mean(dim=0, keepdim=True)
    std = Z.std(dim=0, unbiased=True, keepdim=True) if Z.shape[0] > 1 else torch.zeros_like(mean)
    return (Z - mean) / (std + STD_EPS)


def _prepare(X: Any, y: Any, normalize: bool, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    Xt, yt = validate_inputs(X, y)
    dev = torch.device(device) if device is not None else Xt.device
    Xt = Xt.to(dev)
    Z = normalize_features(Xt) if normalize else Xt.to(torch.float64)
    return Z.contiguous(), yt.to(dev)


def _block_rows(n_ref: int, dim: int, block_rows: int | None, memory_budget_mb: float) -> int:
    if block_rows is not None:
        if block_rows < 1:
            raise NnlabError(f"block_rows must be at least 1, got {block_rows}")
        return int(block_rows)
    # A block holds a few float64 B × n_ref matrices (GEMM, bound, mask) and the B × D query rows.
    per_row = 8 * (4 * n_ref + dim)
    return max(1, int(memory_budget_mb * 1024 * 1024 // per_row))


def _exact_sqdist(A: torch.Tensor, B: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                  chunk: int) -> torch.Tensor:
    """Float64 sum of squared differences between A[rows] and B[cols], pair by pair, in chunks."""
    out = torch.empty(rows.numel(), dtype=torch.float64, device=A.device)
    for s in range(0, rows.numel(), chunk):
        e = min(s + chunk, rows.numel())
        diff = A[rows[s:e]] - B[cols[s:e]]
        out[s:e] = (diff * diff).sum(dim=1)
    return out


def nearest_neighbors(Z: torch.Tensor, k: int, *, reference: torch.Tensor | None = None,
                      block_rows: int | None = None,
                      memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row of ``Z``, ordered by (squared distance, index).

    With ``reference=None`` the neighbours are the other rows of ``Z`` (a row is never its own neighbour);
    otherwise they are the rows of ``reference``. Returns (indices N × k int64, squared distances N × k float64),
    where the distances are exact float64 sums of squared differences. Memory is bounded by the row blocks.
    """
    Z = Z.to(torch.float64)
    R = Z if reference is None else reference.to(torch.float64).to(Z.device)
    exclude_self = reference is None
    n, dim = Z.shape
    m = R.shape[0]
    if k < 1 or k > m - (1 if exclude_self else 0):
        raise NnlabError(f"cannot take {k} nearest neighbours among {m - (1 if exclude_self else 0)} candidates")
    nz = (Z * Z).sum(dim=1)
    nr = nz if reference is None else (R * R).sum(dim=1)
    # Rigorous bound on |GEMM distance - exact difference-based float64 distance| (dot product, norms and the
    # difference sum each err by at most about dim*u times the squared norms involved).
    c = (4.0 * dim + 16.0) * _U64
    tiny = float(np.finfo(np.float64).tiny)
    brows = _block_rows(m, dim, block_rows, memory_budget_mb)
    chunk = max(1, int(memory_budget_mb * 1024 * 1024 // (8 * 2 * dim)))
    out_idx = torch.empty((n, k), dtype=torch.int64, device=Z.device)
    out_d = torch.empty((n, k), dtype=torch.float64, device=Z.device)
    for r0 in range(0, n, brows):
        r1 = min(n, r0 + brows)
        b = r1 - r0
        approx = torch.addmm(nz[r0:r1, None] + nr[None, :], Z[r0:r1], R.T, beta=1.0, alpha=-2.0)
        tol = (nz[r0:r1, None] + nr[None, :]).mul_(c).add_(tiny)
        if exclude_self:
            ar = torch.arange(b, device=Z.device)
            approx[ar, ar + r0] = float("inf")
        upper = torch.topk(approx + tol, k, dim=1, largest=False).values[:, -1]
        mask = (approx - tol) <= upper[:, None]
        del approx, tol
        rows, cols = mask.nonzero(as_tuple=True)
        del mask
        d = _exact_sqdist(Z, R, rows + r0, cols, chunk)
        # order pairs by (row, distance, column): nonzero() is sorted by (row, column); stable sorts keep that.
        order = torch.sort(d, stable=True).indices
        order = order[torch.sort(rows[order], stable=True).indices]
        rows, cols, d = rows[order], cols[order], d[order]
        counts = torch.bincount(rows, minlength=b)
        starts = torch.cumsum(counts, 0) - counts
        take = starts[:, None] + torch.arange(k, device=Z.device)[None, :]
        out_idx[r0:r1] = cols[take]
        out_d[r0:r1] = d[take]
    return out_idx, out_d


def _class_index(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    classes, inverse = torch.unique(y, sorted=True, return_inverse=True)
    return classes, inverse


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


def separation_indices(X: Any, y: Any, *, orders: Sequence[int] = (), center: bool = True,
                       normalize: bool = True, device: Any = None, block_rows: int | None = None,
                       memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> dict[str, float]:
    """Several separation indices from one neighbour search.

    Returns ``{"si": ..., "csi": ... (if center), "high_order_si_k": ..., "soft_order_si_k": ...,
    "anti_si_k": ...}`` for every k in ``orders``. ``device`` picks where the work runs (CPU or CUDA; default:
    where X lives), ``block_rows``/``memory_budget_mb`` bound the size of the distance blocks.
    """
    Z, yt = _prepare(X, y, normalize, device)
    n = Z.shape[0]
    ks = _check_orders(orders, n)
    kmax = max([1] + ks)
    idx, _ = nearest_neighbors(Z, kmax, block_rows=block_rows, memory_budget_mb=memory_budget_mb)
    same = yt[idx] == yt[:, None]
    out: dict[str, float] = {"si": float(same[:, 0].double().mean())}
    if center:
        out["csi"] = _center_si(Z, yt, block_rows, memory_budget_mb)
    for k in ks:
        sk = same[:, :k]
        out[f"high_order_si_{k}"] = float(sk.all(dim=1).double().mean())
        out[f"soft_order_si_{k}"] = float(sk.double().mean(dim=1).mean())
        out[f"anti_si_{k}"] = float((~sk).all(dim=1).double().mean())
    return out


def _center_si(Z: torch.Tensor, y: torch.Tensor, block_rows: int | None, memory_budget_mb: float) -> float:
    _, inverse = _class_index(y)
    n_classes = int(inverse.max()) + 1
    sums = torch.zeros((n_classes, Z.shape[1]), dtype=torch.float64, device=Z.device)
    sums.index_add_(0, inverse, Z)
    counts = torch.bincount(inverse, minlength=n_classes).to(torch.float64)
    means = sums / counts[:, None]
    idx, _ = nearest_neighbors(Z, 1, reference=means, block_rows=block_rows, memory_budget_mb=memory_budget_mb)
    return float((idx[:, 0] == inverse).double().mean())


def separation_index(X: Any, y: Any, *, normalize: bool = True, device: Any = None,
                     block_rows: int | None = None,
                     memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> float:
    """SI: fraction of samples whose nearest other sample (ties → lowest index) has the same label."""
    return separation_indices(X, y, center=False, normalize=normalize, device=device, block_rows=block_rows,
                              memory_budget_mb=memory_budget_mb)["si"]


def center_separation_index(X: Any, y: Any, *, normalize: bool = True, device: Any = None,
                            block_rows: int | None = None,
                            memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> float:
    """CSI: fraction of samples whose nearest class mean (ties → lowest class label) is their own class's."""
    Z, yt = _prepare(X, y, normalize, device)
    return _center_si(Z, yt, block_rows, memory_budget_mb)


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
