"""Average pairwise correlation rbar of CARs whose event windows overlap in calendar time (Kolari-Pynnönen).

Two pairs' CARs correlate only through the calendar days their event windows share. With rho_ij the
correlation of their estimation residuals over the dates both have one (pairwise complete) and W_i the set of
calendar dates of pair i's event window (L2_i = |W_i|),

    Corr(CAR_i, CAR_j) = w_ij rho_ij,   w_ij = |W_i & W_j| / sqrt(L2_i L2_j)

(for equal L2 the weight is the share of window days in common, ``STATISTICS.md``), and
rbar = sum over i < j of w_ij rho_ij / (N (N - 1) / 2). Pairs whose windows never meet count zero, whatever
their neighbours do: there is no chaining through a third pair. For N pairs on one date w_ij = 1 and rbar is the
plain average pairwise residual correlation of Kolari & Pynnönen (2010).

Computation: pairs with the same window dates form a *window class*; only classes whose windows overlap are
visited (a sweep over classes sorted by start). Inside a large pair of classes whose members share few patterns
of available dates (complete data: one pattern) the sum of correlations is taken from per-date sums of
standardized residuals, O(pairs x days); a large pair of classes with scattered gaps takes every pair's
pairwise-complete moments from masked matrix products (BLAS) on the union of their dates. Everywhere else each
overlapping pair's correlation is computed exactly in a compiled kernel, O(overlapping pairs x days). Nothing is
filled with zeros, and no table spans more than the dates of two overlapping window classes.
"""

from __future__ import annotations

import numba
import numpy as np

CELL_MIN_PAIRS = 20_000  # a pair of classes with at least this many pairs goes to the per-date sums or BLAS
_NAT = np.iinfo(np.int64).min


def mean_pairwise_correlation(
    residuals: np.ndarray,
    dates: np.ndarray,
    window_dates: np.ndarray,
    min_shared: int = 20,
) -> float:
    """rbar for the Kolari & Pynnönen (2010) adjustment of the pairs' cumulative abnormal returns.

    Parameters
    ----------
    residuals
        (N, D) estimation-window abnormal returns, NaN where a pair has none.
    dates
        (N, D) their calendar dates, ascending along each row (NaT where none).
    window_dates
        (N, L) calendar dates of each pair's event-window days (NaT where the calendar has none).
    min_shared
        Fewest shared estimation dates for a correlation; pairs with fewer (or a constant series) count 0.

    Returns
    -------
    float
        sum over i < j of w_ij rho_ij / (N (N - 1) / 2), with w_ij = |W_i & W_j| / sqrt(L2_i L2_j).
    """
    n = len(residuals)
    if n < 2:
        return 0.0
    day = np.asarray(dates, dtype="datetime64[ns]").view(np.int64)
    x = np.where(day == _NAT, np.nan, np.asarray(residuals, dtype=float))
    ok = np.isfinite(x)
    count = ok.sum(axis=1)
    mean = np.where(ok, x, 0.0).sum(axis=1) / np.maximum(count, 1)
    x = x - mean[:, None]  # centred rows: the same correlations, better conditioned sums
    win = np.asarray(window_dates, dtype="datetime64[ns]").view(np.int64)
    windows, cls = np.unique(np.sort(win, axis=1), axis=0, return_inverse=True)
    cls = cls.ravel()
    ca, cb, w = _overlapping_classes(windows)
    if len(ca) == 0:
        return 0.0
    members = np.argsort(cls, kind="stable")
    ptr = np.searchsorted(cls[members], np.arange(len(windows) + 1))
    pattern = np.unique(np.where(ok, day, _NAT), axis=0, return_inverse=True)[1].ravel()
    calendar = np.unique(day, axis=0, return_inverse=True)[1].ravel()
    kernel = np.ones(len(ca), bool)
    total = 0.0
    cells: dict[int, dict[int, np.ndarray]] = {}  # per class: its members by pattern of available dates
    for k in np.flatnonzero(_pair_counts(ptr, ca, cb) >= CELL_MIN_PAIRS):
        for c in (ca[k], cb[k]):
            if c not in cells:
                cells[c] = _cells(pattern, members[ptr[c] : ptr[c + 1]])
        cells_a, cells_b = cells[ca[k]], cells[cb[k]]
        same = ca[k] == cb[k]
        if len(cells_a) * len(cells_b) * 16 <= _pair_counts(ptr, ca[k : k + 1], cb[k : k + 1])[0] * 2:
            total += w[k] * _cell_sum(x, day, ok, cells_a, cells_b, same, min_shared)
        else:
            a, b = members[ptr[ca[k]] : ptr[ca[k] + 1]], members[ptr[cb[k]] : ptr[cb[k] + 1]]
            total += w[k] * _moment_sum(x, day, ok, a, b, same, min_shared)
        kernel[k] = False
    total += _kernel_sum(x, day, calendar, ptr, members, ca[kernel], cb[kernel], w[kernel], int(min_shared), x.shape[1])
    return float(total / (n * (n - 1) / 2))


