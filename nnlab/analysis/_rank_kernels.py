"""Numba kernels behind :func:`nnlab.analysis.ranking.forward_ranking` (exact, see that module).

Conventions: ``ZT`` is the D × N float64 feature-major copy of the (normalized) features, ``D2`` the N × N float64
matrix of squared distances under the selected features, accumulated feature by feature in selection order
(``D2 += (z_i - z_j) ** 2``), exactly what a brute force that sums the selected features in that order computes.
Per sample i the kernels keep the nearest same-label sample (``ms[i]`` at ``js[i]``) and the nearest other-label
sample (``md[i]`` at ``jd[i]``), ties to the lowest index; i's nearest neighbour is the nearer of the two.
No fastmath anywhere: every sum must round exactly like the brute force.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_INF = np.inf


@njit(cache=True, parallel=True)
def univariate_counts(ZT, y):
    """Number of samples whose nearest other sample on feature f alone shares its label, for every f."""
    d, n = ZT.shape
    out = np.zeros(d, dtype=np.int64)
    for f in prange(d):
        z = ZT[f]
        order = np.argsort(z, kind="mergesort")  # stable: equal values stay in index order
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
            if y[j] == y[i]:
                cnt += 1
        out[f] = cnt
    return out


@njit(cache=True)
def _add_row(row, z, y, i, tv, tj, js_old, jd_old):
    n = row.shape[0]
    zi = z[i]
    yi = y[i]
    m = tv.shape[0]
    # Every statistic kept below is at most the new distance of its previous holder, so only entries up to the
    # largest of those can matter: a threshold that lets the single pass skip almost every entry.
    theta = -1.0
    if tj[m - 1] >= n:
        theta = _INF
    else:
        for t in range(m):
            dz = zi - z[tj[t]]
            theta = max(theta, row[tj[t]] + dz * dz)
        for j in (js_old, jd_old):
            if j != i:
                dz = zi - z[j]
                theta = max(theta, row[j] + dz * dz)
    for t in range(m):
        tv[t] = _INF
        tj[t] = n
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
            if y[j] == yi:
                if v < bs:
                    bs = v
                    bsj = j
            elif v < bd:
                bd = v
                bdj = j
            if v < last:  # keep the m first neighbours in (distance, index) order; j ascends, so ties stay put
                p = m - 1
                while p > 0 and tv[p - 1] > v:
                    tv[p] = tv[p - 1]
                    tj[p] = tj[p - 1]
                    p -= 1
                tv[p] = v
                tj[p] = j
                last = tv[m - 1]
    return bs, bsj, bd, bdj


@njit(cache=True, parallel=True)
def add_feature(D2, z, y, ms, js, md, jd, topv, topj):
    """D2 += (z_i - z_j)² for all pairs; refresh every row's nearest same-/other-label sample and its first
    ``topv.shape[1]`` neighbours in (distance, index) order (the last one is the certified radius).
    Before the first call set ``topj`` to N (no list yet) and js/jd to the row index."""
    n = D2.shape[0]
    for i in prange(n):
        bs, bsj, bd, bdj = _add_row(D2[i], z, y, i, topv[i], topj[i], js[i], jd[i])
        ms[i] = bs
        js[i] = bsj
        md[i] = bd
        jd[i] = bdj


@njit(cache=True)
def _pair_row(zi, zs, zd, msi, mdi, yi, Zr, y, tv, tj, status, cc, gg, uu):
    """Settle (i, f) for every column f of ``Zr`` (row-major N × F candidates) for one sample i.

    status[f]: 0 stays wrong, 1 stays correct (settled); 2/3 unresolved, guessed correct/wrong. Returns the
    largest squared difference to the nearest same-label sample over the columns (see :func:`pair_tests`)."""
    nf = zi.shape[0]
    m = tv.shape[0] - 1
    r = tv[m]
    rj = tj[m]
    # branch-free first pass (vectorizes): 1 = settled correct, 0 = settled wrong, 4 = needs the list test
    need = 0
    smax = 0.0
    for f in range(nf):
        ds = zi[f] - zs[f]
        a = msi + ds * ds  # new distance to the current nearest same-label sample: an upper bound
        smax = max(smax, ds * ds)
        dd = zi[f] - zd[f]
        b = mdi + dd * dd
        ok = a < mdi  # other-label distances can only grow: still correct
        st = np.uint8(1) if ok else (np.uint8(0) if b < msi else np.uint8(4))
        status[f] = st
        cc[f] += 1 if ok else 0
        need += 1 if st == 4 else 0
    if need == 0:
        return smax
    for f in range(nf):
        if status[f] != 4:
            continue
        # exact from the first m neighbours: every other sample is at least at the radius (r, rj)
        best = _INF
        bj = -1
        for t in range(m):
            if tv[t] > best:
                break
            j = tj[t]
            dz = zi[f] - Zr[j, f]
            v = tv[t] + dz * dz
            if v < best or (v == best and j < bj):
                best = v
                bj = j
        ok = y[bj] == yi
        if best < r or (best == r and bj < rj):
            if ok:
                status[f] = 1
                cc[f] += 1
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
def pair_tests(Zr, y, ms, js, md, jd, topv, topj, unresolved, nblocks, smax, smax_j, rowok):
    """For each sample i and candidate column f of ``Zr`` decide cheaply whether adding f leaves i correct or
    wrong. Returns per candidate the settled-correct count, the unresolved count and a guessed count (settled +
    unresolved whose nearest listed neighbour shares the label); fills ``unresolved[i, f]`` (N × F, see
    :func:`_pair_row`).

    A row is settled as a whole (``rowok[i]`` = 1, its ``unresolved`` row left unwritten) when even the largest
    squared difference to its nearest same-label sample over all columns, ``smax[i]`` (kept from the row's last
    full pass while that sample ``smax_j[i]`` stays its nearest; set ``smax_j`` to -1 when the columns change),
    keeps it correct: the test rounds exactly like the per-column one, so the result is the same."""
    n, nf = Zr.shape
    allok = np.zeros(nblocks, dtype=np.int64)
    cc = np.zeros((nblocks, nf), dtype=np.int64)
    gg = np.zeros((nblocks, nf), dtype=np.int64)
    uu = np.zeros((nblocks, nf), dtype=np.int64)
    for blk in prange(nblocks):
        for i in range(blk, n, nblocks):  # strided: rows of one class (often consecutive) spread over threads
            if smax_j[i] == js[i] and ms[i] + smax[i] < md[i]:
                rowok[i] = 1
                allok[blk] += 1
                continue
            rowok[i] = 0
            smax_j[i] = js[i]
            smax[i] = _pair_row(
                Zr[i],
                Zr[js[i]],
                Zr[jd[i]],
                ms[i],
                md[i],
                y[i],
                Zr,
                y,
                topv[i],
                topj[i],
                unresolved[i],
                cc[blk],
                gg[blk],
                uu[blk],
            )
    correct = cc.sum(axis=0) + allok.sum()
    return correct, uu.sum(axis=0), correct + gg.sum(axis=0)


@njit(cache=True)
def _insert(tv, tj, v, j):
    """Insert (v, j) into the list kept in (distance, index) order, if it belongs there."""
    last = tv.shape[0] - 1
    if v < tv[last] or (v == tv[last] and j < tj[last]):
        p = last
        while p > 0 and (tv[p - 1] > v or (tv[p - 1] == v and tj[p - 1] > j)):
            tv[p] = tv[p - 1]
            tj[p] = tj[p - 1]
            p -= 1
        tv[p] = v
        tj[p] = j


@njit(cache=True)
def _list_row(i, z, y, sv, sj, sn, rs, dv, dj, dn, rd, tv, tj):
    """Add feature ``z`` to row i's two neighbour lists (exact current distances of its nearest same-label and
    other-label samples) and derive the row's statistics from them. Returns (valid, ms, js, md, jd); valid when
    every statistic is certified: strictly below its list's radius (every same-label sample outside the first list
    is at least at ``rs``, likewise ``rd``; inf: the list holds them all)."""
    n = z.shape[0]
    zi = z[i]
    m1 = tv.shape[0]
    # the previous first neighbours' new distances bound the new first ones: only entries up to theta can enter
    theta = -1.0
    for t in range(m1):
        j = tj[t]
        if j >= n:
            theta = _INF
            break
        dz = zi - z[j]
        theta = max(theta, tv[t] + dz * dz)
    for t in range(m1):
        tv[t] = _INF
        tj[t] = n
    bs = _INF
    bsj = i
    for k in range(sn):
        j = sj[k]
        dz = zi - z[j]
        v = sv[k] + dz * dz
        sv[k] = v
        if v < bs or (v == bs and j < bsj):
            bs = v
            bsj = j
        if v <= theta:
            _insert(tv, tj, v, j)
    bd = _INF
    bdj = i
    for k in range(dn):
        j = dj[k]
        dz = zi - z[j]
        v = dv[k] + dz * dz
        dv[k] = v
        if v < bd or (v == bd and j < bdj):
            bd = v
            bdj = j
        if v <= theta:
            _insert(tv, tj, v, j)
    lim = min(rs, rd)
    valid = (rs == _INF or bs < rs) and (rd == _INF or bd < rd) and (lim == _INF or tv[m1 - 1] < lim)
    return valid, bs, bsj, bd, bdj


@njit(cache=True)
def _catch_up(row, ZT, sel, v0, s, i):
    """Add the pending features ``sel[v0:s]`` to row i of D2, in selection order, a cache-sized chunk at a time."""
    n = row.shape[0]
    for c0 in range(0, n, 1024):
        c1 = min(n, c0 + 1024)
        for t in range(v0, s):
            z = ZT[sel[t]]
            zi = z[i]
            for j in range(c0, c1):
                dz = zi - z[j]
                row[j] = row[j] + dz * dz


@njit(cache=True)
def _rebuild_row(row, ZT, sel, v0, s, y, i, sv, sj, dv, dj, tv, tj):
    """Bring the stale row i of D2 up to date (features ``sel[v0:s]`` added in selection order, so every sum rounds
    like the brute force), then refill its statistics and its two lists (nearest same-label and other-label samples
    in (distance, index) order). Returns (ms, js, md, jd, same list length, its radius, other length, radius)."""
    n = row.shape[0]
    _catch_up(row, ZT, sel, v0, s, i)
    ks = sv.shape[0]
    kd = dv.shape[0]
    for k in range(ks):
        sv[k] = _INF
        sj[k] = n
    for k in range(kd):
        dv[k] = _INF
        dj[k] = n
    m1 = tv.shape[0]
    for t in range(m1):
        tv[t] = _INF
        tj[t] = n
    yi = y[i]
    bs = _INF
    bsj = i
    bd = _INF
    bdj = i
    cs = 0
    cd = 0
    for j in range(n):  # j ascends, so a strict test keeps equal distances in index order
        if j == i:
            continue
        v = row[j]
        if y[j] == yi:
            cs += 1
            if v < bs:
                bs = v
                bsj = j
            if v < sv[ks - 1]:
                _insert(sv, sj, v, j)
        else:
            cd += 1
            if v < bd:
                bd = v
                bdj = j
            if v < dv[kd - 1]:
                _insert(dv, dj, v, j)
        if v < tv[m1 - 1]:
            _insert(tv, tj, v, j)
    rs = sv[ks - 1] if cs > ks else _INF
    rd = dv[kd - 1] if cd > kd else _INF
    return bs, bsj, bd, bdj, min(cs, ks), rs, min(cd, kd), rd


@njit(cache=True)
def _update_one(D2, ZT, sel, s, y, ver, SV, SJ, SN, RS, DV, DJ, DN, RD, ms, js, md, jd, topv, topj, max_pending, z, i):
    ok = False
    bs = _INF
    bsj = i
    bd = _INF
    bdj = i
    if RS[i] >= 0.0:
        ok, bs, bsj, bd, bdj = _list_row(
            i, z, y, SV[i], SJ[i], SN[i], RS[i], DV[i], DJ[i], DN[i], RD[i], topv[i], topj[i]
        )
    reb = 0
    if ok and s - ver[i] > max_pending:  # the lists still hold: only bring the row's sums up to date
        _catch_up(D2[i], ZT, sel, ver[i], s, i)
        ver[i] = s
        reb = 1
    elif not ok:
        bs, bsj, bd, bdj, sn, rs, dn, rd = _rebuild_row(
            D2[i], ZT, sel, ver[i], s, y, i, SV[i], SJ[i], DV[i], DJ[i], topv[i], topj[i]
        )
        SN[i] = sn
        RS[i] = rs
        DN[i] = dn
        RD[i] = rd
        ver[i] = s
        reb = 1
    ms[i] = bs
    js[i] = bsj
    md[i] = bd
    jd[i] = bdj
    return reb


@njit(cache=True, parallel=True)
def update_rows(D2, ZT, sel, s, y, ver, SV, SJ, SN, RS, DV, DJ, DN, RD, ms, js, md, jd, topv, topj, max_pending):
    """After feature ``sel[s-1]`` was selected: refresh every row's nearest same-/other-label sample and its first
    ``topv.shape[1]`` neighbours in (distance, index) order, as :func:`add_feature` does, but lazily.

    D2 row i holds the sums of the first ``ver[i]`` selected features only (its values are lower bounds); each row
    also keeps its nearest same-label and other-label samples with exact current distances and the radius below
    which each list is complete. A row is brought up to date (pending features added in order) and its lists
    refilled only when a statistic leaves a certified radius; with more than ``max_pending`` features pending (they
    make exact look-ups dearer) only its sums are brought up to date. A negative radius forces a refill. Returns
    the number of rows brought up to date."""
    n = D2.shape[0]
    z = ZT[sel[s - 1]]
    rebuilt = np.zeros(n, dtype=np.int64)
    nb = min(n, 64)
    for b in prange(nb):
        for i in range(b, n, nb):  # strided: rows of one class (often consecutive) spread over threads
            rebuilt[i] = _update_one(
                D2, ZT, sel, s, y, ver, SV, SJ, SN, RS, DV, DJ, DN, RD, ms, js, md, jd, topv, topj, max_pending, z, i
            )
    return rebuilt.sum()


@njit(cache=True)
def _exact(row, ZT, sel, v0, s, i, j):
    """Current squared distance of (i, j) from the stale row value: pending features added in selection order."""
    v = row[j]
    for t in range(v0, s):
        z = ZT[sel[t]]
        dz = z[i] - z[j]
        v = v + dz * dz
    return v


@njit(cache=True)
def _full_scan(row, z, i, best, bj, ZT, sel, v0, s):
    """Exact scan of the whole (possibly stale) row from a known (best, bj): stale values are lower bounds, so a
    pair is summed exactly only when it could still win."""
    zi = z[i]
    for j in range(row.shape[0]):
        if j == i:
            continue
        dz = zi - z[j]
        dd = dz * dz
        lb = row[j] + dd
        if lb > best or (lb == best and j > bj):
            continue
        v = _exact(row, ZT, sel, v0, s, i, j) + dd
        if v < best or (v == best and j < bj):
            best = v
            bj = j
    return bj


@njit(cache=True)
def _resolve_one(D2, z, y, i, ordf, posf, topv, topj, budget, ZT, sel, v0, s):
    """Exact new nearest neighbour of i once feature z is added; returns 1 if it shares i's label.

    Starts from the best of i's first neighbours (an upper bound), then walks outward in the candidate's own sorted
    order, where the added squared difference (a lower bound on the new distance) only grows, and stops when it
    exceeds the best; a walk longer than ``budget`` falls back to a scan of the whole row. D2 row i holds the first
    ``v0`` of the ``s`` selected features: its values are lower bounds, made exact only where they could win."""
    n = z.shape[0]
    row = D2[i]
    zi = z[i]
    tv = topv[i]
    tj = topj[i]
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
    p = posf[i]
    lo = p - 1
    hi = p + 1
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
        lb = row[j] + dd
        if lb < best or (lb == best and j < bj):
            v = _exact(row, ZT, sel, v0, s, i, j) + dd if v0 < s else lb
            if v < best or (v == best and j < bj):
                best = v
                bj = j
        if best == 0.0:
            bj = _lowest_tie(row, z, i, ordf, p, bj, ZT, sel, v0, s)
            break
        steps += 1
        if steps > budget:
            bj = _full_scan(row, z, i, best, bj, ZT, sel, v0, s)
            break
    if best == 0.0 and steps == 0:
        bj = _lowest_tie(row, z, i, ordf, p, bj, ZT, sel, v0, s)
    return 1 if y[bj] == y[i] else 0


@njit(cache=True)
def _lowest_tie(row, z, i, ordf, p, bj, ZT, sel, v0, s):
    """With a best distance of 0, only samples equal to i on the candidate feature and at distance 0 on the
    selected set can tie, and they form i's run of equal values in the stable sorted order, by ascending index:
    the first of them (other than i) with a zero distance is the nearest neighbour (or ``bj`` if none is lower)."""
    zi = z[i]
    lo = 0
    hi = p
    while lo < hi:  # first position whose value is not below zi
        mid = (lo + hi) // 2
        if z[ordf[mid]] < zi:
            lo = mid + 1
        else:
            hi = mid
    q = lo
    n = ordf.shape[0]
    while q < n:
        j = ordf[q]
        if j >= bj or z[j] != zi:
            break
        if j != i and row[j] == 0.0 and _exact(row, ZT, sel, v0, s, i, j) == 0.0:
            return j
        q += 1
    return bj


@njit(cache=True, parallel=True)
def _resolve_all(D2, z, y, urow, rowok, got, ordf, posf, topv, topj, budget, ZT, sel, ver, s):
    """Exact correct count of one candidate, all unresolved rows in parallel."""
    n = y.shape[0]
    nb = min(n, 64)
    part = np.zeros(nb, dtype=np.int64)
    for b in prange(nb):
        for i in range(b, n, nb):  # strided: rows of one class (often consecutive) spread over threads
            if rowok[i] == 0 and urow[i] >= 2:
                part[b] += _resolve_one(D2, z, y, i, ordf, posf, topv, topj, budget, ZT, sel, ver[i], s)
    return got + part.sum()


@njit(cache=True)
def _resolve_candidate(D2, z, y, urow, rowok, got, floor, floor_wins, ordf, posf, topv, topj, budget, ZT, sel, ver, s):
    """Exact correct count for one candidate (one thread), or -1 once it cannot beat ``floor`` (a tie loses when
    ``floor_wins``). Rows guessed wrong are resolved first so that losers are dropped early."""
    n = y.shape[0]
    left = 0
    for i in range(n):
        if rowok[i] == 0 and urow[i] >= 2:
            left += 1
    for want in (3, 2):
        for i in range(n):
            if rowok[i] != 0 or urow[i] != want:
                continue
            got += _resolve_one(D2, z, y, i, ordf, posf, topv, topj, budget, ZT, sel, ver[i], s)
            left -= 1
            if got + left < floor or (got + left == floor and floor_wins):
                return -1
    return got


@njit(cache=True, parallel=True)
def _resolve_batch(
    D2, ZT, y, cand, batch, correct, unresolved, rowok, best, bestf, ORD, POS, topv, topj, budget, sel, ver, s
):
    out = np.empty(batch.shape[0], dtype=np.int64)
    for t in prange(batch.shape[0]):
        c = batch[t]
        f = cand[c]
        out[t] = _resolve_candidate(
            D2,
            ZT[f],
            y,
            unresolved[:, c],
            rowok,
            correct[c],
            best,
            f > bestf,
            ORD[f],
            POS[f],
            topv,
            topj,
            budget,
            ZT,
            sel,
            ver,
            s,
        )
    return out


@njit(cache=True)
def choose_feature(
    D2,
    ZT,
    y,
    cand,
    order,
    seed,
    correct,
    nunres,
    unresolved,
    rowok,
    batch_size,
    ORD,
    POS,
    topv,
    topj,
    budget,
    sel,
    ver,
    s,
):
    """Exact best candidate: resolve the most promising one (``seed``) fully, then the others in decreasing upper
    bound (settled correct + unresolved), a batch at a time in parallel, dropping one as soon as it can no longer
    beat the best so far or tie it with a lower feature index. Returns (feature, correct count, candidates
    resolved). ``sel[:s]`` are the selected features and ``ver`` the rows' versions (see :func:`update_rows`)."""
    f = cand[seed]
    best = _resolve_all(
        D2, ZT[f], y, unresolved[:, seed], rowok, correct[seed], ORD[f], POS[f], topv, topj, budget, ZT, sel, ver, s
    )
    bestf = f
    resolved = 1
    t = 0
    nord = order.shape[0]
    batch = np.empty(batch_size, dtype=np.int64)
    while t < nord:
        m = 0
        while t < nord and m < batch_size:
            c = order[t]
            t += 1
            if c == seed:
                continue
            ub = correct[c] + nunres[c]
            if ub < best or (ub == best and cand[c] > bestf):
                t = nord
                break
            batch[m] = c
            m += 1
        if m == 0:
            break
        got = _resolve_batch(
            D2,
            ZT,
            y,
            cand,
            batch[:m],
            correct,
            unresolved,
            rowok,
            best,
            bestf,
            ORD,
            POS,
            topv,
            topj,
            budget,
            sel,
            ver,
            s,
        )
        resolved += m
        for q in range(m):
            g = got[q]
            f = cand[batch[q]]
            if g >= 0 and (g > best or (g == best and f < bestf)):
                best = g
                bestf = f
    return bestf, best, resolved
