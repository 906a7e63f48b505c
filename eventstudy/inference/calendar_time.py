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

Every group at once (``*_groups``, :class:`~eventstudy.inference.groups.Groups`): the dates are integer positions
on one sorted union of the calendar dates (:func:`calendar_positions`, without sorting when the dates are whole
days); the portfolios of all groups are the segments of the (group, date) keys of their cells (one sort), and the
estimation-period standard deviations of all of them come from one compiled pass that walks each group's
portfolios in date order, adding the pairs that enter and removing those that leave a running (date -> sum,
count) table, so the work is O(pair-group memberships x days) however many groups and portfolios there are
(:mod:`eventstudy.inference.portfolio_sd`, which holds no row: at each move it recomputes or reads each
residual where it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.portfolio_sd import estimation_sd
from eventstudy.inference.result import TestResult
from eventstudy.inference.row_positions import RowPositions

if TYPE_CHECKING:
    from scipy import sparse

DAY = 86_400 * 10**9  # nanoseconds
NAT = np.iinfo(np.int64).min  # NaT as int64 ticks


def calendar_positions(*dates: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(grid, positions)``: the sorted distinct dates (datetime64[ns]) of all ``dates`` arrays and each date's
    int32 position on that grid (-1 for NaT), one array per input, same shapes.

    Dates are counted on a table of day slots in compiled passes (no sort) when each day holds one distinct
    time (whole-day dates); otherwise one ``np.unique`` of the 1-D array of valid dates and ``searchsorted``.
    """
    ticks = [np.ascontiguousarray(d, dtype="datetime64[ns]").view(np.int64).ravel() for d in dates]
    bounds = [_bounds(t) for t in ticks]
    count = sum(b[2] for b in bounds)
    lo = min((b[0] for b in bounds if b[2]), default=0)
    hi = max((b[1] for b in bounds if b[2]), default=0)
    slots = (hi - lo) // DAY + 1 if count else 0
    if slots <= 2 * count + (1 << 20):
        day_tick = np.full(slots, NAT, np.int64)
        for t in ticks:
            _mark(t, lo, day_tick)
        present = day_tick != NAT
        rank = (np.cumsum(present) - 1).astype(np.int32)
        ranked = [_rank(t, lo, rank, day_tick) for t in ticks]
        if all(ok for _, ok in ranked):  # one tick per day slot: whole days (or one time of day per day)
            return _shaped(day_tick[present], [r for r, _ in ranked], dates)
    grid = np.unique(np.concatenate([t[t != NAT] for t in ticks]))
    return _shaped(grid, [np.where(t != NAT, np.searchsorted(grid, t), -1).astype(np.int32) for t in ticks], dates)


def _shaped(grid: np.ndarray, positions: list[np.ndarray], dates: tuple) -> tuple[np.ndarray, list[np.ndarray]]:
    return grid.view("datetime64[ns]"), [p.reshape(np.shape(d)) for p, d in zip(positions, dates, strict=True)]


@numba.njit(cache=True)
def _bounds(ticks):  # pragma: no cover - compiled
    """(min, max, count) of the valid (non-NaT) ticks."""
    lo, hi, count = 0, 0, 0
    for t in ticks:
        if t != NAT:
            if count == 0 or t < lo:
                lo = t
            if count == 0 or t > hi:
                hi = t
            count += 1
    return lo, hi, count


@numba.njit(cache=True, inline="always")
def _slot(t, lo, slots):  # pragma: no cover - compiled
    """The day slot of tick ``t`` (float product, monotonic in t; clamped to the table)."""
    return min(int((t - lo) * (1.0 / DAY)), slots - 1)


@numba.njit(cache=True)
def _mark(ticks, lo, day_tick):  # pragma: no cover - compiled
    for t in ticks:
        if t != NAT:
            day_tick[_slot(t, lo, len(day_tick))] = t


@numba.njit(cache=True)
def _rank(ticks, lo, rank, day_tick):  # pragma: no cover - compiled
    """Each tick's rank among the day slots, and whether every tick is its slot's only tick."""
    out = np.empty(len(ticks), np.int32)
    ok = True
    for i in range(len(ticks)):
        t = ticks[i]
        if t == NAT:
            out[i] = -1
        else:
            slot = _slot(t, lo, len(day_tick))
            ok = ok and day_tick[slot] == t
            out[i] = rank[slot]
    return out, ok


def segment_sum(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """(size,) float sums of ``weights`` by ``index`` (sequential, in order; zeros where nothing falls)."""
    return np.bincount(index, weights=weights, minlength=size).astype(float, copy=False)


@dataclass(frozen=True)
class Portfolios:
    """The calendar-time portfolios of every group: one per (group, date) with a pair of the group in its window,
    sorted by group, then date; the members of portfolio j are ``pair[starts[j]:starts[j + 1]]`` (sorted)."""

    group: np.ndarray  # (T,) group of each portfolio
    date: np.ndarray  # (T,) its date's position on the grid
    starts: np.ndarray  # (T + 1,) offsets into ``pair``
    pair: np.ndarray  # (M,) members
    total: np.ndarray  # (T,) sum of the members' abnormal returns on the date
    n_groups: int
    n_grid: int  # dates on the grid

    @property
    def n(self) -> np.ndarray:
        """(T,) members per portfolio."""
        return np.diff(self.starts)

    @property
    def p(self) -> np.ndarray:
        """(T,) the portfolio abnormal returns p_d."""
        return self.total / self.n

    @cached_property
    def dates_per_group(self) -> np.ndarray:
        """(G,) portfolios (active dates) per group."""
        return np.bincount(self.group, minlength=self.n_groups)

    @cached_property
    def group_starts(self) -> np.ndarray:
        """(G + 1,) the portfolios of group g are ``group_starts[g]:group_starts[g + 1]``."""
        return np.searchsorted(self.group, np.arange(self.n_groups + 1))


def portfolios(ar: np.ndarray, positions: np.ndarray | RowPositions, groups: Groups, n_grid: int) -> Portfolios:
    """Every group's portfolios from the window ARs ``ar`` (P, L) and their date ``positions`` (P, L) (-1: NaT; an
    array or the rows of one table, :class:`~eventstudy.inference.row_positions.RowPositions`)."""
    positions = RowPositions.of(positions)
    group, date, starts, pair, total = _portfolios(
        groups.starts, groups.pair, ar, positions.table, positions.offset, n_grid
    )
    return Portfolios(group, date, starts, pair, total, groups.n_groups, n_grid)


@numba.njit(cache=True, nogil=True)
def _portfolios(starts, pair, ar, table, offset, n_grid):  # pragma: no cover - compiled
    """The portfolios' group, date, member offsets, members and AR totals. A portfolio's members are the group's
    entries with a finite AR and a date on its date, in entry order (a counting sort of each group's cells over the
    dates, stable: a pass that counts each date's cells, then one that places them); its total adds their ARs in
    that order from 0.0 (``segment_sum``'s order). Only the members are stored per cell (no per-cell group, date or
    value)."""
    n_groups, width = len(starts) - 1, ar.shape[1]
    room = 0  # portfolios at most: a group's cells or the grid's dates, the fewer
    for g in range(n_groups):
        room += min((starts[g + 1] - starts[g]) * width, n_grid)
    member = np.empty(len(pair) * width, np.int64)  # cells at most
    group = np.empty(room, np.int64)
    date = np.empty(room, np.int64)
    first = np.empty(room + 1, np.int64)
    total = np.empty(room)
    cells = np.zeros(n_grid + 1, np.int64)  # a group's cells on each date, then where the next one goes
    at = np.empty(n_grid, np.int64)  # the portfolio of each date of the group
    done = 0  # cells placed
    made = 0  # portfolios made
    for g in range(n_groups):
        lo, hi = n_grid, -1
        for e in range(starts[g], starts[g + 1]):
            i, o = pair[e], offset[pair[e]]
            for t in range(width):
                p = table[o + t]
                if p >= 0 and np.isfinite(ar[i, t]):
                    cells[p] += 1
                    lo, hi = min(lo, p), max(hi, p)
        for p in range(lo, hi + 1):
            if cells[p] > 0:  # date p has cells: they start after those of the earlier dates
                group[made], date[made], first[made], total[made] = g, p, done, 0.0
                at[p] = made
                made += 1
                done, cells[p] = done + cells[p], done
        for e in range(starts[g], starts[g + 1]):
            i, o = pair[e], offset[pair[e]]
            for t in range(width):
                p = table[o + t]
                if p >= 0 and np.isfinite(ar[i, t]):
                    member[cells[p]] = i
                    cells[p] += 1
                    total[at[p]] += ar[i, t]
        cells[max(lo, 0) : hi + 1] = 0
    first[made] = done
    return group[:made].copy(), date[:made].copy(), first[: made + 1].copy(), member[:done], total[:made].copy()


def pairs_with_returns(ar: np.ndarray, groups: Groups) -> np.ndarray:
    """(G,) pairs of each group with at least one finite abnormal return in ``ar`` (P, L): the tests' n."""
    return _with_returns(ar, groups.group, groups.pair, groups.n_groups)


@numba.njit(cache=True, nogil=True)
def _with_returns(ar, group, pair, n_groups):  # pragma: no cover - compiled
    """Per group, its entries whose row of ``ar`` has a finite value (a row read up to its first one)."""
    out = np.zeros(n_groups, np.int64)
    for e in range(len(pair)):
        for t in range(ar.shape[1]):
            if np.isfinite(ar[pair[e], t]):
                out[group[e]] += 1
                break
    return out


def portfolio_series(ar: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_matrix]:
    """The calendar-time portfolio of a group: ``(dates (T,), p (T,), n (T,), members (T, N) sparse 0/1)``.

    ``ar`` (N, L) are the group's event-window abnormal returns, ``dates`` (N, L) their calendar dates (NaT where
    a pair has no return).
    """
    grid, (pos,) = calendar_positions(dates)
    port = portfolios(ar, pos, Groups.one(len(ar)), len(grid))
    rows = np.repeat(np.arange(len(port.n)), port.n)
    from scipy import sparse  # 0.15 s to import: only for a portfolio's members

    members = sparse.csr_matrix((np.ones(len(rows)), (rows, port.pair)), shape=(len(port.n), len(ar)))
    return grid[port.date], port.p, port.n, members


def standardized_z(
    port: Portfolios,
    ar_est: np.ndarray | ArRows,
    keep: np.ndarray,
    positions: np.ndarray | RowPositions,
    n_pairs: np.ndarray,
    min_common: int = 20,
) -> GroupResult:
    """:func:`calendar_time_z` of every group from its portfolios and the estimation residuals (``ar_est``,
    ``keep``, ``positions`` as for :func:`estimation_sd`); ``n_pairs`` (G,) the pairs with a return."""
    return standardized_z_of(port, *estimation_sd(port, ar_est, keep, positions), n_pairs, min_common)


def standardized_z_of(
    port: Portfolios, s: np.ndarray, m: np.ndarray, n_pairs: np.ndarray, min_common: int = 20
) -> GroupResult:
    """:func:`standardized_z` from the portfolios' estimation-period ``(s, m)`` (:func:`estimation_sd`, or one
    window's :func:`~eventstudy.inference.portfolio_sd.estimation_sd_windows`)."""
    use = (m >= max(min_common, 4)) & np.isfinite(s) & (s > 0)
    g = port.group[use]
    sp = segment_sum(g, port.p[use] / s[use], port.n_groups)
    var = segment_sum(g, (m[use] - 1) / (m[use] - 3), port.n_groups)
    z = np.where(var > 0, sp / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    return GroupResult(z, 2 * stats.norm.sf(np.abs(z)), n_pairs)


def calendar_time_z_groups(
    ar: np.ndarray, dates: np.ndarray, ar_est: np.ndarray, dates_est: np.ndarray, groups: Groups, min_common: int = 20
) -> GroupResult:
    """:func:`calendar_time_z` of every group; ``ar``/``dates`` (P, L), ``ar_est``/``dates_est`` (P, L1)."""
    grid, (pos, pos_est) = calendar_positions(dates, dates_est)
    port = portfolios(ar, pos, groups, len(grid))
    n_pairs = pairs_with_returns(ar, groups)
    return standardized_z(port, ar_est, np.isfinite(ar_est), pos_est, n_pairs, min_common)


def calendar_time_z(
    ar: np.ndarray, dates: np.ndarray, ar_est: np.ndarray, dates_est: np.ndarray, min_common: int = 20
) -> TestResult:
    """Jaffe-Mandelker standardized calendar-time portfolio test (module docstring), N(0, 1).

    ``ar``/``dates`` (N, L): event-window ARs and dates; ``ar_est``/``dates_est`` (N, L1): estimation residuals
    and dates. Dates whose portfolio has fewer than ``min_common`` common estimation dates are left out.
    """
    return calendar_time_z_groups(ar, dates, ar_est, dates_est, Groups.one(len(ar)), min_common)[0]


def newey_west_t(port: Portfolios, lags: int, n_pairs: np.ndarray, min_days: int = 10) -> GroupResult:
    """:func:`calendar_time_nw` of every group from its portfolios (each group's series in date order)."""
    g, size, p = port.group, port.n_groups, port.p
    big_t = port.dates_per_group
    enough = big_t >= max(min_days, lags + 2)
    mean = segment_sum(g, p, size) / np.maximum(big_t, 1)
    e = p - mean[g]
    lrv = segment_sum(g, e * e, size)
    for lag in range(1, lags + 1):  # a loop over lags; every group's lag-l products at once
        same = g[lag:] == g[:-lag]
        cross = segment_sum(g[lag:][same], (e[lag:] * e[:-lag])[same], size)
        lrv += 2 * (1 - lag / (lags + 1)) * cross
    lrv /= np.maximum(big_t, 1)
    ok = enough & (lrv > 0)
    t = np.where(ok, mean / np.sqrt(np.where(ok, lrv, 1.0) / np.maximum(big_t, 1)), np.nan)
    return GroupResult(t, 2 * stats.t.sf(np.abs(t), np.maximum(big_t - 1, 1)), n_pairs)


def calendar_time_nw_groups(
    ar: np.ndarray, dates: np.ndarray, groups: Groups, lags: int, min_days: int = 10
) -> GroupResult:
    """:func:`calendar_time_nw` of every group; ``ar``/``dates`` (P, L)."""
    grid, (pos,) = calendar_positions(dates)
    return newey_west_t(portfolios(ar, pos, groups, len(grid)), lags, pairs_with_returns(ar, groups), min_days)


def calendar_time_nw(ar: np.ndarray, dates: np.ndarray, lags: int, min_days: int = 10) -> TestResult:
    """Calendar-time portfolio mean with a Newey-West t (module docstring), t with T - 1 df.

    ``lags`` = the event window's length - 1. NaN with fewer than ``min_days`` active calendar dates.
    """
    return calendar_time_nw_groups(ar, dates, Groups.one(len(ar)), lags, min_days)[0]
