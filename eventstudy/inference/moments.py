"""Sample moments of every group at once, and two-sided p-values of arrays of statistics.

The grouped tests (:mod:`eventstudy.inference.groups`) need, per group, the count, mean and central moments of a
per-pair value (NaN values left out), and per group and day the mean over the group's pairs (the AAR). All by
segment sums over the membership entries, never a loop over groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows, read_ar_row
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
    return Moments(*_moments(np.asarray(values, dtype=float), groups.group, groups.pair, groups.n_groups))


@numba.njit(cache=True, nogil=True)
def _moments(values, group, pair, size):  # pragma: no cover - compiled
    """(n, mean, m2, m3) per group, the sums taken in entry order from 0.0, a value that does not count adding 0.0
    (``np.bincount``'s sums of the masked values): n and the sum of the finite values; the mean; then, where a group
    has two different values (its largest above its smallest, infinities included, NaN left out: ``np.fmax`` and
    ``np.fmin``), d = x - mean of each finite value (else 0.0), m2 the sum of d d and m3 of d d d."""
    n = np.zeros(size, np.int64)
    total = np.zeros(size)
    high, low = np.full(size, -np.inf), np.full(size, np.inf)
    for e in range(len(pair)):
        g, x = group[e], values[pair[e]]
        ok = np.isfinite(x)
        n[g] += 1 if ok else 0
        total[g] += x if ok else 0.0
        high[g] = x if x > high[g] else high[g]
        low[g] = x if x < low[g] else low[g]
    mean = np.full(size, np.nan)
    for g in range(size):
        if n[g] > 0:
            mean[g] = total[g] / max(n[g], 1)
    m2, m3 = np.zeros(size), np.zeros(size)
    for e in range(len(pair)):
        g, x = group[e], values[pair[e]]
        d = x - mean[g] if high[g] > low[g] and np.isfinite(x) else 0.0
        m2[g] += d * d
        m3[g] += d * d * d
    return n, mean, m2, m3


class DaySums(NamedTuple):
    """:func:`group_day_sums`: per group and day (G, D) the ``mean`` of the counted values and their number ``n``;
    per pair (P,) the number of its counted values (``finite``) and of its values above 0 (``positive``, the
    values where ``keep`` holds, +inf included: the generalized sign test's count), both 0 for a pair in no group."""

    mean: np.ndarray
    n: np.ndarray
    positive: np.ndarray
    finite: np.ndarray


def group_day_means(
    values: np.ndarray | ArRows, groups: Groups, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, n)`` (G, D) of per-pair daily ``values`` (P, D): each day's mean over the group's pairs with a
    finite value (NaN where none) and their number (the AAR of ``STATISTICS.md`` per group). ``keep`` (P, D):
    only the values where it holds (as if the others were NaN). See :func:`group_day_sums`."""
    sums = group_day_sums(values, groups, keep)
    return sums.mean, sums.n


def group_day_sums(values: np.ndarray | ArRows, groups: Groups, keep: np.ndarray | None = None) -> DaySums:
    """:func:`group_day_means` and, in the same pass, each pair's number of counted and of positive values.

    ``values`` is an array (strided views, such as a slice of days, are read in place) or
    :class:`~eventstudy.inference.ar_rows.ArRows` (rows stored or regenerated from the session grid). Compiled
    passes over the membership entries, no (P, D) temporaries: each pair's row is read once for all the groups it
    is in (:func:`_visit_order`), and each (group, day) sum takes its values in the group's entry order.
    """
    rows = ArRows.of(values)
    dense = None if isinstance(values, ArRows) else rows.stored  # a plain array: read in place, no ar_row
    masked = keep is not None
    keep = np.asarray(keep, dtype=bool) if masked else np.ones((1, 1), bool)
    if masked and keep.shape != rows.shape:
        raise ValueError(f"keep {keep.shape} does not match the values {rows.shape}")
    order = _visit_order(groups.group, groups.pair, groups.n_pairs)
    total, n, positive, finite = _day_sums(
        dense, rows.source(), keep, masked, groups.group, groups.pair, order, groups.n_groups
    )
    return DaySums(np.where(n > 0, total / np.maximum(n, 1), np.nan), n, positive, finite)


@numba.njit(cache=True, nogil=True)
def _visit_order(group, pair, n_pairs):  # pragma: no cover - compiled
    """The order the entries are visited in: by pair, in entry order within a pair (a counting sort), so that a pair
    in several groups (the pooled group and its event's) has its row read once, where that keeps each group's
    entries in their order (entries sorted by group, then pair, as :class:`Groups` keeps them); else the entries'
    own order."""
    for e in range(1, len(pair)):
        if group[e] < group[e - 1] or group[e] == group[e - 1] and pair[e] <= pair[e - 1]:
            return np.arange(len(pair))
    start = np.zeros(n_pairs + 1, dtype=np.int64)
    for i in pair:
        start[i + 1] += 1
    for i in range(n_pairs):
        start[i + 1] += start[i]
    order = np.empty(len(pair), dtype=np.int64)
    for e in range(len(pair)):
        order[start[pair[e]]] = e
        start[pair[e]] += 1
    return order


@numba.njit(cache=True, nogil=True)
def _day_sums(dense, src, keep, masked, group, pair, order, n_groups):  # pragma: no cover - compiled
    """Per group and day: the sum of the finite values of its pairs (where ``keep``, if ``masked``) and their number,
    visiting the entries in ``order``. A pair's row is read once for its consecutive entries into ``clean``, its
    values not counted set to +0.0, so each entry adds a whole row without a branch (a loop that vectorises): adding
    +0.0 to a sum that starts at +0.0 changes no bit (under round-to-nearest such a sum is never -0.0). Per pair: its
    counted values and its values above 0 (where ``keep``), both 0 for a pair not visited."""
    width = src[3]
    total = np.zeros((n_groups, width))
    n = np.zeros((n_groups, width), dtype=np.int64)
    positive = np.zeros(len(src[1]), dtype=np.int64)
    finite = np.zeros(len(src[1]), dtype=np.int64)
    buffers = (np.empty(width), np.empty(width), np.empty(width, dtype=np.int64))
    _add_day_sums(dense, src, keep, masked, group, pair, order, total, n, positive, finite, buffers)
    return total, n, positive, finite


@numba.njit(cache=True, nogil=True, _nrt=False)
def _add_day_sums(
    dense, src, keep, masked, group, pair, order, total, n, positive, finite, buffers
):  # pragma: no cover - compiled
    """:func:`_day_sums`' pass into its arrays (``buffers``: a row, its clean values and counted days), compiled
    without reference counting (numba would count the references to the rows' arrays at every row it reads, with
    atomic instructions)."""
    row, clean, counted = buffers
    width = len(row)
    last = -1
    for k in range(len(order)):
        e = order[k]
        i = pair[e]
        if i != last:
            read_ar_row(dense, src, i, row)
            above, count = 0, 0
            for d in range(width):
                v = row[d]
                kept = keep[i, d] if masked else True
                ok = np.isfinite(v) & kept
                above += (v > 0.0) & kept
                count += ok
                counted[d] = ok
                clean[d] = v if ok else 0.0
            positive[i], finite[i] = above, count
            last = i
        g = group[e]
        for d in range(width):
            total[g, d] += clean[d]
            n[g, d] += counted[d]


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
