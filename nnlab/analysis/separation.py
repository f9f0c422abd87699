"""Kalhor's separation indices (SI, center SI, high-order, soft-order and anti SI), exact and block-wise.

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

How (exact, fast, bounded memory):

* The float64 z-scores are never held as a whole: they are computed a block of features at a time from the
  features as given (float32 stays float32), rounded to float32 for the bulk arithmetic, and recomputed in float64
  only for the rows that need an exact distance.
* Distances come from a float32 GEMM, ``|z_i|² + |z_j|² - 2 a·b`` with a, b the float32 roundings of the
  z-scores z_i, z_j and the squared norms taken in float64. The inner products are summed over feature chunks of
  at most ``kc`` features (one fresh GEMM each, then added up in float32), so
  ``|fl(a·b) - a·b| <= γ(kc + m) Σ|a_d b_d| <= γ(kc + m) |a| |b|`` with m chunks, ``γ(k) = k u / (1 - k u)``,
  u = 2⁻²⁴ (a sum of kc products errs by at most γ(kc) Σ|a_d b_d| in any summation order, so the GEMM's
  internal blocking does not matter; the m - 1 float32 additions of the chunk sums add γ(m - 1)).
  ``|a·b - z_i·z_j| <= (2u + u²) |z_i| |z_j|`` (rounding of the z-scores), the casts and the two float32 additions
  of the norms add 3u (|z_i| + |z_j|)², the interval ends below another 2u, the float64 norms and the float64
  difference-based distance itself less than γ₆₄(D + 2) (|z_i| + |z_j|)². So every float32 distance lies within
  ``tol = γ(kc + m + 32) (|z_i| + |z_j|)²`` of the exact float64 one (32 units of u where about 8 are needed).
* Per sample, the k-th smallest upper end ``d32 + tol`` among its k float32-nearest bounds the exact k-th
  distance from above; every candidate whose lower end ``d32 - tol`` does not exceed it is re-checked with
  exact float64 difference-based distances before the ``(distance, index)`` order is applied. Exact ties (ReLU
  zeros, duplicated rows) therefore come out exactly as a brute force over differences gives them; a sample with
  a single candidate left needs no re-check when only the nearest neighbour is asked for.
* Within a sample set (no reference), the Gram matrix is symmetric: when the whole N × N block fits the memory
  budget only its upper block triangle is multiplied and then mirrored (about 60 % of the GEMM work); otherwise
  blocks of rows are processed one at a time so memory stays within ``memory_budget_mb`` whatever N is.
* float32 GEMMs run at full float32 precision (TF32/bfloat16 shortcuts are switched off for the call). Values
  too large for float32 arithmetic (raw, un-normalized features beyond ~1e15) fall back to float64 GEMMs with a
  float64 bound. The same code runs on CPU and GPU (``device``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from nnlab.errors import NnlabError

STD_EPS = 1e-10
DEFAULT_MEMORY_BUDGET_MB = 512.0
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
    step = max(1, (1 << 24) // max(1, Xt.shape[1]))  # rows at a time: no N × D mask for wide features
    if not all(bool(torch.isfinite(Xt[r : r + step]).all()) for r in range(0, Xt.shape[0], step)):
        raise NnlabError("features contain NaN or Inf values")
    if torch.unique(yt).numel() < 2:
        raise NnlabError("the separation index needs at least 2 classes, but all labels are the same")
    return Xt, yt


def normalize_features(X: torch.Tensor) -> torch.Tensor:
    """Z-score every feature in float64: mean 0, divided by (Bessel-corrected std + 1e-10) (a full float64 copy;
    the indices themselves never make one, see :class:`_Source`)."""
    Z = X.to(torch.float64)
    mean = Z.mean(dim=0, keepdim=True)
    std = Z.std(dim=0, unbiased=True, keepdim=True) if Z.shape[0] > 1 else torch.zeros_like(mean)
    return (Z - mean) / (std + STD_EPS)


class _Source:
    """Rows of a matrix as float64 z-scores, computed on demand a block of features or a set of rows at a time.

    ``X`` is kept as given (any float dtype); with ``normalize`` the per-feature mean and Bessel-corrected std are
    taken in float64 one block of features at a time, so no N × D float64 copy is ever made.
    """

    def __init__(self, X: torch.Tensor, normalize: bool, chunk: int = 2048) -> None:
        self.X = X
        self.n, self.dim = X.shape
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        if normalize:
            self.mean = torch.empty(self.dim, dtype=torch.float64, device=X.device)
            self.scale = torch.empty(self.dim, dtype=torch.float64, device=X.device)
            for c0 in range(0, self.dim, chunk):
                c1 = min(self.dim, c0 + chunk)
                block = X[:, c0:c1].to(torch.float64)  # read only
                self.mean[c0:c1] = block.mean(dim=0)
                std = (
                    block.std(dim=0, unbiased=True)
                    if self.n > 1
                    else torch.zeros(c1 - c0, dtype=torch.float64, device=X.device)
                )
                self.scale[c0:c1] = std + STD_EPS

    def cols64(self, c0: int, c1: int, r0: int = 0, r1: int | None = None) -> torch.Tensor:
        """Float64 z-scores of rows r0:r1, features c0:c1."""
        block = self.X[r0:r1, c0:c1]
        if self.mean is None:
            return block.to(torch.float64)
        return block.to(torch.float64, copy=True).sub_(self.mean[c0:c1]).div_(self.scale[c0:c1])

    def rows64(self, idx: torch.Tensor) -> torch.Tensor:
        """Float64 z-scores of the rows ``idx``, all features (exactly the values a full z-scored copy holds)."""
        rows = self.X[idx].to(torch.float64)
        if self.mean is None:
            return rows
        return rows.sub_(self.mean).div_(self.scale)


def _gamma(k: int, u: float) -> float:
    return k * u / (1.0 - k * u)


class _FullPrecision:
    """Float32 matrix products at full float32 precision (no TF32 / bfloat16 shortcuts) inside the block."""

    def __enter__(self) -> None:
        self.prec = torch.get_float32_matmul_precision()
        self.tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc: object) -> None:
        torch.set_float32_matmul_precision(self.prec)
        torch.backends.cuda.matmul.allow_tf32 = self.tf32


_F32_SAFE = 1e15  # squared norms above this risk float32 overflow in the GEMM: use float64 instead


def _plan(n_rows: int, m: int, dim: int, block_rows: int | None, memory_budget_mb: float) -> tuple[int, int]:
    """(rows per block, features per GEMM chunk) so that a block's matrices fit the budget."""
    budget = memory_budget_mb * 1024 * 1024
    kc = max(1, min(dim, 2048, int(budget // 4 // (12 * (n_rows + m)))))
    if block_rows is not None:
        if block_rows < 1:
            raise NnlabError(f"block_rows must be at least 1, got {block_rows}")
        return int(block_rows), kc
    # per entry of a block: the float32 Gram accumulator, a float32 GEMM buffer, a byte mask
    per_row = 9 * m + 12 * kc
    return max(1, int((budget - 12 * kc * m) // per_row)), kc


class _Centers:
    """Class means of the z-scores and the float64 products of every sample with them, gathered a block of
    features at a time (alongside the Gram matrix, or on their own), for the center SI."""

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

    def add(self, Z: torch.Tensor, c0: int, c1: int) -> None:
        """Take in features c0:c1 (float64 z-scores of all samples)."""
        sums = torch.zeros((self.n_classes, c1 - c0), dtype=torch.float64, device=Z.device)
        mu = sums.index_add_(0, self.inverse, Z).div_(self.counts[:, None])
        self.means[:, c0:c1] = mu
        self.norms += torch.linalg.vector_norm(mu, dim=1).square_()
        self.sample_norms += torch.linalg.vector_norm(Z, dim=1).square_()
        self.cross.addmm_(Z, mu.T)
        self.chunks += 1

    def nearest(self, Q: _Source, pair_chunk: int) -> torch.Tensor:
        """Index of every sample's nearest class mean (ties → lowest class), exact: float64 GEMM distances with a
        γ₆₄ bound (any accumulation order: γ(D + chunks)), float64 difference re-check where it cannot decide."""
        c = _gamma(Q.dim + self.chunks + 32, _U64)
        approx = (self.cross * -2.0).add_(self.sample_norms[:, None]).add_(self.norms[None, :])
        tol = (self.sample_norms.sqrt()[:, None] + self.norms.sqrt()[None, :]).square_().mul_(c)
        upper = (approx + tol).min(dim=1).values
        rows, cols = (approx - tol <= upper[:, None]).nonzero(as_tuple=True)
        means = _Source(self.means, normalize=False)
        idx, _ = _settle(rows, cols, Q.n, 1, False, lambda r, q: _exact_sqdist(Q, means, r, q, pair_chunk))
        return idx[:, 0]


def _gram_block(
    Q: _Source,
    R: _Source | None,
    r0: int,
    r1: int,
    kc: int,
    dtype: torch.dtype,
    symmetric: bool,
    centers: _Centers | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gram block of query rows r0:r1 against all reference rows, summed over feature chunks of ``kc`` (one fresh
    GEMM per chunk, added up in ``dtype``); also the float64 squared norms of the z-scored rows. Returns
    (gram, query norms, reference norms); ``centers`` (if given) takes in every chunk on the way."""
    ref = Q if R is None else R
    dev = Q.X.device
    m = ref.n
    b = r1 - r0
    acc = torch.empty((b, m), dtype=dtype, device=dev)
    buf = torch.empty((b, m), dtype=dtype, device=dev) if Q.dim > kc else acc
    nq = torch.zeros(b, dtype=torch.float64, device=dev)
    nr = torch.zeros(m, dtype=torch.float64, device=dev)
    sub = 1024
    for c0 in range(0, Q.dim, kc):
        c1 = min(Q.dim, c0 + kc)
        first = c0 == 0
        Z = ref.cols64(c0, c1)
        nr += torch.linalg.vector_norm(Z, dim=1).square_()
        if centers is not None:
            centers.add(Z, c0, c1)
        A = Z.to(dtype)
        if R is None:
            B = A[r0:r1]
        else:
            Z = Q.cols64(c0, c1, r0, r1)
            B = Z.to(dtype)
            nq += torch.linalg.vector_norm(Z, dim=1).square_()
        del Z
        if symmetric:  # upper block triangle only; mirrored below
            flat = buf.view(-1)
            for s0 in range(0, b, sub):
                s1 = min(b, s0 + sub)
                if first:
                    torch.mm(B[s0:s1], A[s0:].T, out=acc[s0:s1, s0:])
                else:
                    out = flat[: (s1 - s0) * (m - s0)].view(s1 - s0, m - s0)
                    torch.mm(B[s0:s1], A[s0:].T, out=out)
                    acc[s0:s1, s0:] += out
        elif first:
            torch.mm(B, A.T, out=acc)
        else:
            torch.mm(B, A.T, out=buf)
            acc += buf
        del A, B
    del buf
    if R is None:
        nq = nr[r0:r1].clone()
    if symmetric:
        for s0 in range(0, b, sub):
            s1 = min(b, s0 + sub)
            acc[s1:, s0:s1] = acc[s0:s1, s1:].T
    return acc, nq, nr


def _settle(
    rows: torch.Tensor,
    cols: torch.Tensor,
    b: int,
    k: int,
    need_distances: bool,
    exact: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The k first candidates of each of b rows in (exact distance, column) order. ``rows``/``cols`` (sorted by row,
    then column, as ``nonzero`` gives them) hold at least k candidates per row; ``exact`` gives their float64
    distances. With k = 1 and no distances wanted, rows with a single candidate need no exact distance."""
    dev = rows.device
    counts = torch.bincount(rows, minlength=b)
    idx = torch.empty((b, k), dtype=torch.int64, device=dev)
    single = k == 1 and not need_distances
    if single:
        idx[:, 0] = cols[torch.cumsum(counts, 0) - counts]
        several = counts[rows] > 1
        rows, cols = rows[several], cols[several]
        if rows.numel() == 0:
            return idx, None
    d = exact(rows, cols)
    # order pairs by (row, distance, column): they come sorted by (row, column); stable sorts keep that.
    order = torch.sort(d, stable=True).indices
    order = order[torch.sort(rows[order], stable=True).indices]
    rows, cols, d = rows[order], cols[order], d[order]
    counts = torch.bincount(rows, minlength=b)
    starts = torch.cumsum(counts, 0) - counts
    if single:
        has = counts > 0
        idx[has, 0] = cols[starts[has]]
        return idx, None
    take = starts[:, None] + torch.arange(k, device=dev)[None, :]
    return cols[take], d[take]


def _knn(
    Q: _Source,
    k: int,
    R: _Source | None,
    block_rows: int | None,
    memory_budget_mb: float,
    need_distances: bool,
    centers: _Centers | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Exact k nearest neighbours of Q's rows among R's rows (R None: among Q's other rows), see the module
    docstring. Returns (indices, exact float64 squared distances, or None when not ``need_distances``).
    ``centers`` (only with R None) is filled on the way."""
    exclude_self = R is None
    ref = Q if R is None else R
    n, dim, m = Q.n, Q.dim, ref.n
    if k < 1 or k > m - (1 if exclude_self else 0):
        raise NnlabError(f"cannot take {k} nearest neighbours among {m - (1 if exclude_self else 0)} candidates")
    dev = Q.X.device
    brows, kc = _plan(n, m, dim, block_rows, memory_budget_mb)
    chunks = -(-dim // kc)
    dtype, u = torch.float32, 2.0**-24
    pair_chunk = max(1, int(memory_budget_mb * 1024 * 1024 // (8 * 3 * dim)))
    out_idx = torch.empty((n, k), dtype=torch.int64, device=dev)
    out_d = torch.empty((n, k), dtype=torch.float64, device=dev) if need_distances else None
    with _FullPrecision():
        for r0 in range(0, n, brows):
            r1 = min(n, r0 + brows)
            b = r1 - r0
            symmetric = exclude_self and b == n
            cen = centers if r0 == 0 else None
            acc, nq, nr = _gram_block(Q, R, r0, r1, kc, dtype, symmetric, cen)
            if dtype == torch.float32 and float(torch.maximum(nq.max(), nr.max())) > _F32_SAFE:
                del acc
                dtype, u = torch.float64, _U64
                if cen is not None:
                    cen.__init__(cen.inverse, dim)
                acc, nq, nr = _gram_block(Q, R, r0, r1, kc, dtype, symmetric, cen)
            c = _gamma(kc + chunks + 32, u)
            sq, sr = nq.sqrt(), nr.sqrt()
            # h = |b|² - 2 a·b: the GEMM distance less the row's own |a|², which does not change a row's order
            h = torch.add(nr.to(dtype)[None, :], acc, alpha=-2.0, out=acc)
            if exclude_self:
                ar = torch.arange(b, device=dev)
                h[ar, ar + r0] = float("inf")
            vals, first = torch.topk(h, k, dim=1, largest=False)
            # an upper bound on every row's exact k-th distance, then all candidates that may lie below it: first
            # with the row's widest bound (one pass over the block), then each with its own
            upper = (vals.to(torch.float64) + nq[:, None] + c * (sq[:, None] + sr[first]).square()).max(dim=1).values
            wide = upper - nq + c * (sq + sr.max()).square()
            wide = torch.nextafter(wide.to(dtype), torch.tensor(float("inf"), dtype=dtype, device=dev))
            rows, cols = (h <= wide[:, None]).nonzero(as_tuple=True)
            low = h[rows, cols].to(torch.float64) + nq[rows] - c * (sq[rows] + sr[cols]).square()
            keep = low <= upper[rows]
            rows, cols = rows[keep], cols[keep]
            del acc, h
            idx, d = _settle(
                rows, cols, b, k, need_distances, lambda r, q, r0=r0: _exact_sqdist(Q, ref, r + r0, q, pair_chunk)
            )
            out_idx[r0:r1] = idx
            if out_d is not None:
                out_d[r0:r1] = d
    return out_idx, out_d


def _exact_sqdist(A: _Source, B: _Source, rows: torch.Tensor, cols: torch.Tensor, chunk: int) -> torch.Tensor:
    """Float64 sum of squared differences between A's row rows[p] and B's row cols[p], pair by pair, in chunks."""
    out = torch.empty(rows.numel(), dtype=torch.float64, device=A.X.device)
    for s in range(0, rows.numel(), chunk):
        e = min(s + chunk, rows.numel())
        diff = A.rows64(rows[s:e]).sub_(B.rows64(cols[s:e]))
        out[s:e] = (diff * diff).sum(dim=1)
    return out


def nearest_neighbors(
    Z: torch.Tensor,
    k: int,
    *,
    reference: torch.Tensor | None = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row of ``Z``, ordered by (squared distance, index).

    With ``reference=None`` the neighbours are the other rows of ``Z`` (a row is never its own neighbour);
    otherwise they are the rows of ``reference``. Returns (indices N × k int64, squared distances N × k float64),
    where the distances are exact float64 sums of squared differences. Memory is bounded by the row blocks.
    """
    Q = _Source(Z, normalize=False)
    R = None if reference is None else _Source(reference.to(Z.device), normalize=False)
    idx, d = _knn(Q, k, R, block_rows, memory_budget_mb, need_distances=True)
    assert d is not None
    return idx, d


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


def _prepare(X: Any, y: Any, normalize: bool, device: Any) -> tuple[_Source, torch.Tensor]:
    Xt, yt = validate_inputs(X, y)
    dev = torch.device(device) if device is not None else Xt.device
    return _Source(Xt.to(dev), normalize), yt.to(dev)


def _pair_chunk(Q: _Source, memory_budget_mb: float) -> int:
    return max(1, int(memory_budget_mb * 1024 * 1024 // (8 * 3 * Q.dim)))


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
) -> dict[str, float]:
    """Several separation indices from one neighbour search.

    Returns ``{"si": ..., "csi": ... (if center), "high_order_si_k": ..., "soft_order_si_k": ...,
    "anti_si_k": ...}`` for every k in ``orders``. ``device`` picks where the work runs (CPU or CUDA; default:
    where X lives), ``block_rows``/``memory_budget_mb`` bound the size of the distance blocks. X is read as given
    (float32 features stay float32 in memory; no float64 copy of the whole matrix is made); the class means of the
    center SI are gathered in the same pass over the features as the Gram matrix.
    """
    Q, yt = _prepare(X, y, normalize, device)
    ks = _check_orders(orders, Q.n)
    kmax = max([1] + ks)
    centers = _Centers(_class_index(yt)[1], Q.dim) if center else None
    idx, _ = _knn(Q, kmax, None, block_rows, memory_budget_mb, need_distances=False, centers=centers)
    same = yt[idx] == yt[:, None]
    out: dict[str, float] = {"si": float(same[:, 0].double().mean())}
    if centers is not None:
        nearest = centers.nearest(Q, _pair_chunk(Q, memory_budget_mb))
        out["csi"] = float((nearest == centers.inverse).double().mean())
    for k in ks:
        sk = same[:, :k]
        out[f"high_order_si_{k}"] = float(sk.all(dim=1).double().mean())
        out[f"soft_order_si_{k}"] = float(sk.double().mean(dim=1).mean())
        out[f"anti_si_{k}"] = float((~sk).all(dim=1).double().mean())
    return out


def _center_si(Q: _Source, y: torch.Tensor, memory_budget_mb: float) -> float:
    centers = _Centers(_class_index(y)[1], Q.dim)
    step = max(1, min(Q.dim, int(memory_budget_mb * 1024 * 1024 // (16 * Q.n))))
    for c0 in range(0, Q.dim, step):
        c1 = min(Q.dim, c0 + step)
        centers.add(Q.cols64(c0, c1), c0, c1)
    nearest = centers.nearest(Q, _pair_chunk(Q, memory_budget_mb))
    return float((nearest == centers.inverse).double().mean())


def separation_index(
    X: Any,
    y: Any,
    *,
    normalize: bool = True,
    device: Any = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> float:
    """SI: fraction of samples whose nearest other sample (ties → lowest index) has the same label."""
    return separation_indices(
        X, y, center=False, normalize=normalize, device=device, block_rows=block_rows, memory_budget_mb=memory_budget_mb
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
    return _center_si(Q, yt, memory_budget_mb)


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
