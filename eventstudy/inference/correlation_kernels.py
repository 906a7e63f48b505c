"""Compiled kernels of rbar (:mod:`eventstudy.inference.correlation`): per-cell sums, pairwise sums.

They read *packed* rows (:func:`~eventstudy.inference.correlation_packing.compress`): row i's available residuals,
centred on their mean, left-aligned in ``xv[i, :cnt[i]]`` with their date positions (on one sorted union of dates)
in ``pv[i, :cnt[i]]``. Each kernel runs over a list of items (pairs of cells, pairs of classes) serially or in
parallel chunks (:mod:`eventstudy.inference.threads`), every item writing its own slot of the output; the kernels
release the GIL, so that the test battery's other threads run beside them.
"""

from __future__ import annotations

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.threads import run_chunked


def cell_sums(xv, pv, cnt, rows, cell_ptr, cp, cq, min_shared: int) -> np.ndarray:
    """sum of rho_ij over i in cell p, j in cell q (i < j when p = q) for every listed pair of cells.

    Cell p's members are ``rows[cell_ptr[p]:cell_ptr[p + 1]]``, all with the same available dates. On the dates S
    both cells have, with u_i = (x_i - mean_i) / ||x_i - mean_i||, the sum is (sum_i u_i) . (sum_j u_j), and
    ((sum_i u_i)^2 - sum_i u_i . u_i) / 2 within one cell.
    """
    out = np.zeros(len(cp))
    size = np.diff(cell_ptr)
    work = (size[cp] + size[cq]) * np.minimum(cnt[rows[cell_ptr[cp]]], cnt[rows[cell_ptr[cq]]])
    run_chunked(_cells_range, _cells_chunks, (xv, pv, cnt, rows, cell_ptr, cp, cq, min_shared, out), work)
    return out


