"""Exact k nearest neighbours under squared Euclidean distance, ties to the lowest index: the engine of the
separation indices (:mod:`nnlab.analysis.separation` defines the indices on top of it).

Definitions (exact, so that every index built on them is):

* A row's float64 values are its features as given, or their z-scores ``(x - mean) / (std + 1e-10)`` (per
  feature, Bessel-corrected std, all in float64) when normalizing.
* The distance between two rows is the float64 sum of their squared differences.
* The neighbours of a row are all *other* rows (or all rows of a reference set) ordered by ``(distance, index)``.

How (exact, fast, bounded memory):

* The float64 values are never held as a whole: :class:`Features` makes them a block of features at a time (one
  pass over the features, which also takes the means and deviations) or a set of rows at a time.
* Distances come from float32 GEMMs, ``|z_i|² + |z_j|² - 2 a·b`` with a, b the float32 roundings of z_i, z_j and
  the squared norms in float64. Inner products are summed over feature chunks of at most ``kc`` features (a fresh
  GEMM each, added up in float32), so ``|fl(a·b) - a·b| <= γ(kc + m) Σ|a_d b_d| <= γ(kc + m) |a| |b|`` with m
  chunks, ``γ(k) = k u / (1 - k u)``, u = 2⁻²⁴ (a sum of kc products errs by at most γ(kc) Σ|a_d b_d| in any
  summation order, so the GEMM's internal blocking does not matter; the m - 1 additions of the chunk sums add
  γ(m - 1)). ``|a·b - z_i·z_j| <= (2u + u²) |z_i| |z_j|`` (rounding of the values), the casts and the two float32
  additions of the norms add 3u (|z_i| + |z_j|)², the interval ends below another 2u, the float64 norms and the
  float64 difference-based distance itself less than γ₆₄(D + 2) (|z_i| + |z_j|)². So every float32 distance lies
  within ``tol = γ(kc + m + 32) (|z_i| + |z_j|)²`` of the exact one (32 units of u where about 8 are needed).
* The rows are cut into tiles (as large as the memory budget allows); within one set of rows only the tile
  pairs (I, J) with I <= J are multiplied, and each product serves the rows of I against J and, transposed, those
  of J against I; a diagonal tile multiplies its upper block triangle in strips of 256 rows and mirrors it. When
  all of a process's tiles fit the memory budget they are accumulated in one pass over the features (no copy of
  the features is made); otherwise the float32 values of all rows are made once (N × D × 4 bytes) and the tiles
  are computed one at a time. Either way the work is the GEMM's about N² D / 2 multiply-adds plus O(N D) for the
  values and norms and a few passes over the N² products, whatever N is.
* Per row, the k smallest upper ends ``d32 + tol`` seen so far bound its exact k-th distance from above; every
  entry of a tile whose lower end ``d32 - tol`` does not exceed the current bound is kept as a candidate (the bound
  only shrinks, so nothing needed is dropped), and at the end the candidates under the final bound are re-checked
  with exact float64 difference-based distances before the ``(distance, index)`` order is applied. Exact ties
  (ReLU zeros, duplicated rows) therefore come out exactly as a brute force over differences gives them; a row
  with a single candidate left needs no re-check when only the nearest neighbour is asked for.
* Sharding (``group``): the tile pairs are dealt out to the processes of a ``torch.distributed`` group (balanced
  by their GEMM work); each process keeps its bounds and candidates for every row, the processes exchange them
  (k bounds per row and the few candidates), each settles the rows of its contiguous share exactly and the
  settled neighbours are gathered on every process. The neighbours are exact whatever the split, so they are
  identical to one process's.
* float32 GEMMs run at full float32 precision (TF32/bfloat16 shortcuts are off for the call). Values too large
  for float32 arithmetic (raw features beyond ~1e15 in squared norm) use float64 GEMMs with a float64 bound. The
  same code runs on CPU and GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from nnlab.errors import NnlabError

STD_EPS = 1e-10
DEFAULT_MEMORY_BUDGET_MB = 512.0
MAX_CHUNK = 2048  # features per GEMM chunk: a wider chunk widens the float32 bound (more re-checks)
U32 = 2.0**-24
U64 = float(np.finfo(np.float64).eps) / 2.0
_F32_SAFE = 1e15  # squared norms above this risk float32 overflow in the GEMM: use float64 instead
_STRIP = 256  # rows per GEMM of a diagonal tile's upper block triangle
_SLAB = 256  # rows at a time for a block's squared deviations (a small temporary)
_TILE_BYTES = 16  # working bytes per tile entry: accumulator, chunk buffer, transposed copy, mask, indices
_H_BYTES = 8 << 20  # bytes of h per strip of a tile taken in at a time
_PAIR_BYTES = 4 << 20  # float64 rows per batch of exact distances: a few MB, reused
U_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8-bit significand)
GEMM_OPERANDS = "auto"  # "auto": bfloat16 operands where the CPU multiplies them natively; "float32": never

ColumnVisitor = Callable[[int, int, torch.Tensor], None]


class Features:
    """The rows of ``X`` (N × D, any float dtype, kept as given) as float64 values, made on demand: a block of
    features at a time (:meth:`column_blocks`) or a set of rows at a time (:meth:`rows64`).

    With ``normalize`` they are z-scores; the per-feature mean and deviation are taken in float64 during the first
    pass over the features, so no N × D float64 copy is ever made.
    """

    def __init__(self, X: torch.Tensor, normalize: bool) -> None:
        self.X = X
        self.n, self.dim = X.shape
        self.normalize = normalize
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self._known = 0  # features whose mean and deviation are known
        if normalize:
            self.mean = torch.empty(self.dim, dtype=torch.float64, device=X.device)
            self.scale = torch.empty(self.dim, dtype=torch.float64, device=X.device)

    def column_blocks(self, width: int) -> Iterator[tuple[int, int, torch.Tensor]]:
        """(c0, c1, float64 values of all rows, features c0:c1) for consecutive blocks of ``width`` features. The
        block is one buffer, overwritten by the next: use it before asking for the next."""
        buf = torch.empty((self.n, min(width, self.dim)), dtype=torch.float64, device=self.X.device)
        for c0 in range(0, self.dim, width):
            c1 = min(self.dim, c0 + width)
            Z = buf[:, : c1 - c0]
            Z.copy_(self.X[:, c0:c1])
            if self.mean is not None and self.scale is not None:
                if c1 > self._known:  # the mean, then the squared deviations summed (two-pass, Bessel-corrected)
                    self.mean[c0:c1] = Z.sum(dim=0).div_(self.n)
                    Z.sub_(self.mean[c0:c1])
                    var = torch.zeros(c1 - c0, dtype=torch.float64, device=Z.device)
                    for r in range(0, self.n, _SLAB):
                        var += Z[r : r + _SLAB].square().sum(dim=0)
                    self.scale[c0:c1] = var.div_(max(1, self.n - 1)).sqrt_().add_(STD_EPS)
                    self._known = c1
                else:
                    Z.sub_(self.mean[c0:c1])
                Z.div_(self.scale[c0:c1])
            yield c0, c1, Z

    def rows64(self, idx: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Float64 values of the rows ``idx``, all features (bit for bit those of :meth:`column_blocks`), into
        ``out`` (len(idx) × D float64) when given."""
        if self.normalize and self._known < self.dim:
            for _ in self.column_blocks(MAX_CHUNK):  # the statistics need one pass first
                pass
        if out is None:
            rows = self.X[idx].to(torch.float64)
        else:
            rows = out
            if self.X.dtype == torch.float64:
                torch.index_select(self.X, 0, idx, out=rows)
            else:
                rows.copy_(self.X[idx])
        if self.mean is None or self.scale is None:
            return rows
        return rows.sub_(self.mean).div_(self.scale)


