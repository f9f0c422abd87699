"""Numba kernels behind :func:`nnlab.analysis.ranking.forward_ranking` (exact, see that module for the method).

The kernels take a few named tuples of arrays (numba passes them by reference, like the arrays themselves).
Sizes: N samples, D features, F candidate columns of the current step, m first neighbours kept per row.

Glossary:

``Features`` (fixed for the whole ranking)
    ``z``         D × N float64, the (normalized) features, feature-major: ``z[f]`` is feature f of every sample.
    ``label``     N int64, labels 0 … C-1.
    ``class_size`` C int64, the samples of each label.
    ``order``     D × N int32, each feature's samples in ascending value (stable: equal values in index order).
    ``position``  D × N int32, each sample's place in ``order`` (its inverse).
``Matrix`` (the selected set's squared distances, with lazy rows)
    ``d2``        N × N float64; row i holds the sums ``(z_i - z_j)²`` of the first ``version[i]`` selected features,
                  accumulated in selection order, exactly what a brute force over those columns computes. A row
                  with pending features holds lower bounds of the current distances.
    ``version``   N int64, selected features summed into each row.
    ``selected``  D int64, the selected features in selection order; the first ``step`` are valid.
    ``step``      number of features selected so far.
    ``first_d``, ``first_j``  N × (m + 1): each row's first m neighbours in (distance, index) order with exact
                  current distances; entry m is the certified radius (every sample not listed is at least there).
``Nearest`` (per sample, exact current distances, ties to the lowest index)
    ``same_d``, ``same_j``    the nearest same-label sample: squared distance and index.
    ``other_d``, ``other_j``  the nearest other-label sample. The sample is correct when the first is nearer.
``Lists`` (per row, for the lazy update: its nearest samples of each kind with exact current distances)
    ``same_d``, ``same_j``, ``same_n``  the nearest same-label samples (N × k), how many are listed;
    ``same_radius``   every same-label sample not listed is at least this far (inf: all listed; negative: no
                      list yet); ``other_d``, ``other_j``, ``other_n``, ``other_radius`` likewise for other labels.
``Tests`` (the step's cheap pair tests, see :func:`pair_tests`)
    ``unresolved``    N × F uint8: 0 settled wrong, 1 settled correct, 2 / 3 unresolved, guessed correct / wrong.
    ``row_ok``        N uint8: the row is settled correct for every candidate (its ``unresolved`` row unwritten).
    ``smax``, ``smax_j``  per row the largest squared difference to its nearest same-label sample over the
                      candidate columns, and that sample (-1: to be computed).
    ``top_key``, ``top_col``, ``top_n``  per row (N × k) the columns whose squared difference to that sample
                      exceeds ``tau`` (N), with those differences, and how many; ``clean`` (N uint8): every other
                      column's ``unresolved`` entry is 1.
``Candidates`` (the step's candidates)
    ``column``        F int64, the feature of each candidate column.
    ``order``         candidate columns still alive, by decreasing upper bound (ties: lower feature first).
    ``seed``          the column resolved first (the best guess).
    ``correct``, ``unresolved``  F int64: per column the samples settled correct and those left unresolved.

No fastmath anywhere: every sum must round exactly like the brute force. Inside a ``prange`` loop a parallel
kernel writes only through local names bound by attribute (``a = tuple.field``) or through a called function:
numba 0.6x drops the stores of ``tuple.field[i] = v`` written in the loop body, and of names bound by unpacking.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

_INF = np.inf

Features = namedtuple("Features", "z label class_size order position")
Matrix = namedtuple("Matrix", "d2 version selected step first_d first_j")
Nearest = namedtuple("Nearest", "same_d same_j other_d other_j")
Lists = namedtuple("Lists", "same_d same_j same_n same_radius other_d other_j other_n other_radius")
Tests = namedtuple("Tests", "unresolved row_ok smax smax_j tau clean top_key top_col top_n")
Candidates = namedtuple("Candidates", "column order seed correct unresolved")


@njit(cache=True, parallel=True)
def univariate_counts(z_all, order_all, label):
    """Number of samples whose nearest other sample on feature f alone shares its label, for every f
    (``order_all``: each feature's stable sorted order, see :func:`sorted_orders`)."""
    d, n = z_all.shape
    out = np.zeros(d, dtype=np.int64)
    for f in prange(d):
        z = z_all[f]
        order = order_all[f]  # stable: equal values stay in index order
        # run_first[p]/run_last[p]: first/last position of the run of equal values holding position p
        run_first = np.empty(n, dtype=np.int64)
        run_last = np.empty(n, dtype=np.int64)
        p = 0
        while p < n:
            q = p
            while q + 1 < n and z[order[q + 1]] == z[order[p]]:
                q += 1
            for r in range(p, q + 1):
                run_first[r] = p
                run_last[r] = q
            p = q + 1
        cnt = 0
        for p in range(n):
            i = order[p]
            a = run_first[p]
            b = run_last[p]
            if b > a:  # an equal value exists: distance 0, lowest other index of the run (runs are index-sorted)
                j = order[a] if order[a] != i else order[a + 1]
            else:
                best = _INF
                j = -1
                # walk runs outward on both sides while their distance can still equal the best
                q = a - 1
                while q >= 0:
                    dz = z[i] - z[order[q]]
                    dd = dz * dz
                    if dd > best:
                        break
                    cand = order[run_first[q]]
                    if dd < best or cand < j:
                        best = dd
                        j = cand
                    q = run_first[q] - 1
                q = b + 1
                while q < n:
                    dz = z[i] - z[order[q]]
                    dd = dz * dz
                    if dd > best:
                        break
                    cand = order[run_first[q]]
                    if dd < best or cand < j:
                        best = dd
                        j = cand
                    q = run_last[q] + 1
            if label[j] == label[i]:
                cnt += 1
        out[f] = cnt
    return out


@njit(cache=True, parallel=True)
def sorted_orders(z_all):
    """Each feature's samples in ascending value (stable: equal values in index order) and each sample's place in
    that order, features in parallel."""
    d, n = z_all.shape
    order = np.empty((d, n), dtype=np.int32)
    position = np.empty((d, n), dtype=np.int32)
    for f in prange(d):
        o = np.argsort(z_all[f], kind="mergesort")
        of = order[f]
        pf = position[f]
        for p in range(n):
            of[p] = o[p]
            pf[o[p]] = p
    return order, position


@njit(cache=True)
def _add_row(row, z, label, i, first_d, first_j, same_j_old, other_j_old):
    """Add feature ``z`` to row i of the matrix; returns its nearest (same_d, same_j, other_d, other_j) and
    refills its first neighbours."""
    n = row.shape[0]
    zi = z[i]
    yi = label[i]
    m = first_d.shape[0]
    # Every statistic kept below is at most the new distance of its previous holder, so only entries up to the
    # largest of those can matter: a threshold that lets the single pass skip almost every entry.
    theta = -1.0
    if first_j[m - 1] >= n:
        theta = _INF
    else:
        for t in range(m):
            dz = zi - z[first_j[t]]
            theta = max(theta, row[first_j[t]] + dz * dz)
        for j in (same_j_old, other_j_old):
            if j != i:
                dz = zi - z[j]
                theta = max(theta, row[j] + dz * dz)
    for t in range(m):
        first_d[t] = _INF
        first_j[t] = n
    bs = _INF
    bsj = i
    bd = _INF
    bdj = i
    last = _INF
    for j in range(n):
        dz = zi - z[j]
        v = row[j] + dz * dz
        row[j] = v
        if v <= theta and j != i:
            if label[j] == yi:
                if v < bs:
                    bs = v
                    bsj = j
            elif v < bd:
                bd = v
                bdj = j
            if v < last:  # keep the m first neighbours in (distance, index) order; j ascends, so ties stay put
                p = m - 1
                while p > 0 and first_d[p - 1] > v:
                    first_d[p] = first_d[p - 1]
                    first_j[p] = first_j[p - 1]
                    p -= 1
                first_d[p] = v
                first_j[p] = j
                last = first_d[m - 1]
    return bs, bsj, bd, bdj


@njit(cache=True, parallel=True)
def add_feature(features, matrix, f, nearest):
    """``d2 += (z_i - z_j)²`` of feature f for all pairs; refresh every row's ``nearest`` samples and its first
    neighbours. Before the first call set ``first_j`` to N (no list yet) and ``same_j`` / ``other_j`` to the row
    index."""
    z = features.z[f]
    label = features.label
    d2, first_d, first_j = matrix.d2, matrix.first_d, matrix.first_j
    same_d, same_j = nearest.same_d, nearest.same_j
    other_d, other_j = nearest.other_d, nearest.other_j
    n = d2.shape[0]
    for i in prange(n):
        bs, bsj, bd, bdj = _add_row(d2[i], z, label, i, first_d[i], first_j[i], same_j[i], other_j[i])
        same_d[i] = bs
        same_j[i] = bsj
        other_d[i] = bd
        other_j[i] = bdj


@njit(cache=True)
def _pair_row(zr, label, i, nearest, matrix, status, counts, scratch, top, full):
    """Settle (i, f) for the columns f of ``zr`` (row-major N × F candidates) for one sample i.

    status[f]: 0 stays wrong, 1 stays correct (settled); 2/3 unresolved, guessed correct/wrong. ``counts`` are
    this thread's (not settled correct, guessed correct, unresolved) per column. ``top`` = (tau, clean, key, col,
    count): the row's columns whose squared difference to its nearest same-label sample exceeds ``tau`` (at most
    ``key.shape[0]`` of them, with those differences). With ``full`` (the nearest same-label sample or the columns
    changed, or ``tau`` no longer keeps the other columns correct) every column is tested and ``top`` rebuilt;
    otherwise only the listed columns are, every other column being settled correct by the ``tau`` test, which
    rounds like each column's own (``clean``: their status entries are all 1 already). Returns the largest squared
    difference over all columns when ``full`` (see :func:`pair_tests`)."""
    zi = zr[i]
    zs = zr[nearest.same_j[i]]
    zd = zr[nearest.other_j[i]]
    msi = nearest.same_d[i]
    mdi = nearest.other_d[i]
    yi = label[i]
    tv = matrix.first_d[i]
    tj = matrix.first_j[i]
    nok, gg, uu = counts
    cols, best, bestj, keys = scratch
    tau, clean, tkey, tcol, tn = top
    nf = zi.shape[0]
    m = tv.shape[0] - 1
    r = tv[m]
    rj = tj[m]
    kmax = tkey.shape[0]
    k = 0  # open columns, for the list test below
    smax = 0.0
    if full:
        # branch-free pass (vectorizes): 1 = settled correct, 0 = settled wrong, 4 = needs the list test
        need = 0
        for f in range(nf):
            ds = zi[f] - zs[f]
            key = ds * ds
            a = msi + key  # new distance to the current nearest same-label sample: an upper bound
            keys[f] = key
            smax = max(smax, key)
            dd = zi[f] - zd[f]
            b = mdi + dd * dd
            ok = a < mdi  # other-label distances can only grow: still correct
            st = np.uint8(1) if ok else (np.uint8(0) if b < msi else np.uint8(4))
            status[f] = st
            nok[f] += 0 if ok else 1
            need += 1 if st == 4 else 0
        # list the columns past half the row's margin, if there are few enough; else the row stays unlisted
        t = 0.5 * (mdi - msi) if msi < mdi else _INF
        q = 0
        if t < _INF:
            for f in range(nf):
                if keys[f] > t:
                    if q == kmax:
                        t = _INF
                        q = 0
                        break
                    tkey[q] = keys[f]
                    tcol[q] = f
                    q += 1
        tau[0] = t
        tn[0] = q
        clean[0] = 1
        if need > 0:
            for f in range(nf):
                if status[f] == 4:
                    cols[k] = f
                    best[k] = _INF
                    bestj[k] = -1
                    k += 1
                    if keys[f] <= t:
                        clean[0] = 0
    else:
        if clean[0] == 0:
            status[:] = 1
            clean[0] = 1
        for q in range(tn[0]):
            f = tcol[q]
            if msi + tkey[q] < mdi:
                status[f] = 1
                continue
            nok[f] += 1
            dd = zi[f] - zd[f]
            if mdi + dd * dd < msi:
                status[f] = 0
            else:
                status[f] = 4
                cols[k] = f
                best[k] = _INF
                bestj[k] = -1
                k += 1
    if k == 0:
        return smax
    # exact from the first m neighbours: every other sample is at least at the radius (r, rj). One pass over each
    # neighbour's row for all open columns (its row is read in order, not once per column); the minimum over
    # (distance, index) does not depend on the order the neighbours are taken in.
    for t in range(m):
        j = tj[t]
        tvt = tv[t]
        zj = zr[j]
        for q in range(k):
            if tvt > best[q]:  # this neighbour and every later one are farther: no need to read its value
                continue
            f = cols[q]
            dz = zi[f] - zj[f]
            v = tvt + dz * dz
            if v < best[q] or (v == best[q] and j < bestj[q]):
                best[q] = v
                bestj[q] = j
    for q in range(k):
        f = cols[q]
        bj = bestj[q]
        ok = label[bj] == yi
        if best[q] < r or (best[q] == r and bj < rj):
            if ok:
                status[f] = 1
                nok[f] -= 1
            else:
                status[f] = 0
        else:
            uu[f] += 1
            if ok:
                status[f] = 2
                gg[f] += 1
            else:
                status[f] = 3
    return smax


@njit(cache=True, parallel=True)
def take_columns(zrow, cols, out):
    """``out[i, q] = zrow[i, cols[q]]``, rows in parallel (the candidates' compacted copy)."""
    for i in prange(zrow.shape[0]):
        src = zrow[i]
        dst = out[i]
        for q in range(cols.shape[0]):
            dst[q] = src[cols[q]]


@njit(cache=True, parallel=True)
def renumber_columns(tests, new_place):
    """After the candidate columns were compacted (``new_place[c]``: the new place of old column c, -1 if it
    left), keep each row's listed columns that are left, at their new places. The rows' largest differences stay
    valid bounds over fewer columns, so no row needs a full pass; the new status matrix is unwritten (``clean`` 0).
    """
    top_key = tests.top_key
    top_col = tests.top_col
    top_n = tests.top_n
    clean = tests.clean
    for i in prange(top_n.shape[0]):
        key = top_key[i]
        col = top_col[i]
        q = 0
        for k in range(top_n[i]):
            c = new_place[col[k]]
            if c >= 0:
                key[q] = key[k]
                col[q] = c
                q += 1
        top_n[i] = q
        clean[i] = 0


@njit(cache=True, parallel=True)
def pair_tests(zr, label, nearest, matrix, tests, nblocks):
    """For each sample i and candidate column f of ``zr`` (N × F, the candidates' features row-major) decide
    cheaply whether adding f leaves i correct or wrong. Returns per candidate the settled-correct count, the
    unresolved count and a guessed count (settled + unresolved whose nearest listed neighbour shares the label);
    fills ``tests.unresolved`` (see :func:`_pair_row`), ``nblocks`` row blocks in parallel (one per thread: each
    block's counts and scratch are allocated every call).

    A row is settled as a whole (``row_ok[i]`` = 1, its ``unresolved`` row left unwritten) when even the largest
    squared difference to its nearest same-label sample over all columns, ``smax[i]`` (kept from the row's last
    full pass while that sample ``smax_j[i]`` stays its nearest, and a valid bound over fewer columns after
    :func:`renumber_columns`; -1: to be computed),
    keeps it correct; otherwise, while the columns past its ``tau`` stay correct, only its listed columns with the
    largest differences are tested. These tests round exactly like the per-column one, so the result is the same.
    Counting the columns not settled correct lets an unlisted column cost nothing."""
    n, nf = zr.shape
    allok = np.zeros(nblocks, dtype=np.int64)
    tested = np.zeros(nblocks, dtype=np.int64)
    nok = np.zeros((nblocks, nf), dtype=np.int64)
    gg = np.zeros((nblocks, nf), dtype=np.int64)
    uu = np.zeros((nblocks, nf), dtype=np.int64)
    cols = np.empty((nblocks, nf), dtype=np.int64)  # scratch of each block: open columns, their best, all keys
    best = np.empty((nblocks, nf))
    bestj = np.empty((nblocks, nf), dtype=np.int64)
    keys = np.empty((nblocks, nf))
    same_j = nearest.same_j
    same_d = nearest.same_d
    other_d = nearest.other_d
    unresolved = tests.unresolved
    row_ok = tests.row_ok
    smax = tests.smax
    smax_j = tests.smax_j
    tau = tests.tau
    clean = tests.clean
    top_key = tests.top_key
    top_col = tests.top_col
    top_n = tests.top_n
    for th in prange(nblocks):
        for i in range(th, n, nblocks):  # strided: rows of one class (often consecutive) spread over threads
            if smax_j[i] == same_j[i] and same_d[i] + smax[i] < other_d[i]:
                row_ok[i] = 1
                allok[th] += 1
                continue
            row_ok[i] = 0
            tested[th] += 1
            full = smax_j[i] != same_j[i] or not same_d[i] + tau[i] < other_d[i]
            smax_j[i] = same_j[i]
            s = _pair_row(
                zr,
                label,
                i,
                nearest,
                matrix,
                unresolved[i],
                (nok[th], gg[th], uu[th]),
                (cols[th], best[th], bestj[th], keys[th]),
                (tau[i : i + 1], clean[i : i + 1], top_key[i], top_col[i], top_n[i : i + 1]),
                full,
            )
            if full:
                smax[i] = s
    correct = allok.sum() + tested.sum() - nok.sum(axis=0)
    return correct, uu.sum(axis=0), correct + gg.sum(axis=0)


@njit(cache=True)
def _insert(dist, index, v, j):
    """Insert (v, j) into the list kept in (distance, index) order, if it belongs there."""
    last = dist.shape[0] - 1
    if v < dist[last] or (v == dist[last] and j < index[last]):
        p = last
        while p > 0 and (dist[p - 1] > v or (dist[p - 1] == v and index[p - 1] > j)):
            dist[p] = dist[p - 1]
            index[p] = index[p - 1]
            p -= 1
        dist[p] = v
        index[p] = j


@njit(cache=True)
def _list_row(i, z, label, lists, first_d, first_j):
    """Add feature ``z`` to row i's two lists (exact current distances of its nearest same-label and other-label
    samples) and derive the row's statistics from them. Returns (valid, same_d, same_j, other_d, other_j); valid
    when every statistic is certified: strictly below its list's radius."""
    n = z.shape[0]
    zi = z[i]
    m1 = first_d.shape[0]
    # the previous first neighbours' new distances bound the new first ones: only entries up to theta can enter
    theta = -1.0
    for t in range(m1):
        j = first_j[t]
        if j >= n:
            theta = _INF
            break
        dz = zi - z[j]
        theta = max(theta, first_d[t] + dz * dz)
    for t in range(m1):
        first_d[t] = _INF
        first_j[t] = n
    sv = lists.same_d[i]
    sj = lists.same_j[i]
    bs = _INF
    bsj = i
    for k in range(lists.same_n[i]):
        j = sj[k]
        dz = zi - z[j]
        v = sv[k] + dz * dz
        sv[k] = v
        if v < bs or (v == bs and j < bsj):
            bs = v
            bsj = j
        if v <= theta:
            _insert(first_d, first_j, v, j)
    dv = lists.other_d[i]
    dj = lists.other_j[i]
    bd = _INF
    bdj = i
    for k in range(lists.other_n[i]):
        j = dj[k]
        dz = zi - z[j]
        v = dv[k] + dz * dz
        dv[k] = v
        if v < bd or (v == bd and j < bdj):
            bd = v
            bdj = j
        if v <= theta:
            _insert(first_d, first_j, v, j)
    rs = lists.same_radius[i]
    rd = lists.other_radius[i]
    lim = min(rs, rd)
    valid = (rs == _INF or bs < rs) and (rd == _INF or bd < rd) and (lim == _INF or first_d[m1 - 1] < lim)
    return valid, bs, bsj, bd, bdj


@njit(cache=True)
def _catch_up(row, z_all, selected, v0, s, i):
    """Add the pending features ``selected[v0:s]`` to row i of the matrix, in selection order, a cache-sized chunk
    at a time and up to eight features per pass over the chunk (each entry still sums them one by one, in order)."""
    n = row.shape[0]
    for c0 in range(0, n, 1024):
        r = row[c0 : min(n, c0 + 1024)]  # a slice indexed from 0 lets LLVM vectorize (no negative-index checks)
        t = v0
        while t + 8 <= s:
            _add8(r, z_all, selected, t, i, c0)
            t += 8
        while t < s:
            z = z_all[selected[t]]
            zi = z[i]
            zc = z[c0 : c0 + r.shape[0]]
            for j in range(r.shape[0]):
                dz = zi - zc[j]
                r[j] = r[j] + dz * dz
            t += 1


@njit(cache=True)
def _add8(r, z_all, selected, t, i, c0):
    """``r[j] += (z_i - z_j)²`` of the eight features ``selected[t:t+8]`` one after another, in one pass over
    ``r`` (the columns ``c0 …`` of row i): the same sums as eight passes, an eighth of the row's loads and stores."""
    m = r.shape[0]
    z0 = z_all[selected[t]]
    z1 = z_all[selected[t + 1]]
    z2 = z_all[selected[t + 2]]
    z3 = z_all[selected[t + 3]]
    z4 = z_all[selected[t + 4]]
    z5 = z_all[selected[t + 5]]
    z6 = z_all[selected[t + 6]]
    z7 = z_all[selected[t + 7]]
    a0, a1, a2, a3, a4, a5, a6, a7 = z0[i], z1[i], z2[i], z3[i], z4[i], z5[i], z6[i], z7[i]
    z0, z1, z2, z3 = z0[c0 : c0 + m], z1[c0 : c0 + m], z2[c0 : c0 + m], z3[c0 : c0 + m]
    z4, z5, z6, z7 = z4[c0 : c0 + m], z5[c0 : c0 + m], z6[c0 : c0 + m], z7[c0 : c0 + m]
    for j in range(m):
        d0 = a0 - z0[j]
        d1 = a1 - z1[j]
        d2 = a2 - z2[j]
        d3 = a3 - z3[j]
        d4 = a4 - z4[j]
        d5 = a5 - z5[j]
        d6 = a6 - z6[j]
        d7 = a7 - z7[j]
        r[j] = (((((((r[j] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3) + d4 * d4) + d5 * d5) + d6 * d6) + d7 * d7


@njit(cache=True)
def _bound(row, listed, count, k, n):
    """An upper bound on the k-th smallest value of ``row`` over a kind of samples, from ``count`` distinct samples
    of that kind listed before (their largest current value); infinite when fewer than k are listed."""
    if count < k:
        return _INF
    t = -_INF
    for q in range(k):
        j = listed[q]
        if j >= n:
            return _INF
        t = max(t, row[j])
    return t


@njit(cache=True)
def _rebuild_row(features, matrix, lists, i):
    """Bring the stale row i of the matrix up to date (pending features added in selection order, so every sum
    rounds like the brute force), then refill its two lists and first neighbours and set its version. Returns its
    nearest (same_d, same_j, other_d, other_j)."""
    row = matrix.d2[i]
    n = row.shape[0]
    _catch_up(row, features.z, matrix.selected, matrix.version[i], matrix.step, i)
    matrix.version[i] = matrix.step
    sv = lists.same_d[i]
    sj = lists.same_j[i]
    dv = lists.other_d[i]
    dj = lists.other_j[i]
    tv = matrix.first_d[i]
    tj = matrix.first_j[i]
    ks = sv.shape[0]
    kd = dv.shape[0]
    m1 = tv.shape[0]
    label = features.label
    yi = label[i]
    # Upper bounds on the k-th smallest value of each list, from the samples listed before (their values are
    # current now): the scan below inserts only entries up to them, so it is a branch that is rarely taken.
    ts = _bound(row, sj, lists.same_n[i], ks, n)
    td = _bound(row, dj, lists.other_n[i], kd, n)
    tf = _bound(row, tj, m1, m1, n)
    for k in range(ks):
        sv[k] = _INF
        sj[k] = n
    for k in range(kd):
        dv[k] = _INF
        dj[k] = n
    for t in range(m1):
        tv[t] = _INF
        tj[t] = n
    cs = features.class_size[yi] - 1  # other samples of i's label
    cd = n - 1 - cs
    for j in range(n):  # j ascends, so a strict test keeps equal distances in index order
        v = row[j]
        same = label[j] == yi
        if (v <= ts if same else v <= td) or v <= tf:
            if j == i:
                continue
            if same:
                if v < sv[ks - 1]:
                    _insert(sv, sj, v, j)
            elif v < dv[kd - 1]:
                _insert(dv, dj, v, j)
            if v < tv[m1 - 1]:
                _insert(tv, tj, v, j)
    lists.same_n[i] = min(cs, ks)
    lists.same_radius[i] = sv[ks - 1] if cs > ks else _INF
    lists.other_n[i] = min(cd, kd)
    lists.other_radius[i] = dv[kd - 1] if cd > kd else _INF
    bs, bsj = (sv[0], sj[0]) if cs > 0 else (_INF, i)
    bd, bdj = (dv[0], dj[0]) if cd > 0 else (_INF, i)
    return bs, bsj, bd, bdj


@njit(cache=True)
def _update_one(features, matrix, lists, nearest, max_pending, i):
    """:func:`update_rows` for row i; returns 1 if the row was brought up to date."""
    s = matrix.step
    z = features.z[matrix.selected[s - 1]]
    ok = False
    bs = _INF
    bsj = i
    bd = _INF
    bdj = i
    if lists.same_radius[i] >= 0.0:
        ok, bs, bsj, bd, bdj = _list_row(i, z, features.label, lists, matrix.first_d[i], matrix.first_j[i])
    reb = 0
    if ok and s - matrix.version[i] > max_pending:  # the lists still hold: only bring the row's sums up to date
        _catch_up(matrix.d2[i], features.z, matrix.selected, matrix.version[i], s, i)
        matrix.version[i] = s
        reb = 1
    elif not ok:
        bs, bsj, bd, bdj = _rebuild_row(features, matrix, lists, i)
        reb = 1
    nearest.same_d[i] = bs
    nearest.same_j[i] = bsj
    nearest.other_d[i] = bd
    nearest.other_j[i] = bdj
    return reb


@njit(cache=True, parallel=True)
def update_rows(features, matrix, lists, nearest, max_pending):
    """After feature ``selected[step-1]`` was selected: refresh every row's ``nearest`` samples and its first
    neighbours, as :func:`add_feature` does, but lazily.

    A row is brought up to date (pending features added in order) and its lists refilled only when a statistic
    leaves a certified radius; with more than ``max_pending`` features pending (they make exact look-ups dearer)
    only its sums are brought up to date. A negative radius forces a refill. Returns the number of rows brought up
    to date."""
    n = matrix.d2.shape[0]
    rebuilt = np.zeros(n, dtype=np.int64)
    nb = min(n, 64)
    for b in prange(nb):
        for i in range(b, n, nb):  # strided: rows of one class (often consecutive) spread over threads
            rebuilt[i] = _update_one(features, matrix, lists, nearest, max_pending, i)
    return rebuilt.sum()


@njit(cache=True)
def _exact(features, matrix, i, j):
    """Current squared distance of (i, j) from the possibly stale row value: pending features added in selection
    order."""
    return _add_selected(features, matrix, i, j, matrix.d2[i, j], matrix.version[i])


@njit(cache=True)
def _add_selected(features, matrix, i, j, v, t0):
    """``v`` plus the squared differences of (i, j) on the selected features ``selected[t0:step]``, in order."""
    z_all = features.z
    selected = matrix.selected
    for t in range(t0, matrix.step):
        z = z_all[selected[t]]
        dz = z[i] - z[j]
        v = v + dz * dz
    return v


_FEW_FEATURES = 8


@njit(cache=True)
def _full_scan(features, matrix, f, i, best, bj):
    """Exact scan of the whole (possibly stale) row from a known (best, bj): stale values are lower bounds, so a
    pair is summed exactly only when it could still win."""
    row = matrix.d2[i]
    z = features.z[f]
    zi = z[i]
    for j in range(row.shape[0]):
        if j == i:
            continue
        dz = zi - z[j]
        dd = dz * dz
        lb = row[j] + dd
        if lb > best or (lb == best and j > bj):
            continue
        v = _exact(features, matrix, i, j) + dd
        if v < best or (v == best and j < bj):
            best = v
            bj = j
    return bj


@njit(cache=True)
def _resolve_one(features, matrix, f, i, budget):
    """Exact new nearest neighbour of i once feature f is added; returns 1 if it shares i's label.

    Starts from the best of i's first neighbours (an upper bound), then walks outward in the candidate's own sorted
    order, where the added squared difference (a lower bound on the new distance) only grows, and stops when it
    exceeds the best; a walk longer than ``budget`` falls back to a scan of the whole row. Row i of the matrix may
    be stale: its values are lower bounds, made exact only where they could win."""
    z = features.z[f]
    ordf = features.order[f]
    label = features.label
    n = z.shape[0]
    row = matrix.d2[i]
    stale = matrix.version[i] < matrix.step
    # With few features selected their values (a few cached vectors) give the exact distance sooner than the
    # matrix row, whose entries the walk reads in random order from main memory
    few = matrix.step <= _FEW_FEATURES
    zi = z[i]
    tv = matrix.first_d[i]
    tj = matrix.first_j[i]
    best = _INF
    bj = -1
    for t in range(tv.shape[0] - 1):
        if tv[t] > best:
            break
        j = tj[t]
        dz = zi - z[j]
        v = tv[t] + dz * dz
        if v < best or (v == best and j < bj):
            best = v
            bj = j
    p = features.position[f, i]
    lo = p - 1
    hi = p + 1
    if not stale:
        # i's run of equal values on f (ReLU zeros: often a third of the samples) adds nothing to their distances:
        # its nearest member comes from one vectorized pass over the row instead of a walk through every member
        a, b = _run(z, ordf, zi, p)
        if b - a >= _LONG_RUN:
            rb, rj = _run_nearest(row, z, zi, i)
            if rj >= 0 and (rb < best or (rb == best and rj < bj)):
                best = rb
                bj = rj
            if best == 0.0:  # nothing outside the run can be at distance 0
                return 1 if label[bj] == label[i] else 0
            lo = a - 1
            hi = b + 1
    steps = 0
    while lo >= 0 or hi < n:
        dl = _INF
        dh = _INF
        if lo >= 0:
            dz = zi - z[ordf[lo]]
            dl = dz * dz
        if hi < n:
            dz = zi - z[ordf[hi]]
            dh = dz * dz
        if dl <= dh:
            j = ordf[lo]
            dd = dl
            lo -= 1
        else:
            j = ordf[hi]
            dd = dh
            hi += 1
        if dd > best:
            break
        lb = (_add_selected(features, matrix, i, j, 0.0, 0) if few else row[j]) + dd
        if lb < best or (lb == best and j < bj):
            v = _exact(features, matrix, i, j) + dd if stale and not few else lb
            if v < best or (v == best and j < bj):
                best = v
                bj = j
        if best == 0.0:
            bj = _lowest_tie(features, matrix, f, i, p, bj)
            break
        steps += 1
        if steps > budget:
            bj = _full_scan(features, matrix, f, i, best, bj)
            break
    if best == 0.0 and steps == 0:
        bj = _lowest_tie(features, matrix, f, i, p, bj)
    return 1 if label[bj] == label[i] else 0


_LONG_RUN = 64  # runs of equal values at least this long are searched by a pass over the row
_NO_BITS = np.iinfo(np.int64).max


@njit(cache=True)
def _run_start(z, ordf, zi, p):
    """First place, in the sorted order ``ordf`` of ``z``, whose value is not below ``zi`` (the value at place p)."""
    lo = 0
    hi = p
    while lo < hi:
        mid = (lo + hi) // 2
        if z[ordf[mid]] < zi:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _run(z, ordf, zi, p):
    """First and last place, in the sorted order ``ordf`` of ``z``, of the values equal to ``zi`` (at place p)."""
    a = _run_start(z, ordf, zi, p)
    lo = p
    hi = ordf.shape[0]
    while lo < hi:  # first place whose value is above zi
        mid = (lo + hi) // 2
        if z[ordf[mid]] > zi:
            hi = mid
        else:
            lo = mid + 1
    return a, lo - 1


@njit(cache=True)
def _run_nearest(row, z, zi, i):
    """The smallest ``row[j]`` over the samples j ≠ i with ``z[j] == zi``, and the lowest such j (-1 if none).
    Distances are non-negative, so their bit patterns order like the values: an integer minimum, which
    vectorizes (a float one does not without fastmath)."""
    bits = row.view(np.int64)
    n = row.shape[0]
    low = _NO_BITS
    for j in range(n):
        low = min(low, bits[j] if (z[j] == zi and j != i) else _NO_BITS)
    if low == _NO_BITS:
        return _INF, -1
    for j in range(n):
        if bits[j] == low and z[j] == zi and j != i:
            return row[j], j
    return _INF, -1


@njit(cache=True)
def _lowest_tie(features, matrix, f, i, p, bj):
    """With a best distance of 0, only samples equal to i on feature f and at distance 0 on the selected set can
    tie, and they form i's run of equal values in the stable sorted order (``p``: i's place), by ascending index:
    the first of them (other than i) with a zero distance is the nearest neighbour (or ``bj`` if none is lower)."""
    z = features.z[f]
    ordf = features.order[f]
    row = matrix.d2[i]
    zi = z[i]
    q = _run_start(z, ordf, zi, p)
    n = ordf.shape[0]
    while q < n:
        j = ordf[q]
        if j >= bj or z[j] != zi:
            break
        if j != i and row[j] == 0.0 and _exact(features, matrix, i, j) == 0.0:
            return j
        q += 1
    return bj


@njit(cache=True, parallel=True)
def _resolve_all(features, matrix, tests, candidates, c, budget):
    """Exact correct count of candidate column c, all its unresolved rows in parallel."""
    f = candidates.column[c]
    urow = tests.unresolved[:, c]
    row_ok = tests.row_ok
    n = row_ok.shape[0]
    nb = min(n, 64)
    part = np.zeros(nb, dtype=np.int64)
    for b in prange(nb):
        for i in range(b, n, nb):  # strided: rows of one class (often consecutive) spread over threads
            if row_ok[i] == 0 and urow[i] >= 2:
                part[b] += _resolve_one(features, matrix, f, i, budget)
    return candidates.correct[c] + part.sum()


@njit(cache=True)
def _resolve_candidate(features, matrix, tests, candidates, c, floor, floor_f, budget):
    """Exact correct count of candidate column c (one thread), or -1 once it cannot beat ``floor`` (reached by
    feature ``floor_f``; a tie loses to a lower feature). Rows guessed wrong are resolved first so that losers are
    dropped early."""
    f = candidates.column[c]
    floor_wins = f > floor_f
    urow = tests.unresolved[:, c]
    row_ok = tests.row_ok
    n = row_ok.shape[0]
    got = candidates.correct[c]
    left = 0
    for i in range(n):
        if row_ok[i] == 0 and urow[i] >= 2:
            left += 1
    for want in (3, 2):
        for i in range(n):
            if row_ok[i] != 0 or urow[i] != want:
                continue
            got += _resolve_one(features, matrix, f, i, budget)
            left -= 1
            if got + left < floor or (got + left == floor and floor_wins):
                return -1
    return got


@njit(cache=True, parallel=True)
def _resolve_batch(features, matrix, tests, candidates, batch, best, best_f, budget):
    """:func:`_resolve_candidate` of the columns in ``batch``, one per thread."""
    out = np.empty(batch.shape[0], dtype=np.int64)
    for t in prange(batch.shape[0]):
        out[t] = _resolve_candidate(features, matrix, tests, candidates, batch[t], best, best_f, budget)
    return out


@njit(cache=True)
def choose_feature(features, matrix, tests, candidates, batch_size, budget):
    """Exact best candidate: resolve the most promising one (``seed``) fully, then the others in decreasing upper
    bound (settled correct + unresolved), ``batch_size`` at a time in parallel, dropping one as soon as it can no
    longer beat the best so far or tie it with a lower feature index. Returns (feature, correct count, candidates
    resolved). ``budget``: the longest walk before a full row scan (see :func:`_resolve_one`)."""
    column = candidates.column
    seed = candidates.seed
    best = _resolve_all(features, matrix, tests, candidates, seed, budget)
    best_f = column[seed]
    resolved = 1
    t = 0
    order = candidates.order
    nord = order.shape[0]
    batch = np.empty(batch_size, dtype=np.int64)
    while t < nord:
        m = 0
        while t < nord and m < batch_size:
            c = order[t]
            t += 1
            if c == seed:
                continue
            ub = candidates.correct[c] + candidates.unresolved[c]
            if ub < best or (ub == best and column[c] > best_f):
                t = nord
                break
            batch[m] = c
            m += 1
        if m == 0:
            break
        got = _resolve_batch(features, matrix, tests, candidates, batch[:m], best, best_f, budget)
        resolved += m
        for q in range(m):
            g = got[q]
            f = column[batch[q]]
            if g >= 0 and (g > best or (g == best and f < best_f)):
                best = g
                best_f = f
    return best_f, best, resolved
