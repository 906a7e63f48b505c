"""In-time placebo (randomization) inference: clean pseudo-event dates and empirical p-values.

The null distribution of a statistic is built from the same tickers' own history: every draw moves *all* of the
study's events by one common number of sessions k, so the pairs that share a date still share one, windows that
overlap in calendar time still overlap, and the tickers' cross-correlation is left intact (no independence is
assumed anywhere). A shift is admissible when no pair's pseudo window comes near a catalogued event or a
confounder of its ticker: for a pair at grid position c, a catalogued event of the same ticker at x blocks it when
|c + k - x| <= (b - a) + 1 (the two windows [a, b] would share a day, with one session of margin for the time of
day), and a confounder of that ticker or of the whole market at x when c + k + a - 1 <= x <= c + k + b + 1.
The draws are taken without replacement with ``numpy.random.default_rng(seed)``, so a seed reproduces them.

The empirical two-sided p-value of an observed statistic T against B placebo values T_b is

    p = (1 + #{b: |T_b| >= |T|}) / (1 + B)

(Davison & Hinkley 1997, eq. 4.11; the +1 counts the observed sample as one of the draws, so p is never 0).
"""

from __future__ import annotations

import numpy as np


def admissible_shifts(
    n_grid: int,
    positions: np.ndarray,
    columns: np.ndarray,
    events: tuple[np.ndarray, np.ndarray],
    confounders: tuple[np.ndarray, np.ndarray],
    span: tuple[int, int],
    reach: tuple[int, int],
    lowest: np.ndarray | None = None,
) -> np.ndarray:
    """Shifts k (in grid sessions, k != 0) that put every pair's pseudo window on clean days (module docstring).

    ``positions`` (P,) are the pairs' day-0 positions on the reference grid of ``n_grid`` sessions (one per event:
    the pairs of an event move together) and ``columns`` (P,) their tickers' codes 0..T-1. ``events`` and
    ``confounders`` are ``(positions, codes)`` of catalogued events and confounders, code -1 for every ticker: a
    mark only blocks the tickers it concerns. ``span`` = (a, b) the event window; ``reach`` = (first, last)
    relative days a pseudo event needs inside the grid (the estimation window's start and the last reported
    day); ``lowest`` (P,) the earliest admissible pseudo day-0 position of each pair (history after a listing).
    """
    a, b = span
    first, last = reach
    columns = np.asarray(columns, dtype=np.int64)
    n_cols = int(columns.max()) + 1 if len(columns) else 0
    blocked = np.zeros((n_grid + 1, n_cols + 1), dtype=np.int64)  # difference array; last column = every ticker
    width = b - a + 1
    for (xs, codes), lo, hi in ((events, -width, width), (confounders, -b - 1, -a + 1)):
        xs, codes = np.asarray(xs, dtype=np.int64), np.asarray(codes, dtype=np.int64)
        codes = np.where(codes < 0, n_cols, codes)
        np.add.at(blocked, (np.clip(xs + lo, 0, n_grid), codes), 1)
        np.add.at(blocked, (np.clip(xs + hi + 1, 0, n_grid), codes), -1)
    counts = np.cumsum(blocked, axis=0)[:n_grid]
    clean = (counts[:, :n_cols] + counts[:, n_cols:]) == 0  # (n_grid, tickers)
    shifts = np.arange(-n_grid, n_grid)
    target = np.asarray(positions, dtype=np.int64)[None, :] + shifts[:, None]
    inside = (target + first >= 0) & (target + last < n_grid)
    if lowest is not None:
        inside &= target >= np.asarray(lowest)[None, :]
    ok = inside.all(axis=1)
    ok[ok] = clean[target[ok], columns[None, :]].all(axis=1)
    return shifts[ok & (shifts != 0)]


def draw_shifts(candidates: np.ndarray, n: int, seed: int | None) -> np.ndarray:
    """``n`` distinct shifts from ``candidates`` (all of them, shuffled, when there are fewer)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.asarray(candidates))[:n]


def empirical_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Two-sided randomization p-value of each observed statistic (module docstring).

    ``observed`` (G,) and ``null`` (G, B), one row per statistic; NaN placebo values are left out of B, and a
    NaN observed value or no finite placebo value gives NaN.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    finite = np.isfinite(null)
    b = finite.sum(axis=1)
    exceed = (finite & (np.abs(np.where(finite, null, 0.0)) >= np.abs(observed)[:, None])).sum(axis=1)
    p = (1 + exceed) / (1 + b)
    return np.where(np.isfinite(observed) & (b > 0), p, np.nan)