def gamma(k: int, u: float) -> float:
    """γ(k) = k u / (1 - k u): the relative error bound of a sum of k rounded terms."""
    return k * u / (1.0 - k * u)


def _native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 GEMMs run natively here (x86 AVX512-BF16 or AMX: about 3x the float32 rate)."""
    if GEMM_OPERANDS != "auto" or device.type != "cpu":
        return GEMM_OPERANDS == "bfloat16"
    global _CPU_BF16
    if _CPU_BF16 is None:
        try:
            with open("/proc/cpuinfo") as f:
                flags = next((line for line in f if line.startswith("flags")), "").split()
        except OSError:
            flags = []
        _CPU_BF16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return _CPU_BF16


_CPU_BF16: bool | None = None


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


def exact_sqdist(A: Features, B: Features, rows: torch.Tensor, cols: torch.Tensor, chunk: int) -> torch.Tensor:
    """Float64 sum of squared differences between A's row rows[p] and B's row cols[p], pair by pair, in chunks of
    at most ``chunk`` pairs (smaller ones that stay in cache: fresh memory costs page faults)."""
    out = torch.empty(rows.numel(), dtype=torch.float64, device=A.X.device)
    step = max(1, min(chunk, max(16, _PAIR_BYTES // (8 * A.dim)), rows.numel()))
    ra = torch.empty((step, A.dim), dtype=torch.float64, device=A.X.device)
    rb = torch.empty_like(ra)
    for s in range(0, rows.numel(), step):
        e = min(s + step, rows.numel())
        diff = A.rows64(rows[s:e], ra[: e - s]).sub_(B.rows64(cols[s:e], rb[: e - s]))
        out[s:e] = torch.mul(diff, diff, out=rb[: e - s]).sum(dim=1)
    return out


def pair_chunk(dim: int, memory_budget_mb: float) -> int:
    """Pairs per batch of exact distances so that a batch's float64 rows fit the budget."""
    return max(1, int(memory_budget_mb * 1024 * 1024 // (8 * 3 * dim)))


def settle(
    rows: torch.Tensor,
    cols: torch.Tensor,
    b: int,
    k: int,
    need_distances: bool,
    exact: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The k first candidates of each of b rows in (exact distance, column) order. ``rows``/``cols`` (sorted by row,
    then column) hold at least k candidates per row; ``exact`` gives their float64 distances. With k = 1 and no
    distances wanted, rows with a single candidate need no exact distance."""
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


class _Group:
    """This process's place in a ``torch.distributed`` group (one process without one) and the two collectives
    the search needs."""

    def __init__(self, group: Any) -> None:
        self.group = group
        if group is None:
            self.rank, self.size = 0, 1
            return
        if not (dist.is_available() and dist.is_initialized()):
            raise NnlabError("a process group was given but torch.distributed is not initialized")
        self.rank, self.size = dist.get_rank(group), dist.get_world_size(group)

    def share(self, n: int) -> tuple[int, int]:
        """This process's contiguous share of n rows."""
        return n * self.rank // self.size, n * (self.rank + 1) // self.size

    def all_gather_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Every process's ``t`` concatenated along dimension 0 in rank order (row counts may differ)."""
        if self.size == 1:
            return t
        count = torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device)
        counts = [torch.empty_like(count) for _ in range(self.size)]
        dist.all_gather(counts, count, group=self.group)
        sizes = [int(c) for c in counts]
        padded = t.new_zeros((max(sizes), *t.shape[1:]))
        padded[: t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)])


