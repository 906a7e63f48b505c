"""Sample moments of every group at once, and two-sided p-values of arrays of statistics.

The grouped tests (:mod:`eventstudy.inference.groups`) need, per group, the count, mean and central moments of a
per-pair value (NaN values left out), and per group and day the mean over the group's pairs (the AAR). All by
segment sums over the membership entries, never a loop over groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows, ar_row
from eventstudy.inference.groups import Groups


@dataclass(frozen=True)
class Moments:
    """Per group (G,): ``n`` finite values, their ``mean`` (NaN when n = 0), and the central sums of squares and
    cubes ``m2`` = sum (x - mean)^2, ``m3`` = sum (x - mean)^3 (exactly 0 for a group of equal values)."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    m3: np.ndarray

    def var(self) -> np.ndarray:
        """Sample variance (ddof = 1); NaN with fewer than 2 values."""
        return np.where(self.n >= 2, self.m2 / np.maximum(self.n - 1, 1), np.nan)


def group_moments(values: np.ndarray, groups: Groups) -> Moments:
    """:class:`Moments` of per-pair ``values`` (P,) over each group's pairs (two passes: mean, then deviations).

    A group whose finite values are all equal gets m2 = m3 = 0 exactly (its computed mean can differ from the
    values in the last bit), so tests see "no dispersion" rather than a rounding residue.
    """
    g, size = groups.group, groups.n_groups
    x = np.asarray(values, dtype=float)[groups.pair]
    ok = np.isfinite(x)
    n = np.bincount(g, weights=ok, minlength=size).round().astype(np.int64)
    total = np.bincount(g, weights=np.where(ok, x, 0.0), minlength=size)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    high, low = np.full(size, -np.inf), np.full(size, np.inf)
    np.fmax.at(high, g, x)
    np.fmin.at(low, g, x)
    spread = (high > low)[g] & ok
    d = np.where(spread, x - mean[g], 0.0)
    m2 = np.bincount(g, weights=d * d, minlength=size)
    m3 = np.bincount(g, weights=d * d * d, minlength=size)
    return Moments(n, mean, m2, m3)


def group_day_means(
    values: np.ndarray | ArRows, groups: Groups, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, n)`` (G, D) of per-pair daily ``values`` (P, D): each day's mean over the group's pairs with a
    finite value (NaN where none) and their number (the AAR of ``STATISTICS.md`` per group). ``keep`` (P, D):
    only the values where it holds (as if the others were NaN).

    ``values`` is an array (strided views, such as a slice of days, are read in place) or
    :class:`~eventstudy.inference.ar_rows.ArRows` (rows stored or regenerated from the session grid). One compiled
    pass over the membership entries (each adds its pair's row, read once into a buffer), no (P, D) temporaries.
    """
    rows = ArRows.of(values)
    masked = keep is not None
    keep = np.asarray(keep, dtype=bool) if masked else np.ones((1, 1), bool)
    if masked and keep.shape != rows.shape:
        raise ValueError(f"keep {keep.shape} does not match the values {rows.shape}")
    total, n = _day_sums(rows.source(), keep, masked, groups.group, groups.pair, groups.n_groups)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan), n


@numba.njit(cache=True, nogil=True)
def _day_sums(src, keep, masked, group, pair, n_groups):  # pragma: no cover - compiled
    """Per group and day: the sum of the finite values of its pairs (where ``keep``, if ``masked``) and their
    number; in entry order, each value added to its (group, day) sum as the entries come."""
    width = src[3]
    total = np.zeros((n_groups, width))
    n = np.zeros((n_groups, width), dtype=np.int64)
    row = np.empty(width)
    for e in range(len(group)):
        g, i = group[e], pair[e]
        ar_row(src, i, row)
        for d in range(width):
            v = row[d]
            if np.isfinite(v) and (not masked or keep[i, d]):
                total[g, d] += v
                n[g, d] += 1
    return total, n


def t_p_values(t: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Two-sided Student-t p-values of an array of ``t`` with ``dof`` df (NaN where t is not finite or dof <= 0)."""
    t, dof = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(dof, dtype=float))
    ok = np.isfinite(t) & (dof > 0)
    p = 2 * stats.t.sf(np.abs(np.where(ok, t, 0.0)), np.where(ok, dof, 1.0))
    return np.where(ok, p, np.nan)


def z_p_values(z: np.ndarray) -> np.ndarray:
    """Two-sided standard-normal p-values of an array of ``z`` (NaN where z is not finite)."""
    z = np.asarray(z, dtype=float)
    ok = np.isfinite(z)
    return np.where(ok, 2 * stats.norm.sf(np.abs(np.where(ok, z, 0.0))), np.nan)
