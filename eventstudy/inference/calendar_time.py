"""Calendar-time portfolio tests (Jaffe 1974; Mandelker 1974) of a group of pairs whose windows share dates.

Each calendar date d on which at least one pair of the group is inside its event window gets the equally
weighted portfolio of those pairs, S_d (n_d of them), and its abnormal return

    p_d = (1 / n_d) sum_{i in S_d} AR_{i,d}.

Every calendar date counts once, however many pairs share it, so the cross-correlation of pairs on the same
date is inside p_d's own variance, and windows that overlap in calendar time (staggered events) never make a
day count twice. Two tests of "the portfolio's abnormal return is zero" use the portfolio's own time-series
variance:

* :func:`calendar_time_z` (Jaffe 1974; Mandelker 1974, standardized portfolio residuals): s_d is the standard
  deviation of the same portfolio (the members of S_d, equally weighted) over the estimation period, on the
  calendar dates where every member has a clean estimation residual (m_d of them, ddof = 1). SP_d = p_d / s_d is
  t-distributed with m_d - 1 df, of variance (m_d - 1) / (m_d - 3), and

      Z = sum_d SP_d / sqrt(sum_d (m_d - 1) / (m_d - 3)),   N(0, 1).

  Works for a single shared date (then it is the Brown-Warner portfolio test in calendar time).
* :func:`calendar_time_nw` (the calendar-time portfolio mean with a Newey-West variance): over the T active
  dates in calendar order, t = mean(p) / sqrt(LRV / T), LRV = g_0 + 2 sum_{l=1}^{L} (1 - l / (L + 1)) g_l,
  g_l = (1/T) sum_t e_t e_{t-l}, e = p - mean(p) (Newey & West 1987, Bartlett weights, no small-sample
  correction), t with T - 1 df. L = the window length - 1: the horizon over which consecutive portfolios share
  pairs (and their estimation error). Needs at least ``min_days`` active dates (a backtest, not one event). In a
  short series it is too liberal: 12% at 5% with T = 50 dates and L = 10 (``tests/test_group_sizes.py``), where
  the standardized test keeps its size; it is meant for long backtests.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from eventstudy.inference.result import NA, TestResult, t_p, z_p


def portfolio_series(ar: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_matrix]:
    """The calendar-time portfolio of a group: ``(dates (T,), p (T,), n (T,), members (T, N) sparse 0/1)``.

    ``ar`` (N, L) are the group's event-window abnormal returns, ``dates`` (N, L) their calendar dates (NaT or
    NaN where a pair has no return).
    """
    ok = np.isfinite(ar) & ~np.isnat(dates)
    rows, _ = np.nonzero(ok)
    days, inverse = np.unique(dates[ok], return_inverse=True)
    n = np.bincount(inverse, minlength=len(days))
    p = np.bincount(inverse, weights=ar[ok], minlength=len(days)) / np.maximum(n, 1)
    members = sparse.csr_matrix((np.ones(len(rows)), (inverse, rows)), shape=(len(days), len(ar)))
    return days, p, n, members


def portfolio_estimation_sd(
    members: sparse.csr_matrix, n: np.ndarray, ar_est: np.ndarray, dates_est: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each portfolio's standard deviation over the estimation period: ``(s (T,), m (T,))``.

    For portfolio d (row of ``members``) the series is the equally weighted mean of its members' estimation
    residuals on each calendar date where every member has one; s_d is its sd (ddof = 1) over those m_d dates.
    One sparse product for all portfolios: O(nonzeros x dates).
    """
    ok = np.isfinite(ar_est) & ~np.isnat(dates_est)
    rows, _ = np.nonzero(ok)
    grid, inverse = np.unique(dates_est[ok], return_inverse=True)
    shape = (len(ar_est), len(grid))
    values = sparse.csr_matrix((ar_est[ok], (rows, inverse)), shape=shape)
    present = sparse.csr_matrix((np.ones(len(rows)), (rows, inverse)), shape=shape)
    total = np.asarray((members @ values).todense())
    count = np.asarray((members @ present).todense())
    full = count == n[:, None]
    m = full.sum(axis=1)
    q = total / np.maximum(n, 1)[:, None]
    mean = np.where(full, q, 0.0).sum(axis=1) / np.maximum(m, 1)
    var = np.where(full, (q - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(m - 1, 1)
    return np.where(m >= 2, np.sqrt(var), np.nan), m


def calendar_time_z(
    ar: np.ndarray, dates: np.ndarray, ar_est: np.ndarray, dates_est: np.ndarray, min_common: int = 20
) -> TestResult:
    """Jaffe-Mandelker standardized calendar-time portfolio test (module docstring), N(0, 1).

    ``ar``/``dates`` (N, L): event-window ARs and dates; ``ar_est``/``dates_est`` (N, L1): estimation residuals
    and dates. Dates whose portfolio has fewer than ``min_common`` common estimation dates are left out.
    """
    n_pairs = int(np.isfinite(ar).any(axis=1).sum())
    _, p, n, members = portfolio_series(ar, dates)
    if len(p) == 0:
        return TestResult(NA, NA, n_pairs)
    s, m = portfolio_estimation_sd(members, n, ar_est, dates_est)
    use = (m >= max(min_common, 4)) & np.isfinite(s) & (s > 0)
    if not use.any():
        return TestResult(NA, NA, n_pairs)
    sp = p[use] / s[use]
    z = sp.sum() / np.sqrt(((m[use] - 1) / (m[use] - 3)).sum())
    return TestResult(float(z), z_p(z), n_pairs)


def newey_west_variance(x: np.ndarray, lags: int) -> float:
    """Newey-West (1987) long-run variance of ``x`` with Bartlett weights 1 - l / (L + 1), no df correction."""
    e = x - x.mean()
    big_t = len(e)
    lrv = e @ e / big_t
    for lag in range(1, min(lags, big_t - 1) + 1):
        lrv += 2 * (1 - lag / (lags + 1)) * (e[lag:] @ e[:-lag]) / big_t
    return float(lrv)


def calendar_time_nw(ar: np.ndarray, dates: np.ndarray, lags: int, min_days: int = 10) -> TestResult:
    """Calendar-time portfolio mean with a Newey-West t (module docstring), t with T - 1 df.

    ``lags`` = the event window's length - 1. NaN with fewer than ``min_days`` active calendar dates.
    """
    n_pairs = int(np.isfinite(ar).any(axis=1).sum())
    _, p, _, _ = portfolio_series(ar, dates)
    big_t = len(p)
    if big_t < max(min_days, lags + 2):
        return TestResult(NA, NA, n_pairs)
    lrv = newey_west_variance(p, lags)
    if lrv <= 0:
        return TestResult(NA, NA, n_pairs)
    t = p.mean() / np.sqrt(lrv / big_t)
    return TestResult(float(t), t_p(t, big_t - 1), n_pairs)
