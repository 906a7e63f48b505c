"""Wild (cluster) bootstrap of the CAAR with Rademacher weights shared by every pair on one calendar day.

For a group of N pairs and one event window, each calendar date d (D distinct dates on which a pair is inside its
window) gets the sum of the abnormal returns of the pairs on that date,

    S_d = sum_{i on d} AR_{i,d},          CAAR = sum_d S_d / N.

A bootstrap draw multiplies every date's sum by one Rademacher weight v_bd (+1 or -1 with probability 1/2, the
same for every ticker on date d, so the cross-sectional correlation of pairs sharing a date is kept):

    CAAR*_b = sum_d v_bd S_d / N,

the wild bootstrap (Wu 1986; Liu 1988; Mammen 1993) with the calendar dates as clusters (Cameron, Gelbach &
Miller 2008, the wild cluster bootstrap, imposing the null of a zero mean). The plain statistic is used: the
studentized one, t = sum_d S_d / sqrt(sum_d S_d^2) with the cluster-robust (uncentered day-sum) standard error,
has the same standard error in every draw (v_bd^2 = 1), so t*_b = CAAR*_b / se and the two give identical
p-values. The two-sided p-value is

    p = (1 + #{b: |CAAR*_b| >= |CAAR|}) / (B + 1)

over B draws from ``numpy.random.default_rng(seed)`` (Davison & Hinkley 1997, eq. 4.11), or, when 2^D <= B,
the exact p = #{sign patterns v in {-1, +1}^D: |sum_d v_d S_d| >= |sum_d S_d|} / 2^D over all of them (the
randomization distribution under sign-symmetric, independent day sums; no Monte Carlo error).

Limitation: with D dates there are 2^D sign patterns and the observed pattern and its mirror image both reach
|CAAR|, so p >= 2 / 2^D. With clustered dates and a short window (CAR[0,1] on one shared day 0: D = 2, p >= 0.5)
the test cannot reject at any usual level: it has no power. It is informative with many distinct dates (a
backtest of staggered events), where it also tolerates overlapping windows (a date counts once).

Every group at once (:func:`wild_bootstrap_caar_groups`): the day sums are the calendar-time portfolios' sums
(:func:`eventstudy.inference.calendar_time.portfolios`). Each group draws its signs from a fresh
``numpy.random.default_rng(seed)``, exactly as the group alone would (so the pooled group's p-value is the one
of a study without other groups, and a group's p does not depend on which other groups are tested); groups with
the same number of dates D therefore share one sign matrix (common random numbers), and every group of a given D
is tested by one product of that matrix with their (groups x D) day sums.
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.calendar_time import (
    Portfolios,
    calendar_positions,
    pairs_with_returns,
    portfolios,
    segment_sum,
)
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.result import TestResult

CHUNK_CELLS = 1 << 22  # sign-matrix (and product) cells per block, to bound memory with many dates or groups
TOLERANCE = 1e-10  # relative: a draw equal to the observed value up to rounding counts as reaching it


def bootstrap_p(port: Portfolios, n_pairs: np.ndarray, draws: int, seed: int | None) -> GroupResult:
    """The wild cluster bootstrap of every group from its calendar-time portfolios (module docstring);
    ``n_pairs`` (G,) the pairs with a return. Statistic = the CAAR, p its bootstrap p (NaN when ``draws`` = 0)."""
    size = port.n_groups
    dates = port.dates_per_group
    total = segment_sum(port.group, port.total, size)
    ok = (n_pairs > 0) & (dates > 0) & (draws > 0)
    caar = np.where(ok, total / np.maximum(n_pairs, 1), np.nan)
    p = np.full(size, np.nan)
    level = np.abs(total) * (1 - TOLERANCE)
    for d in np.unique(dates[ok]):  # a loop over the distinct numbers of dates, each for all its groups
        chosen = np.flatnonzero(ok & (dates == d))
        sums = port.total[port.group_starts[chosen][:, None] + np.arange(d)[None, :]]  # (groups, D) in date order
        if d < 63 and 2**d <= draws:  # every sign pattern: exact
            signs = 1 - 2 * ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1)
            p[chosen] = _exceed(signs, sums, level[chosen]) / 2**d
            continue
        rng = np.random.default_rng(seed)
        rows = max(1, CHUNK_CELLS // d)
        exceed = np.zeros(len(chosen), np.int64)
        for first in range(0, draws, rows):  # a loop per block of draws, each block one (rows x D) sign matrix
            signs = rng.integers(0, 2, size=(min(rows, draws - first), d), dtype=np.int8) * 2 - 1
            exceed += _exceed(signs, sums, level[chosen])
        p[chosen] = (1 + exceed) / (draws + 1)
    return GroupResult(caar, p, n_pairs)


def _exceed(signs: np.ndarray, sums: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(groups,) sign patterns (rows of ``signs``) whose |signed day sum| reaches each group's ``level``."""
    block = max(1, CHUNK_CELLS // len(signs))
    out = np.empty(len(sums), np.int64)
    for lo in range(0, len(sums), block):  # blocks of groups: (patterns x groups) products of bounded size
        out[lo : lo + block] = (np.abs(signs @ sums[lo : lo + block].T) >= level[lo : lo + block]).sum(axis=0)
    return out


def wild_bootstrap_caar_groups(
    ar: np.ndarray, dates: np.ndarray, groups: Groups, draws: int, seed: int | None
) -> GroupResult:
    """:func:`wild_bootstrap_caar` of every group; ``ar``/``dates`` (P, L)."""
    grid, (pos,) = calendar_positions(dates)
    return bootstrap_p(portfolios(ar, pos, groups, len(grid)), pairs_with_returns(ar, groups), draws, seed)


def wild_bootstrap_caar(ar: np.ndarray, dates: np.ndarray, draws: int, seed: int | None) -> TestResult:
    """Wild cluster bootstrap test of CAAR = 0 (module docstring): statistic = the CAAR, its bootstrap p.

    ``ar`` (N, L) are the group's event-window abnormal returns and ``dates`` (N, L) their calendar dates (NaT
    where a pair has no return); ``draws`` = B (0: off, NaN p); ``seed`` seeds the Rademacher weights.
    """
    return wild_bootstrap_caar_groups(ar, dates, Groups.one(len(ar)), draws, seed)[0]
