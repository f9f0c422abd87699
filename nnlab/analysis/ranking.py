"""Greedy forward feature ranking by separation index, exact and fast; and the cheap univariate ranking.

Definition: start from the empty set; at every step add the feature that gives the highest SI of the selected set
(ties → the lowest feature index) and record that SI. Distances and tie rules are those of
:mod:`nnlab.analysis.separation` (z-scored float64 features, nearest other sample, ties → lowest sample index);
the squared distance of a set is the float64 sum of its features' squared differences accumulated in selection
order, which is what a brute force over the selected columns computes.

How it stays exact and fast (N = 5,000 × D = 2,048, all 2,048 steps, in about 30 s on two CPU cores):

* Step 1 is one-dimensional: each feature's SI comes from a sort.
* Afterwards an N × N float64 matrix of squared distances under the selected set is kept (N = 5,000: 200 MB).
  With it each sample keeps its nearest same-label and nearest other-label sample.
* Rows of the matrix are kept lazily (rewriting all of it every step is memory-bound): each row also keeps its
  nearest same-label and other-label samples with exact current distances and the radius below which each list is
  complete; a row's sums are brought up to date (pending features added in selection order, so they round alike)
  only when a statistic leaves a radius or too many features are pending. Stale values are lower bounds, made
  exact where they could matter.
* Adding a feature only increases distances. So for candidate f and sample i, the new distance to i's nearest
  same-label sample is an upper bound on its new same-label minimum, and the current other-label minimum is a lower
  bound on the new one: if the first is below the second, i stays correct; the mirror test shows it stays wrong.
  This settles most (sample, candidate) pairs with two gathers each, and a whole row at once when even its largest
  squared difference to its nearest same-label sample (kept while that sample stays the nearest) keeps it correct.
* A row keeps the candidates whose squared difference to its nearest same-label sample exceeds half its margin
  (other-label minus same-label distance), when they are few: while that margin stays above the threshold, every
  other candidate is settled correct by one comparison and only the listed ones are read (counts are kept as
  "not settled correct", so an unread candidate costs nothing).
* Pairs the first test leaves open are tried against i's first ``neighbors`` neighbours in (distance, index)
  order, kept with the radius beyond which every other sample lies (the list is rebuilt in the same pass that
  updates the matrix, with a threshold that skips almost every entry): if the best of them under the candidate
  beats the radius, the pair is settled exactly.
* Each candidate's SI is bounded above by settled-correct + unresolved. The most promising candidate is resolved
  first, then the others in decreasing bound order, and a candidate is dropped as soon as it can no longer beat
  the best so far (or tie it with a lower feature index): candidates that cannot win are never resolved.
* Resolving a pair (i, f) walks outward from i in the candidate's own sorted order (the candidate's squared
  difference, a lower bound on the new distance, only grows along the walk) until it exceeds the best distance
  found, starting from the best of the neighbour list; long walks fall back to a scan of i's row. With at most
  eight features selected the walk sums their values (cached) instead of reading the row (a random read from
  main memory per sample), and i's run of samples equal to it on f (ReLU zeros) is searched by one vectorized
  pass over the row.
* Bringing a row up to date adds up to eight pending features per pass over a cache-sized chunk (each entry still
  sums them one by one, in order), and refilling its lists scans it against bounds from its previous lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import torch

from nnlab.analysis import _rank_kernels as K
from nnlab.analysis.neighbours import _Group
from nnlab.analysis.separation import normalize_features, separation_index, validate_inputs
from nnlab.errors import NnlabError

ProgressFn = Callable[[int, int, float], None]


@dataclass
class RankingResult:
    """Outcome of a ranking: ``features[s]`` was added at step s+1 and ``si[s]`` is the SI of the first s+1.

    ``si_all`` is the SI with every feature; ``best_step`` is the (1-based) number of features with the highest SI
    (the earliest such prefix); ``stats`` holds diagnostic counters.
    """

    features: list[int]
    si: list[float]
    si_all: float
    best_step: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def best_si(self) -> float:
        """The highest SI over all recorded prefixes."""
        return self.si[self.best_step - 1]


def _prepare(X: Any, y: Any, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    Xt, yt = validate_inputs(X, y)
    Z = normalize_features(Xt.cpu()) if normalize else Xt.cpu().to(torch.float64)
    _, inv = np.unique(yt.cpu().numpy(), return_inverse=True)
    return np.ascontiguousarray(Z.numpy().T), inv.astype(np.int64)


def _compact(Zrow: np.ndarray, cols: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """The columns ``cols`` of ``Zrow`` as a C-contiguous matrix written into the front of ``buffer``."""
    out = buffer[: Zrow.shape[0] * cols.size].reshape(Zrow.shape[0], cols.size)
    K.take_columns(Zrow, cols, out)
    return out


def _univariate_counts(ZT: np.ndarray, order: np.ndarray, yi: np.ndarray, group: Any) -> np.ndarray:
    """Every feature's one-feature count of correctly separated samples (``order``: the features' sorted orders);
    with a ``torch.distributed`` group each process counts a contiguous share of the features and all get every
    count (identical to one process)."""
    grp = _Group(group)
    if grp.size == 1:
        return K.univariate_counts(ZT, order, yi)
    f0, f1 = grp.share(ZT.shape[0])
    mine = K.univariate_counts(np.ascontiguousarray(ZT[f0:f1]), np.ascontiguousarray(order[f0:f1]), yi)
    return grp.all_gather_rows(torch.from_numpy(mine)).numpy()


def univariate_ranking(X: Any, y: Any, *, normalize: bool = True, group: Any = None) -> tuple[list[int], list[float]]:
    """Rank features by their own one-feature SI, highest first (ties → lowest index); a cheap alternative to
    :func:`forward_ranking`. Returns (features, their SI). ``group``: a ``torch.distributed`` process group whose
    processes all call this with the same data: they share the features out and all get the ranking."""
    ZT, yi = _prepare(X, y, normalize)
    counts = _univariate_counts(ZT, K.sorted_orders(ZT)[0], yi, group)
    order = np.lexsort((np.arange(counts.size), -counts))
    n = yi.size
    return [int(f) for f in order], [float(counts[f]) / n for f in order]


def forward_ranking(
    X: Any,
    y: Any,
    *,
    normalize: bool = True,
    max_steps: int | None = None,
    progress: ProgressFn | None = None,
    batch: int = 8,
    neighbors: int = 16,
    walk_budget: int = 256,
    threads: int | None = None,
    list_size: int = 32,
    max_pending: int = 16,
    lazy_after: int = 32,
    top_columns: int = 128,
    group: Any = None,
) -> RankingResult:
    """Exact greedy forward selection by SI (see the module docstring for the definition and the method).

    ``max_steps`` stops after that many features (default: all). ``progress(step, total, si)`` is called after
    every step, e.g. to advance a progress bar. Memory: one N × N float64 matrix plus a candidates × N byte mask.
    ``threads``: numba threads (default: all for N ≥ 2,000, one below, where thread start-up costs more than it
    saves). The other keyword arguments tune speed only, never the result: ``list_size`` nearest same-label and
    as many other-label samples are kept per row with exact distances, and a row of the N × N matrix is brought up
    to date only when its statistics leave those lists' certified radii or more than ``max_pending`` selected
    features are pending; before step ``lazy_after`` the whole matrix is updated every step; the cheap pair tests
    of a row read only the candidates far from its nearest same-label sample (at most ``top_columns``; more, and
    the row reads every candidate) while the others are sure to keep it correct. ``group``: a ``torch.distributed``
    process group whose processes all call this with the same data: the first step (every
    feature's own SI) and the SI with all features are shared out over it; the later steps run in every process
    (each gets the same result, identical to one process's).
    """
    ZT, yi = _prepare(X, y, normalize)
    n = ZT.shape[1]
    before = numba.get_num_threads()
    numba.set_num_threads(
        max(1, min(numba.config.NUMBA_NUM_THREADS, threads if threads is not None else (before if n >= 2000 else 1)))
    )
    try:
        lazy = (int(list_size), int(max_pending), int(lazy_after), int(top_columns))
        return _forward_ranking(
            X, y, ZT, yi, normalize, max_steps, progress, batch, neighbors, walk_budget, lazy, group
        )
    finally:
        numba.set_num_threads(before)


def _forward_ranking(
    X: Any,
    y: Any,
    ZT: np.ndarray,
    yi: np.ndarray,
    normalize: bool,
    max_steps: int | None,
    progress: ProgressFn | None,
    batch: int,
    neighbors: int,
    walk_budget: int,
    lazy: tuple[int, int, int, int],
    group: Any = None,
) -> RankingResult:
    d, n = ZT.shape
    total = d if max_steps is None else int(max_steps)
    if total < 1:
        raise NnlabError(f"max_steps must be at least 1, got {max_steps}")
    total = min(total, d)

    order_all, position = K.sorted_orders(ZT)
    counts = _univariate_counts(ZT, order_all, yi, group)
    first = int(np.argmax(counts))  # argmax returns the first (lowest-index) maximum
    features = [first]
    si = [float(counts[first]) / n]
    if progress is not None:
        progress(1, total, si[0])
    feats = K.Features(z=ZT, label=yi, class_size=np.bincount(yi), order=order_all, position=position)

    m = max(1, min(int(neighbors), n - 1))
    matrix = K.Matrix(
        d2=np.zeros((n, n), dtype=np.float64),
        version=np.ones(n, dtype=np.int64),  # selected features summed into each row
        selected=np.empty(d, dtype=np.int64),
        step=1,
        first_d=np.empty((n, m + 1), dtype=np.float64),
        first_j=np.full((n, m + 1), n, dtype=np.int64),
    )
    matrix.selected[0] = first
    nearest = K.Nearest(
        same_d=np.empty(n), same_j=np.arange(n, dtype=np.int64), other_d=np.empty(n), other_j=np.arange(n)
    )
    K.add_feature(feats, matrix, first, nearest)
    list_size, max_pending, lazy_after, top_columns = lazy
    kk = max(1, list_size)
    lists = K.Lists(
        same_d=np.empty((n, kk)),
        same_j=np.empty((n, kk), dtype=np.int64),
        same_n=np.zeros(n, dtype=np.int64),
        same_radius=np.full(n, -1.0),  # negative: list not built yet
        other_d=np.empty((n, kk)),
        other_j=np.empty((n, kk), dtype=np.int64),
        other_n=np.zeros(n, dtype=np.int64),
        other_radius=np.full(n, -1.0),
    )
    remaining = np.ones(d, dtype=bool)
    remaining[first] = False
    rebuilt = [n]
    settled_rows: list[int] = []
    Zrow = np.ascontiguousarray(ZT.T)
    cols = np.flatnonzero(remaining).astype(np.int64)  # candidates held in the compacted copy Zr
    # Zr and the pair tests' status live in buffers allocated once: compacting reuses their memory (fresh pages
    # cost more than the copy on some machines)
    zr_buffer = np.empty(n * cols.size)
    status_buffer = np.empty(n * cols.size, dtype=np.uint8)
    Zr = _compact(Zrow, cols, zr_buffer)
    tests = K.Tests(
        unresolved=status_buffer.reshape(n, cols.size),
        row_ok=np.zeros(n, dtype=np.uint8),  # rows settled correct for every candidate in this step
        smax=np.zeros(n),  # per row: largest squared difference to its nearest same-label sample over Zr's columns
        smax_j=np.full(n, -1, dtype=np.int64),  # ... and that sample (-1: to be computed)
        tau=np.zeros(n),  # per row: its columns with a larger difference are listed with it (at most top_columns)
        clean=np.zeros(n, dtype=np.uint8),
        top_key=np.empty((n, max(1, int(top_columns)))),
        top_col=np.empty((n, max(1, int(top_columns))), dtype=np.int64),
        top_n=np.zeros(n, dtype=np.int64),
    )
    nblocks = max(1, min(n, numba.get_num_threads()))  # the pair tests' counts and scratch are per block
    scans = 0
    step_scans: list[int] = []
    timing = np.zeros(3)
    step_times: list = []
    for step in range(2, total + 1):
        if remaining[cols].sum() < 0.9 * cols.size:  # compact the candidate copy now and then
            alive = remaining[cols]
            new_place = np.where(alive, np.cumsum(alive) - 1, -1)
            cols = np.flatnonzero(remaining).astype(np.int64)
            Zr = _compact(Zrow, cols, zr_buffer)
            tests = tests._replace(unresolved=status_buffer[: n * cols.size].reshape(n, cols.size))
            K.renumber_columns(tests, new_place)
        t0 = time.perf_counter()
        matrix = matrix._replace(step=step - 1)
        correct, nunres, guess = K.pair_tests(Zr, yi, nearest, matrix, tests, nblocks)
        t1 = time.perf_counter()
        settled_rows.append(int(tests.row_ok.sum()))
        alive = remaining[cols]
        ub = np.where(alive, correct + nunres, -1)
        guess = np.where(alive, guess, -1)
        order = np.lexsort((cols, -ub))[: int(alive.sum())].astype(np.int64)
        candidates = K.Candidates(
            column=cols, order=order, seed=int(np.argmax(guess)), correct=correct, unresolved=nunres
        )
        f, cnt, s = K.choose_feature(feats, matrix, tests, candidates, batch, walk_budget)
        t2 = time.perf_counter()
        scans += int(s)
        step_scans.append(int(s))
        features.append(int(f))
        si.append(float(cnt) / n)
        remaining[f] = False
        matrix.selected[step - 1] = f
        matrix = matrix._replace(step=step)
        if step < lazy_after:  # every row up to date, as the first step left them
            K.add_feature(feats, matrix, f, nearest)
            matrix.version[:] = step
            rebuilt.append(n)
        else:
            rebuilt.append(int(K.update_rows(feats, matrix, lists, nearest, max_pending)))
        t3 = time.perf_counter()
        timing += np.array([t1 - t0, t2 - t1, t3 - t2])
        step_times.append((round(t1 - t0, 3), round(t2 - t1, 3), round(t3 - t2, 3)))
        if progress is not None:
            progress(step, total, si[-1])

    if len(features) == d:
        si_all = si[-1]
    else:
        si_all = separation_index(X, y, normalize=normalize, group=group)
    best_step = int(np.argmax(np.asarray(si))) + 1
    return RankingResult(
        features=features,
        si=si,
        si_all=si_all,
        best_step=best_step,
        stats={
            "candidates_resolved": scans,
            "step_resolved": step_scans,
            "seconds_tests_choose_update": timing.tolist(),
            "step_times": step_times,
            "step_rows_updated": rebuilt,
            "step_rows_settled": settled_rows,
            "samples": n,
            "dims": d,
        },
    )
