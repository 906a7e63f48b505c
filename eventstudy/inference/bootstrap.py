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
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.result import NA, TestResult

CHUNK_CELLS = 1 << 22  # sign-matrix cells per product, to bound memory with many dates
TOLERANCE = 1e-10  # relative: a draw equal to the observed value up to rounding counts as reaching it


def day_sums(ar: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """S_d (D,): the sum of the abnormal returns on each distinct calendar date, ``ar``/``dates`` (N, L)."""
    ok = np.isfinite(ar) & ~np.isnat(dates)
    _, inverse = np.unique(dates[ok], return_inverse=True)
    return np.bincount(inverse, weights=ar[ok])


def wild_bootstrap_caar(ar: np.ndarray, dates: np.ndarray, draws: int, seed: int | None) -> TestResult:
    """Wild cluster bootstrap test of CAAR = 0 (module docstring): statistic = the CAAR, its bootstrap p.

    ``ar`` (N, L) are the group's event-window abnormal returns and ``dates`` (N, L) their calendar dates (NaT
    where a pair has no return); ``draws`` = B (0: off, NaN p); ``seed`` seeds the Rademacher weights.
    """
    n = int(np.isfinite(ar).any(axis=1).sum())
    sums = day_sums(ar, dates)
    if n == 0 or draws <= 0 or len(sums) == 0:
        return TestResult(NA, NA, n)
    caar = float(sums.sum() / n)
    level = abs(sums.sum()) * (1 - TOLERANCE)
    d = len(sums)
    if d < 63 and 2**d <= draws:  # every sign pattern: exact
        signs = 1 - 2 * ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1)
        return TestResult(caar, float((np.abs(signs @ sums) >= level).mean()), n)
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_CELLS // d)
    exceed = 0
    for first in range(0, draws, rows):  # a loop per block of draws, each block one (rows x D) product
        signs = rng.integers(0, 2, size=(min(rows, draws - first), d), dtype=np.int8) * 2 - 1
        exceed += int((np.abs(signs @ sums) >= level).sum())
    return TestResult(caar, (1 + exceed) / (draws + 1), n)