def _tiles(n: int, t: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + t)) for s in range(0, n, t)]


def _pairs(n: int, m: int, t: int, symmetric: bool, grp: _Group) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """This process's tile pairs: all of them in one process; otherwise dealt out by GEMM work, largest first, to
    the least loaded process (the same deal on every process)."""
    qt = _tiles(n, t)
    if symmetric:
        pairs = [(a, b) for i, a in enumerate(qt) for b in qt[i:]]
    else:
        pairs = [(a, b) for a in qt for b in _tiles(m, t)]
    if grp.size == 1:
        return pairs
    work = [(a[1] - a[0]) * (b[1] - b[0]) for a, b in pairs]
    load = [0.0] * grp.size
    mine = []
    for p in sorted(range(len(pairs)), key=lambda p: (-work[p], p)):
        r = min(range(grp.size), key=lambda r: (load[r], r))
        load[r] += work[p]
        if r == grp.rank:
            mine.append(p)
    return [pairs[p] for p in sorted(mine)]


def _accumulate(
    acc: torch.Tensor, buf: torch.Tensor, B: torch.Tensor, A: torch.Tensor, first: bool, diagonal: bool
) -> None:
    """acc += B Aᵀ (acc = B Aᵀ when ``first``): a fresh GEMM into ``buf`` (directly into ``acc`` when first and of
    the operands' dtype), then one addition in acc's dtype. ``diagonal`` (B is A): the upper block triangle only,
    in strips of rows (:func:`_mirror` completes it)."""
    direct = first and acc.dtype == B.dtype
    if not diagonal:
        if direct:
            torch.mm(B, A.T, out=acc)
            return
        out = buf.view(-1)[: acc.numel()].view(acc.shape)
        torch.mm(B, A.T, out=out)
        if first:
            acc.copy_(out)
        else:
            acc += out
        return
    b = acc.shape[0]
    flat = buf.view(-1)
    for s0 in range(0, b, _STRIP):
        s1 = min(b, s0 + _STRIP)
        if direct:
            torch.mm(B[s0:s1], A[s0:].T, out=acc[s0:s1, s0:])
            continue
        out = flat[: (s1 - s0) * (b - s0)].view(s1 - s0, b - s0)
        torch.mm(B[s0:s1], A[s0:].T, out=out)
        if first:
            acc[s0:s1, s0:] = out
        else:
            acc[s0:s1, s0:] += out