def class_entries(ptr: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The entries ``ptr[c]:ptr[c + 1]`` of each of ``classes`` (ascending, distinct), in order: work in the
    classes' own entries, not a pass over all of them."""
    count = ptr[classes + 1] - ptr[classes]
    return np.repeat(ptr[classes] - np.cumsum(count) + count, count) + np.arange(count.sum())


def pair_sums(xv, pv, cnt, ptr, rows, ca, cb, min_shared: int) -> np.ndarray:
    """sum of rho_ij over i in class a, j in class b (i < j when a = b) for every listed pair of classes, pair by
    pair (class c's members are ``rows[ptr[c]:ptr[c + 1]]``).

    The listed classes' rows whose dates span at most D positions are also laid out densely on their span (values
    0 and mask 0 where a residual is missing), so that two such rows take their six masked sums in one aligned,
    vectorised pass; other pairs merge their packed dates.
    """
    out = np.zeros(len(ca))
    if len(ca) == 0:
        return out
    n = np.diff(ptr)
    needed = np.unique(rows[class_entries(ptr, np.unique(np.r_[ca, cb]))])
    slot = np.full(len(xv), -1, dtype=np.int64)
    slot[needed] = np.arange(len(needed))
    xz, mk, base = (
        np.zeros((len(needed), xv.shape[1])),
        np.zeros((len(needed), xv.shape[1])),
        np.empty(len(needed), np.int64),
    )
    _dense(xv, pv, cnt, needed, xz, mk, base)
    work = np.where(ca == cb, n[ca] * (n[ca] - 1) // 2, n[ca] * n[cb]) * xv.shape[1]
    args = (xv, pv, cnt, ptr, rows, ca, cb, min_shared, slot, xz, mk, base, out)
    run_chunked(_pairs_range, _pairs_chunks, args, work)
    return out


@numba.njit(cache=True, nogil=True)
def _dense(xv, pv, cnt, needed, xz, mk, base):  # pragma: no cover - compiled
    """Row needed[k]'s values and availability on positions base[k] .. base[k] + D - 1 (base -1: span too wide)."""
    for k in range(len(needed)):
        i = needed[k]
        base[k] = -1
        if cnt[i] > 0 and pv[i, cnt[i] - 1] - pv[i, 0] < xv.shape[1]:
            base[k] = pv[i, 0]
            for t in range(cnt[i]):
                xz[k, pv[i, t] - base[k]] = xv[i, t]
                mk[k, pv[i, t] - base[k]] = 1.0


@numba.njit(cache=True, nogil=True)
def shared_days(wpos, wa, wb):  # pragma: no cover - compiled
    """|W_a & W_b| of each listed pair of windows (ascending positions, -1 first for NaT)."""
    out = np.zeros(len(wa), dtype=np.int64)
    width = wpos.shape[1]
    for k in range(len(wa)):
        p = 0
        q = 0
        while p < width and q < width:
            u = wpos[wa[k], p]
            v = wpos[wb[k], q]
            if u < 0 or u < v:
                p += 1
            elif v < 0 or v < u:
                q += 1
            else:
                out[k] += 1
                p += 1
                q += 1
    return out


@numba.njit(cache=True, nogil=True)
def _cells_range(xv, pv, cnt, rows, cell_ptr, cp, cq, min_shared, out, lo, hi):  # pragma: no cover - compiled
    width = xv.shape[1]
    ip = np.empty(width, dtype=np.int64)  # scratch space of every item
    iq = np.empty(width, dtype=np.int64)
    sa = np.empty(width)
    sb = np.empty(width)
    values = np.empty(width)
    for k in range(lo, hi):
        p = cp[k]
        q = cq[k]
        n = _shared_index(pv, cnt, rows[cell_ptr[p]], rows[cell_ptr[q]], ip, iq)
        if n < min_shared or n == 0:
            continue
        ua = sa[:n]
        ua[:] = 0.0
        own = _unit_sum(xv, rows, cell_ptr[p], cell_ptr[p + 1], ip, n, ua, values)
        if p == q:
            out[k] = (np.dot(ua, ua) - own) / 2
        else:
            ub = sb[:n]
            ub[:] = 0.0
            _unit_sum(xv, rows, cell_ptr[q], cell_ptr[q + 1], iq, n, ub, values)
            out[k] = np.dot(ua, ub)


@numba.njit(parallel=True, cache=True, nogil=True)
def _cells_chunks(xv, pv, cnt, rows, cell_ptr, cp, cq, min_shared, out, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _cells_range(xv, pv, cnt, rows, cell_ptr, cp, cq, min_shared, out, bounds[c], bounds[c + 1])


@numba.njit(cache=True, nogil=True)
def _pairs_range(xv, pv, cnt, ptr, rows, ca, cb, min_shared, slot, xz, mk, base, out, lo, hi):  # pragma: no cover
    for k in range(lo, hi):
        a = ca[k]
        b = cb[k]
        total = 0.0
        ip = np.empty(xv.shape[1], dtype=np.int64)
        iq = np.empty(xv.shape[1], dtype=np.int64)
        for ii in range(ptr[a], ptr[a + 1]):
            i = rows[ii]
            for jj in range(ii + 1 if a == b else ptr[b], ptr[b + 1]):
                j = rows[jj]
                p = slot[i]
                q = slot[j]
                if base[p] >= 0 and base[q] >= 0:
                    total += _dense_correlation(xz, mk, p, q, base[p], base[q], min_shared)
                else:
                    total += _pair_correlation(xv, pv, cnt, i, j, min_shared, ip, iq)
        out[k] = total


@numba.njit(parallel=True, cache=True, nogil=True)
def _pairs_chunks(xv, pv, cnt, ptr, rows, ca, cb, min_shared, slot, xz, mk, base, out, bounds):  # pragma: no cover
    for c in numba.prange(len(bounds) - 1):
        _pairs_range(xv, pv, cnt, ptr, rows, ca, cb, min_shared, slot, xz, mk, base, out, bounds[c], bounds[c + 1])


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _dense_correlation(xz, mk, p, q, bp, bq, min_shared):  # pragma: no cover - compiled
    """Pearson correlation of dense rows p and q on the dates both have, from masked sums over their common span."""
    width = xz.shape[1]
    lo = max(bp, bq)
    span = min(bp, bq) + width - lo
    op = lo - bp
    oq = lo - bq
    c = 0.0
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    span = max(span, 0)
    xs = xz[p, op : op + span]
    ys = xz[q, oq : oq + span]
    ms = mk[p, op : op + span]
    ns = mk[q, oq : oq + span]
    for t in range(span):
        x = xs[t]
        y = ys[t]
        mx = ms[t]
        my = ns[t]
        c += mx * my
        sx += x * my
        sy += mx * y
        sxx += x * x * my
        syy += mx * y * y
        sxy += x * y
    return _rho(int(c + 0.5), sx, sy, sxx, syy, sxy, min_shared)


@numba.njit(cache=True)
def _shared_index(pv, cnt, i, j, ip, iq):  # pragma: no cover - compiled
    """Where rows i and j (packed) have the same dates: fills ip, iq and returns how many there are."""
    p = 0
    q = 0
    n = 0
    while p < cnt[i] and q < cnt[j]:
        if pv[i, p] < pv[j, q]:
            p += 1
        elif pv[i, p] > pv[j, q]:
            q += 1
        else:
            ip[n] = p
            iq[n] = q
            n += 1
            p += 1
            q += 1
    return n


@numba.njit(cache=True)
def _unit_sum(xv, rows, lo, hi, idx, n, acc, scratch):  # pragma: no cover - compiled
    """Adds u_i = (x_i - mean_i) / ||x_i - mean_i|| on the n dates idx of every member rows[lo:hi] to acc (a constant
    or too short series adds nothing, as the kernel counts it 0); returns sum_i u_i . u_i. ``scratch``: at least n
    floats."""
    own = 0.0
    values = scratch[:n]
    run = idx[n - 1] - idx[0] == n - 1
    for m in range(lo, hi):
        i = rows[m]
        if run:
            own += _add_units(xv[i, idx[0] : idx[0] + n], acc)
        else:
            for t in range(n):
                values[t] = xv[i, idx[t]]
            own += _add_units(values, acc)
    return own


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _add_units(values, acc):  # pragma: no cover - compiled
    """acc += (values - mean) / ||values - mean||; returns the squared norm added (about 1; 0 for a constant)."""
    n = len(values)
    sx = 0.0
    sxx = 0.0
    for t in range(n):
        sx += values[t]
        sxx += values[t] * values[t]
    vx = sxx - sx * sx / n
    if not vx > 1e-12 * sxx:
        return 0.0
    mean = sx / n
    scale = 1.0 / np.sqrt(vx)
    own = 0.0
    for t in range(n):
        u = (values[t] - mean) * scale
        acc[t] += u
        own += u * u
    return own


@numba.njit(cache=True)
def _pair_correlation(xv, pv, cnt, i, j, min_shared, ip, iq):  # pragma: no cover - compiled
    """Pearson correlation of packed rows i and j on the dates both have (merged; ip, iq are scratch space)."""
    n = _shared_index(pv, cnt, i, j, ip, iq)
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    for t in range(n):
        x = xv[i, ip[t]]
        y = xv[j, iq[t]]
        sx += x
        sy += y
        sxx += x * x
        syy += y * y
        sxy += x * y
    return _rho(n, sx, sy, sxx, syy, sxy, min_shared)


@numba.njit(cache=True)
def _rho(n, sx, sy, sxx, syy, sxy, min_shared):  # pragma: no cover - compiled
    """The correlation from the sums over n shared dates; 0 below min_shared dates or for a constant series."""
    if n < min_shared or n <= 0:
        return 0.0
    vx = sxx - sx * sx / n
    vy = syy - sy * sy / n
    if vx > 1e-12 * sxx and vy > 1e-12 * syy:
        return (sxy - sx * sy / n) / np.sqrt(vx * vy)
    return 0.0


@numba.njit(cache=True, nogil=True)
def batch_bounds(ca, cb, size, limit):  # pragma: no cover - compiled
    """Bounds (B + 1,) of consecutive runs of the listed pairs of classes whose classes hold at most ``limit``
    members in all (``size`` members per class; a pair of classes larger than that is a run of its own). One run,
    maybe empty, at least."""
    mark = np.full(len(size), -1, dtype=np.int64)
    out = np.zeros(len(ca) + 2, dtype=np.int64)
    runs = 0
    count = 0
    for k in range(len(ca)):
        a = ca[k]
        b = cb[k]
        need = (size[a] if mark[a] != runs else 0) + (size[b] if b != a and mark[b] != runs else 0)
        if count > 0 and count + need > limit:
            runs += 1
            out[runs] = k
            count = 0
            need = size[a] + (size[b] if b != a else 0)
        mark[a] = runs
        mark[b] = runs
        count += need
    out[runs + 1] = len(ca)
    return out[: runs + 2]