def _overlapping_classes(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of window classes (a <= b) that share a date, and their weight |W_a & W_b| / sqrt(L2_a L2_b)."""
    valid = windows != _NAT
    size = valid.sum(axis=1)
    start = np.where(valid, windows, np.iinfo(np.int64).max).min(axis=1)
    end = np.where(valid, windows, _NAT).max(axis=1)
    order = np.flatnonzero(size > 0)
    order = order[np.argsort(start[order], kind="stable")]
    hi = np.searchsorted(start[order], end[order], side="right")
    reach = hi - np.arange(len(order))  # classes from this one on that start before it ends (itself included)
    first = np.repeat(np.arange(len(order)), reach)
    second = first + np.arange(reach.sum()) - np.repeat(np.cumsum(reach) - reach, reach)
    a, b = order[first], order[second]
    shared = np.zeros(len(a))
    for lo in range(0, len(a), 100_000):  # bounded memory: (chunk, L, L) comparisons
        wa, wb = windows[a[lo : lo + 100_000]], windows[b[lo : lo + 100_000]]
        same = (wa[:, :, None] == wb[:, None, :]) & (wa != _NAT)[:, :, None]
        shared[lo : lo + 100_000] = same.sum(axis=(1, 2))
    keep = shared > 0
    a, b = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    return a, b, shared[keep] / np.sqrt(size[a] * size[b])


def _pair_counts(ptr: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    na, nb = ptr[ca + 1] - ptr[ca], ptr[cb + 1] - ptr[cb]
    return np.where(ca == cb, na * (na - 1) // 2, na * nb)


def _cell_sum(x, day, ok, cells_a: dict, cells_b: dict, same: bool, min_shared: int) -> float:
    """Sum of rho_ij over i in a, j in b (i < j when a and b are one class) from per-date sums of z-scores.

    Pairs with one pattern of available dates share, for each pattern pair (p, q), the dates D_pq where both
    have a residual; standardizing every member over D_pq (ddof 0), sum_{i in p, j in q} rho_ij =
    (sum_i z_i) . (sum_j z_j) / |D_pq|, and within one cell the i = j terms are taken out.
    """
    total = 0.0
    for p, rows_p in cells_a.items():
        for q, rows_q in cells_b.items():
            if same and q < p:
                continue
            cols_p, cols_q = np.flatnonzero(ok[rows_p[0]]), np.flatnonzero(ok[rows_q[0]])
            _, ip, iq = np.intersect1d(day[rows_p[0], cols_p], day[rows_q[0], cols_q], return_indices=True)
            if len(ip) < min_shared:
                continue
            zp = _zscores(x[np.ix_(rows_p, cols_p[ip])])
            zq = zp if same and p == q else _zscores(x[np.ix_(rows_q, cols_q[iq])])
            sp, sq = zp.sum(axis=0), zq.sum(axis=0)
            cross = sp @ sq
            if same and p == q:
                cross = (cross - (zp * zp).sum()) / 2
            total += cross / len(ip)
    return total


def _moment_sum(x, day, ok, a, b, same: bool, min_shared: int) -> float:
    """Sum of pairwise-complete rho_ij over i in a, j in b (i < j when one class) from masked matrix products.

    On the union of the members' dates, with M the availability masks and X the residuals (0 where missing):
    n = M_a M_b', S_x = X_a M_b', S_y = M_a X_b', S_xx = X_a^2 M_b', S_yy = M_a X_b^2', S_xy = X_a X_b', and
    rho_ij = (S_xy - S_x S_y / n) / sqrt((S_xx - S_x^2 / n)(S_yy - S_y^2 / n)): the same sums the kernel takes,
    by BLAS, in row blocks that bound memory. For many pairs with scattered gaps.
    """
    rows = np.r_[a, b]
    grid = np.unique(day[rows][ok[rows]])
    xa, ma = _on_grid(x, day, ok, a, grid)
    xb, mb = (xa, ma) if same else _on_grid(x, day, ok, b, grid)
    xb2 = xb * xb
    total = 0.0
    step = max(1, 2_000_000 // len(b))
    for lo in range(0, len(a), step):
        xs, ms = xa[lo : lo + step], ma[lo : lo + step]
        n = ms @ mb.T
        sx, sy = xs @ mb.T, ms @ xb.T
        sxx, syy = (xs * xs) @ mb.T, ms @ xb2.T
        with np.errstate(divide="ignore", invalid="ignore"):
            vx, vy = sxx - sx * sx / n, syy - sy * sy / n
            rho = (xs @ xb.T - sx * sy / n) / np.sqrt(vx * vy)
        use = (n >= min_shared) & (vx > 1e-12 * sxx) & (vy > 1e-12 * syy)
        if same:
            use &= np.arange(lo, lo + len(xs))[:, None] < np.arange(len(b))[None, :]
        total += rho[use].sum()
    return float(total)


def _on_grid(x, day, ok, rows, grid) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.nonzero(ok[rows])
    pos = np.searchsorted(grid, day[rows[r], c])
    values, mask = np.zeros((len(rows), len(grid))), np.zeros((len(rows), len(grid)))
    values[r, pos], mask[r, pos] = x[rows[r], c], 1.0
    return values, mask


def _cells(pattern: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(pattern[rows], kind="stable")
    keys, starts = np.unique(pattern[rows][order], return_index=True)
    return dict(zip(keys.tolist(), np.split(rows[order], starts[1:]), strict=True))


def _zscores(block: np.ndarray) -> np.ndarray:
    centred = block - block.mean(axis=1, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=1, keepdims=True))
    usable = sd > 1e-12 * (np.abs(block).max(axis=1, keepdims=True) + 1e-300)
    return np.where(usable, centred / np.where(usable, sd, 1.0), 0.0)


@numba.njit(cache=True)
def _kernel_sum(x, day, calendar, ptr, members, ca, cb, w, min_shared, n_days):  # pragma: no cover - compiled
    """sum over the listed class pairs of w * rho_ij, rho_ij the pairwise-complete Pearson correlation.

    Rows on the same calendar (identical date rows) are walked in step; others are merged by date.
    """
    total = 0.0
    for k in range(len(ca)):
        a = ca[k]
        b = cb[k]
        for ii in range(ptr[a], ptr[a + 1]):
            i = members[ii]
            for jj in range(ii + 1 if a == b else ptr[b], ptr[b + 1]):
                j = members[jj]
                n = 0
                sx = 0.0
                sy = 0.0
                sxx = 0.0
                syy = 0.0
                sxy = 0.0
                p = 0
                q = 0
                aligned = calendar[i] == calendar[j]
                while p < n_days and q < n_days:
                    xi = x[i, p]
                    yj = x[j, q]
                    if xi != xi or yj != yj:  # a missing residual: skip it (the column, on one calendar)
                        p += 1 if aligned or xi != xi else 0
                        q += 1 if aligned or yj != yj else 0
                        continue
                    if not aligned and day[i, p] < day[j, q]:
                        p += 1
                    elif not aligned and day[i, p] > day[j, q]:
                        q += 1
                    else:
                        n += 1
                        sx += xi
                        sy += yj
                        sxx += xi * xi
                        syy += yj * yj
                        sxy += xi * yj
                        p += 1
                        q += 1
                if n >= min_shared:
                    vx = sxx - sx * sx / n
                    vy = syy - sy * sy / n
                    if vx > 1e-12 * sxx and vy > 1e-12 * syy:
                        total += w[k] * (sxy - sx * sy / n) / np.sqrt(vx * vy)
    return total