def _mirror(acc: torch.Tensor) -> None:
    b = acc.shape[0]
    for s0 in range(0, b, _STRIP):
        s1 = min(b, s0 + _STRIP)
        acc[s1:, s0:s1] = acc[s0:s1, s1:].T


class _Search:
    """Per row of the queries: the k smallest upper ends seen so far and the candidates under them."""

    def __init__(
        self, n: int, k: int, nq: torch.Tensor, nr: torch.Tensor, c: float, dtype: torch.dtype, out_round: float
    ) -> None:
        dev = nq.device
        self.k, self.c, self.dtype, self.out_round = k, c, dtype, out_round
        self.nq, self.nr = nq, nr
        self.sq, self.sr = nq.sqrt(), nr.sqrt()
        self.best = torch.full((n, k), float("inf"), dtype=torch.float64, device=dev)
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.buffers: dict[torch.dtype, torch.Tensor] = {}

    def buffer(self, shape: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """A scratch matrix of ``shape``, the same memory for every tile (fresh memory costs page faults)."""
        size = shape[0] * shape[1]
        have = self.buffers.get(dtype)
        if have is None or have.numel() < size:
            have = self.buffers[dtype] = torch.empty(size, dtype=dtype, device=self.best.device)
        return have[:size].view(shape)

    def take(self, q0: int, r0: int, h: torch.Tensor, has_self: bool) -> None:
        """Take in the tile ``h`` (|b|² - 2a·b, the GEMM distance less the row's own |a|²) of query rows q0: against
        reference rows r0:; ``has_self``: query row i is reference row i and some are in the tile (they are left
        out). ``h`` is modified."""
        b, w = h.shape
        dev = h.device
        if has_self:
            lo, hi = max(q0, r0), min(q0 + b, r0 + w)
            ar = torch.arange(lo, hi, device=dev)
            h[ar - q0, ar - r0] = float("inf")
        nq, sq = self.nq[q0 : q0 + b], self.sq[q0 : q0 + b]
        sr = self.sr[r0 : r0 + w]
        if self.k == 1:
            vals, first = h.min(dim=1, keepdim=True)
        else:
            vals, first = torch.topk(h, min(self.k, w), dim=1, largest=False)
        upper = vals.to(torch.float64) + nq[:, None] + self.c * (sq[:, None] + sr[first]).square()
        if self.out_round:  # h = nr - 2 p - 2 e |p| is a lower end: add 4 e |p| back (|p| from h, see _tile_h)
            p = (self.nr[r0:][first] - vals.to(torch.float64)).abs_() / (2 - 2 * self.out_round)
            upper += p * (4 * self.out_round * (1 + 1e-6))
        merged = torch.cat([self.best[q0 : q0 + b], upper], dim=1)
        self.best[q0 : q0 + b] = torch.topk(merged, self.k, dim=1, largest=False).values
        bound = self.best[q0 : q0 + b, self.k - 1]
        # all entries that may lie under the bound: first with the row's widest tolerance (one pass over the tile,
        # with room for the float64 rounding of the test itself), then each with its own
        tmax = self.c * (sq + sr.max()).square()
        wide = bound - nq + tmax
        wide = wide + 4 * U64 * (bound.abs() + nq + tmax)
        top = torch.tensor(float("inf"), dtype=self.dtype, device=dev)
        wide = torch.nextafter(wide.to(self.dtype), top).clamp_(max=torch.finfo(self.dtype).max)
        rows, cols = torch.le(h, wide[:, None], out=self.buffer((b, w), torch.bool)).nonzero(as_tuple=True)
        low = h[rows, cols].to(torch.float64) + nq[rows] - self.c * (sq[rows] + sr[cols]).square()
        keep = low <= bound[rows]
        self.parts.append((rows[keep] + q0, cols[keep] + r0, low[keep]))

    def candidates(self, m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, columns, lower ends) of every candidate taken in, sorted by (row, column)."""
        dev = self.best.device
        if not self.parts:
            empty = torch.empty(0, dtype=torch.int64, device=dev)
            return empty, empty, torch.empty(0, dtype=torch.float64, device=dev)
        rows, cols, low = (torch.cat(p) for p in zip(*self.parts, strict=True))
        self.parts = []
        order = torch.sort(rows * m + cols).indices
        return rows[order], cols[order], low[order]


def _plan(n: int, m: int, dim: int, pairs_area: int, t: int, budget: float) -> tuple[bool, int]:
    """(whether the tiles are accumulated in one pass over the features, features per GEMM chunk)."""
    # accumulators for all tiles, a chunk buffer, a transposed copy and a mask for one tile
    if 4 * pairs_area + 10 * t * t <= budget:  # and as much again at most for a block of features of all rows
        return True, max(1, min(dim, MAX_CHUNK, int(budget // (12 * (n + m)))))
    return False, min(dim, MAX_CHUNK)


def knn(
    Q: Features,
    k: int,
    *,
    reference: Features | None = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    need_distances: bool = True,
    visit: ColumnVisitor | None = None,
    group: Any = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Exact k nearest neighbours of Q's rows among ``reference``'s rows (None: among Q's other rows), see the
    module docstring. Returns (indices N × k, exact float64 squared distances N × k or None when not
    ``need_distances``), the same on every process of ``group``. ``visit(c0, c1, values)`` sees every block of
    Q's float64 values in the one pass over the features (e.g. to gather class means on the way)."""
    grp = _Group(group)
    ref = Q if reference is None else reference
    exclude_self = reference is None
    n, dim, m = Q.n, Q.dim, ref.n
    if ref.dim != dim:
        raise NnlabError(f"the reference rows have {ref.dim} features, the queries {dim}")
    if k < 1 or k > m - (1 if exclude_self else 0):
        raise NnlabError(f"cannot take {k} nearest neighbours among {m - (1 if exclude_self else 0)} candidates")
    budget = memory_budget_mb * 1024 * 1024
    if block_rows is not None and block_rows < 1:
        raise NnlabError(f"block_rows must be at least 1, got {block_rows}")
    if block_rows is not None:
        t = int(block_rows)
    else:
        t = max(1, math.isqrt(int(budget // _TILE_BYTES)))
        if grp.size > 1:  # tile pairs enough to share out evenly
            t = min(t, -(-max(n, m) // (2 * grp.size)))
    t = min(t, max(n, m))
    pairs = _pairs(n, m, t, exclude_self, grp)
    area = sum((a[1] - a[0]) * (b[1] - b[0]) for a, b in pairs)
    streamed, kc = _plan(n, m, dim, area, t, budget)
    dtype, u = _gemm_dtype(Q, ref)
    m_chunks = -(-dim // kc)
    # bfloat16 only for one chunk of features: over several, the bound is of the Cauchy-Schwarz kind (and distances
    # concentrate as D grows): 5,000 x 65,536 left 152 candidates per row against about 1 with float32
    bf16 = dtype == torch.float32 and m_chunks == 1 and _native_bf16(Q.X.device)
    op = torch.bfloat16 if bf16 else dtype
    with _FullPrecision():
        if streamed:
            nq, nr, rho, tiles = _streamed_tiles(Q, reference, pairs, kc, dtype, op, visit)
        else:
            nq, nr, rho, tiles = _matrix_tiles(Q, reference, pairs, kc, dtype, op, visit, budget)
        c = _tolerance(kc, m_chunks, u, rho if bf16 else None, bf16 and m_chunks == 1)
        out_round = U_BF16 if op == torch.bfloat16 and m_chunks == 1 else 0.0
        search = _Search(n, k, nq, nr, c, dtype, out_round)
        for (q0, q1), (r0, r1), G in tiles:
            diagonal = exclude_self and q0 == r0
            if exclude_self and not diagonal:  # the same product serves the rows r0:r1 against q0:q1
                _take_strips(search, r0, q0, G.T, nr[q0:q1], False, out_round)
            _take_strips(search, q0, r0, G, nr[r0:r1], diagonal, out_round)
            del G
    return _settle_shares(Q, ref, search, grp, n, m, k, need_distances, memory_budget_mb)


def _take_strips(
    search: _Search, q0: int, r0: int, G: torch.Tensor, nr: torch.Tensor, has_self: bool, out_round: float
) -> None:
    """Take in the tile of products G (query rows q0:, reference rows r0:) a strip of rows at a time: each
    row's search is its own, and a strip's h stays in cache (a tile-sized h would be fresh memory each time)."""
    step = max(1, _H_BYTES // (4 * max(1, G.shape[1])))
    for s0 in range(0, G.shape[0], step):
        part = G[s0 : s0 + step]
        h = search.buffer(tuple(part.shape), search.dtype)
        search.take(q0 + s0, r0, _tile_h(nr, part, h, out_round, search), has_self)


def _tile_h(nr: torch.Tensor, G: torch.Tensor, out: torch.Tensor, out_round: float, search: _Search) -> torch.Tensor:
    """h = |b|² - 2p for the products p of a tile (into ``out``, which may be G). ``out_round`` (p is a GEMM output
    rounded with that unit roundoff, relative to itself): h = |b|² - 2p - 2·out_round·|p|, so that h stays a lower
    end whatever the rounding (the upper ends add 4·out_round·|p| back)."""
    h = torch.add(nr.to(out.dtype)[None, :], G, alpha=-2.0, out=out)
    if out_round:
        mag = torch.abs(G, out=search.buffer(tuple(G.shape), G.dtype))
        h = torch.add(h, mag, alpha=-2.0 * out_round, out=h)
    return h


def _tolerance(kc: int, m: int, u: float, rho: float | None, out_rounded: bool = False) -> float:
    """c of the bound ``|d32 - d| <= c (|z_i| + |z_j|)²`` (module docstring). ``rho``: the operands are bfloat16
    roundings whose rows err by at most rho |z| (relative): then with a = fl(z_i), b = fl(z_j),
    ``|a·b - z_i·z_j| <= rho (2 + rho) |z_i| |z_j|``, each chunk's float32 sum of exact bfloat16 products errs by
    γ(kc + 2) Σ|a_d b_d| (two roundings more: the paired dot-product instructions), its rounding to a bfloat16
    output by U_BF16 of itself, the m chunk outputs are added in float32 (γ(m)); Σ over chunks of |a_k| |b_k| <=
    |a| |b| <= (1 + rho)² |z_i| |z_j| (Cauchy-Schwarz). The distance errs by twice that, and
    ``2 |z_i| |z_j| <= (|z_i| + |z_j|)² / 2``; the float32 evaluation of the distance adds what γ(32) covers."""
    if rho is None:
        return gamma(kc + m + 32, u)
    g = gamma(kc + 2, U32)
    output = 0.0 if out_rounded else U_BF16  # a single chunk's output rounding: per entry instead (_tile_h)
    products = ((1 + g) * (1 + output) * (1 + gamma(m, U32)) - 1) * (1 + rho) ** 2
    return (rho * (2 + rho) + products) / 2 + gamma(32, U32)


def _gemm_dtype(Q: Features, ref: Features) -> tuple[torch.dtype, float]:
    """float32 unless a squared norm could exceed what float32 products hold (z-scores never do)."""
    if Q.normalize and ref.normalize and Q.n * Q.dim <= _F32_SAFE and ref.n * ref.dim <= _F32_SAFE:
        return torch.float32, U32  # |z_d|² < N for z-scores
    for src in (Q, ref):
        step = max(1, (1 << 22) // max(1, src.dim))
        for r in range(0, src.n, step):
            if float(src.X[r : r + step].to(torch.float64).square().sum(dim=1).max()) > _F32_SAFE:
                return torch.float64, U64
    return torch.float32, U32


Tiles = Iterator[tuple[tuple[int, int], tuple[int, int], torch.Tensor]]


def _streamed_tiles(
    Q: Features,
    reference: Features | None,
    pairs: list[tuple[tuple[int, int], tuple[int, int]]],
    kc: int,
    dtype: torch.dtype,
    op: torch.dtype,
    visit: ColumnVisitor | None,
) -> tuple[torch.Tensor, torch.Tensor, float, Tiles]:
    """Squared norms, the largest relative rounding of a row to ``op`` (:func:`_rounded`) and every tile of
    ``pairs``, accumulated in one pass over the features."""
    dev = Q.X.device
    nq = torch.zeros(Q.n, dtype=torch.float64, device=dev)
    nr = nq if reference is None else torch.zeros(reference.n, dtype=torch.float64, device=dev)
    rq = torch.zeros(Q.n, dtype=torch.float64, device=dev)
    rr = rq if reference is None else torch.zeros(reference.n, dtype=torch.float64, device=dev)
    acc_dtype = op if Q.dim <= kc else dtype  # one chunk: the GEMM's own output; several: summed in dtype
    accs = [torch.empty((a[1] - a[0], b[1] - b[0]), dtype=acc_dtype, device=dev) for a, b in pairs]
    most = max(a.numel() for a in accs)
    buf = torch.empty(most if Q.dim > kc or acc_dtype != op else 0, dtype=op, device=dev)
    ref_blocks = None if reference is None else reference.column_blocks(kc)
    abuf = torch.empty((Q.n, min(kc, Q.dim)), dtype=op, device=dev)
    rbuf = abuf if reference is None else torch.empty((reference.n, min(kc, Q.dim)), dtype=op, device=dev)
    for c0, c1, Z in Q.column_blocks(kc):
        if visit is not None:
            visit(c0, c1, Z)
        A = abuf[:, : c1 - c0]
        _rounded(Z, A, nq, rq)
        del Z
        if ref_blocks is None:
            R = A
        else:
            _, _, Zr = next(ref_blocks)
            R = rbuf[:, : c1 - c0]
            _rounded(Zr, R, nr, rr)
            del Zr
        for ((q0, q1), (r0, r1)), acc in zip(pairs, accs, strict=True):
            _accumulate(acc, buf, A[q0:q1], R[r0:r1], c0 == 0, reference is None and q0 == r0)
        del A, R

    def tiles() -> Tiles:
        while accs:
            (q0, q1), (r0, r1) = pairs[len(pairs) - len(accs)]
            acc = accs.pop(0)
            if reference is None and q0 == r0:
                _mirror(acc)
            yield (q0, q1), (r0, r1), acc

    return nq, nr, _rho(nq, rq, nr, rr), tiles()


def _rounded(Z: torch.Tensor, A: torch.Tensor, norms: torch.Tensor, residuals: torch.Tensor) -> None:
    """A = Z rounded to A's dtype; adds each row's squared norm (of Z) and squared rounding error (|Z - A|²) to
    ``norms`` and ``residuals``. Z is overwritten."""
    norms += torch.linalg.vector_norm(Z, dim=1).square_()
    A.copy_(Z)
    if A.dtype != Z.dtype:
        residuals += torch.linalg.vector_norm(Z.sub_(A), dim=1).square_()


def _rho(nq: torch.Tensor, rq: torch.Tensor, nr: torch.Tensor, rr: torch.Tensor) -> float:
    """The largest relative rounding error |z - fl(z)| / |z| of any row (with room for its float64 evaluation)."""
    worst = 0.0
    for norms, res in ((nq, rq), (nr, rr)):
        nz = norms > 0
        if bool(nz.any()):
            worst = max(worst, float((res[nz] / norms[nz]).max().sqrt()))
    return worst * (1 + 1e-6)


def _float_values(src: Features, dtype: torch.dtype, budget: float, visit: ColumnVisitor | None):
    """All rows' values in ``dtype`` (made once, a block of features at a time), their float64 squared norms and
    squared rounding errors."""
    dev = src.X.device
    res = torch.zeros(src.n, dtype=torch.float64, device=dev)
    if not src.normalize and src.X.dtype == dtype and visit is None:
        A = src.X.contiguous()
        norms = torch.zeros(src.n, dtype=torch.float64, device=dev)
        step = max(1, int(budget // (8 * max(1, src.dim))))
        for r in range(0, src.n, step):
            norms[r : r + step] = torch.linalg.vector_norm(A[r : r + step].to(torch.float64), dim=1).square_()
        return A, norms, res
    A = torch.empty((src.n, src.dim), dtype=dtype, device=dev)
    norms = torch.zeros(src.n, dtype=torch.float64, device=dev)
    width = max(1, min(src.dim, MAX_CHUNK, int(budget // (8 * src.n))))
    for c0, c1, Z in src.column_blocks(width):
        if visit is not None:
            visit(c0, c1, Z)
        _rounded(Z, A[:, c0:c1], norms, res)
    return A, norms, res


def _matrix_tiles(
    Q: Features,
    reference: Features | None,
    pairs: list[tuple[tuple[int, int], tuple[int, int]]],
    kc: int,
    dtype: torch.dtype,
    op: torch.dtype,
    visit: ColumnVisitor | None,
    budget: float,
) -> tuple[torch.Tensor, torch.Tensor, float, Tiles]:
    """Squared norms, the largest relative rounding to ``op`` and the tiles of ``pairs`` one at a time, from all
    rows' ``op`` values made once."""
    AQ, nq, rq = _float_values(Q, op, budget, visit)
    AR, nr, rr = (AQ, nq, rq) if reference is None else _float_values(reference, op, budget, None)
    dim = Q.dim
    acc_dtype = op if dim <= kc else dtype
    t = max(max(q1 - q0, r1 - r0) for (q0, q1), (r0, r1) in pairs)
    acc_mem = torch.empty(t * t, dtype=acc_dtype, device=AQ.device)  # reused: fresh memory costs page faults
    buf = torch.empty(t * t if dim > kc or acc_dtype != op else 0, dtype=op, device=AQ.device)

    def tiles() -> Tiles:
        for (q0, q1), (r0, r1) in pairs:
            diagonal = reference is None and q0 == r0
            acc = acc_mem[: (q1 - q0) * (r1 - r0)].view(q1 - q0, r1 - r0)
            for c0 in range(0, dim, kc):
                c1 = min(dim, c0 + kc)
                _accumulate(acc, buf, AQ[q0:q1, c0:c1], AR[r0:r1, c0:c1], c0 == 0, diagonal)
            if diagonal:
                _mirror(acc)
            yield (q0, q1), (r0, r1), acc

    return nq, nr, _rho(nq, rq, nr, rr), tiles()


def _settle_shares(
    Q: Features,
    ref: Features,
    search: _Search,
    grp: _Group,
    n: int,
    m: int,
    k: int,
    need_distances: bool,
    memory_budget_mb: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Combine the processes' bounds and candidates, settle this process's share of rows exactly, gather."""
    rows, cols, low = search.candidates(m)
    best = search.best
    if grp.size > 1:
        everyone = grp.all_gather_rows(best.T.contiguous())  # (size · k) × n
        best = torch.topk(everyone.T, k, dim=1, largest=False).values
        rows = grp.all_gather_rows(rows)
        cols = grp.all_gather_rows(cols)
        low = grp.all_gather_rows(low)
        order = torch.sort(rows * m + cols).indices
        rows, cols, low = rows[order], cols[order], low[order]
    keep = low <= best[rows, k - 1]
    rows, cols = rows[keep], cols[keep]
    s0, s1 = grp.share(n)
    lo, hi = (int(v) for v in torch.searchsorted(rows, torch.tensor([s0, s1], device=rows.device)))
    chunk = pair_chunk(Q.dim, memory_budget_mb)
    idx, d = settle(
        rows[lo:hi] - s0,
        cols[lo:hi],
        s1 - s0,
        k,
        need_distances,
        lambda r, q: exact_sqdist(Q, ref, r + s0, q, chunk),
    )
    idx = grp.all_gather_rows(idx)
    if d is not None:
        d = grp.all_gather_rows(d)
    return idx, d


def nearest_neighbors(
    Z: torch.Tensor,
    k: int,
    *,
    reference: torch.Tensor | None = None,
    block_rows: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    group: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row of ``Z``, ordered by (squared distance, index).

    With ``reference=None`` the neighbours are the other rows of ``Z`` (a row is never its own neighbour);
    otherwise they are the rows of ``reference``. Returns (indices N × k int64, squared distances N × k float64),
    where the distances are exact float64 sums of squared differences. Memory is bounded by the tiles
    (``block_rows`` rows a side, default from ``memory_budget_mb``). ``group``: a ``torch.distributed`` process
    group whose processes all call this with the same rows; they share the work and all get the result.
    """
    Q = Features(Z, normalize=False)
    R = None if reference is None else Features(reference.to(Z.device), normalize=False)
    idx, d = knn(
        Q, k, reference=R, block_rows=block_rows, memory_budget_mb=memory_budget_mb, need_distances=True, group=group
    )
    assert d is not None
    return idx, d
