"""rbar's per-cell sums of rho_ij (:mod:`eventstudy.inference.correlation`) where the cells' dates are runs.

Two cells p, q whose available dates are each a run of consecutive positions (complete data) share the dates S of
the run where their runs meet, and sum_{i in p, j in q} rho_ij = U_p(S) . U_q(S), with U_p(S) = sum_i u_i(S), u_i(S)
= (x_i - m_i(S)) k_i(S) on S, m_i(S) the mean of x_i over S and k_i(S) = 1 / ||x_i - m_i(S)|| (rho_ij the Pearson
correlation on S, Kolari & Pynnönen 2010's pairwise-complete residual correlation); within one cell (U.U - sum_i
u_i.u_i) / 2. A cell meets each partner on one interval of its run (a prefix or a suffix when the runs are equally
long, one per offset of the partner's run), so each member's m_i and k_i for all of a cell's intervals come from its
total and a few prefix and suffix sums (one read of its row), and the cell's U over every interval is one weighted
sum of its rows, U = K' X - K' m (K: members x intervals), taken in register-blocked passes (eight members and two
intervals at a time) while their rows are in cache: each row read once per cell rather than twice per partner cell
(the per-cell sums of :func:`~eventstudy.inference.correlation_kernels.cell_sums`, which stream both cells' packed
rows for every pair), and read from the residuals themselves (stored, or regenerated from the session grid), into a
buffer of eight rows packed as :func:`~eventstudy.inference.correlation_packing.compress` packs them: the same
values, never packed into memory. The result is the same sum in another order (rbar agrees to about 1e-15 relative);
it does not depend on threads or on how the pairs are cut into batches (each cell's U from its members alone, in
their order).
"""

from __future__ import annotations

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import ar_row
from eventstudy.inference.correlation_kernels import cell_sums as _merged_cell_sums
from eventstudy.inference.correlation_packing import packed_row
from eventstudy.inference.threads import run_chunked

RUN_MIN_MEMBERS = 16  # fewer members in a cell: the merged per-cell sums (no fewer reads of its rows to gain)


def cell_runs(cell_ptr: np.ndarray, start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C,) the first position of each cell's run of dates, -1 for a cell whose pairs take the merged per-cell sums
    (fewer than ``RUN_MIN_MEMBERS`` members, no dates, or dates that are no run), and (C,) how many dates it has;
    ``start``, ``count`` (E,) those of each entry's row (every member of a cell has the cell's dates)."""
    first, size = cell_ptr[:-1], np.diff(cell_ptr)
    return np.where(size >= RUN_MIN_MEMBERS, start[first], -1), count[first]


def cell_sums(packed: tuple, source: tuple, cells: tuple, cp, cq, min_shared: int) -> np.ndarray:
    """sum of rho_ij over i in cell p, j in cell q (i < j when p = q) for every listed pair of cells (p, q).

    ``cells`` = (cell_ptr, start, length): cell k's members are entries ``cell_ptr[k]:cell_ptr[k + 1]``, all with the
    same dates, and its run of dates (:func:`cell_runs`). Pairs of two runs take :func:`run_cell_sums`, reading the
    rows from ``source`` (its arguments ``rows, members``); the others the merged per-cell sums of
    :func:`~eventstudy.inference.correlation_kernels.cell_sums` on the packed rows ``packed`` = (xv, pv, cnt, at),
    entry e's member packed in row ``at[e]`` (a small cell's rows are read about as often either way).
    """
    cell_ptr, start, length = cells
    cp, cq = np.asarray(cp, dtype=np.int64), np.asarray(cq, dtype=np.int64)
    runs = (start[cp] >= 0) & (start[cq] >= 0)
    out = np.zeros(len(cp))
    out[runs] = run_cell_sums(*source, cell_ptr, start, length, cp[runs], cq[runs], min_shared)
    out[~runs] = _merged_cell_sums(*packed, cell_ptr, cp[~runs], cq[~runs], min_shared)
    return out


def run_cell_sums(rows: tuple, members, leads, cell_ptr, start, length, cp, cq, min_shared: int) -> np.ndarray:
    """:func:`cell_sums` of pairs of cells whose dates are runs of consecutive positions (cell k's: ``length[k]``
    positions from ``start[k]``), by the cells' weighted sums U over the intervals where they meet (module
    docstring). A pair sharing fewer than ``min_shared`` dates (or none) sums 0.

    ``rows`` = (src, valid, table, offset): the residuals (:meth:`~eventstudy.inference.ar_rows.ArRows.source`, read
    with :func:`~eventstudy.inference.ar_rows.ar_row`), where they count (or None) and their date positions
    ``table[offset[i] + t]``; ``members`` (E,) the residuals' row of each entry (cell k's members
    ``members[cell_ptr[k]:cell_ptr[k + 1]]``) and ``leads`` (E,) its first day if its values are those of
    consecutive days, else -1 (:func:`~eventstudy.inference.correlation_packing.patterns`)."""
    out = np.zeros(len(cp))
    cells, inverse = np.unique(np.r_[cp, cq], return_inverse=True)
    ip, iq = inverse[: len(cp)], inverse[len(cp) :]
    length = length[cells]
    start = start[cells]
    lo = np.maximum(start[ip], start[iq])
    shared = np.minimum(start[ip] + length[ip], start[iq] + length[iq]) - lo
    use = np.flatnonzero(shared >= max(min_shared, 1))
    if len(use) == 0:
        return out
    # each cell's intervals (where it meets its partners, on its own run), numbered in order of (cell, start, end)
    side, begin = np.r_[ip[use], iq[use]], np.r_[lo[use] - start[ip[use]], lo[use] - start[iq[use]]]
    width = rows[0][3] + 1
    key = (side * width + begin) * width + begin + np.r_[shared[use], shared[use]]
    interval, at = np.unique(key, return_inverse=True)
    cell, ilo, ihi = interval // (width * width), interval // width % width, interval % width
    iptr = np.searchsorted(cell, np.arange(len(cells) + 1))
    units, own = np.empty((len(interval), width - 1)), np.zeros(len(interval))
    size = cell_ptr[cells + 1] - cell_ptr[cells]
    args = (*rows, members, leads, cell_ptr[cells], size, length, ilo, ihi, iptr, units, own)
    run_chunked(_units_range, _units_chunks, args, size * np.diff(iptr) * length + 1)
    part = np.zeros(len(use))
    _dots(units, own, ilo, at[: len(use)], at[len(use) :], cp[use] == cq[use], shared[use], part)
    out[use] = part
    return out


@numba.njit(cache=True, nogil=True)
def _units_range(src, valid, table, offset, members, leads, ptr, size, length, ilo, ihi, iptr, units, own, lo,
                 hi):  # pragma: no cover  # fmt: skip
    rows = (src, valid, table, offset)
    for c in range(lo, hi):
        a, b, m = iptr[c], iptr[c + 1], slice(ptr[c], ptr[c] + size[c])
        if a < b:
            _cell_units(rows, members[m], leads[m], length[c], ilo[a:b], ihi[a:b], units[a:b], own[a:b])


@numba.njit(parallel=True, cache=True, nogil=True)
def _units_chunks(src, valid, table, offset, members, leads, ptr, size, length, ilo, ihi, iptr, units, own,
                  bounds):  # pragma: no cover  # fmt: skip
    for c in numba.prange(len(bounds) - 1):
        _units_range(src, valid, table, offset, members, leads, ptr, size, length, ilo, ihi, iptr, units, own,
                     bounds[c], bounds[c + 1])  # fmt: skip


@numba.njit(cache=True, nogil=True, _nrt=False)
def _read_block(src, valid, table, offset, members, leads, n, values, block):  # pragma: no cover - compiled
    """The rows ``members`` (at most 8) of the residuals (``rows`` of :func:`run_cell_sums`) packed into the rows of
    ``block`` (their n available values, centred: :func:`~eventstudy.inference.correlation_packing.packed_row`; a
    row whose values are those of n consecutive days from ``leads[g]`` is moved from there, its mask and dates not
    read, and centred beside the block's others: :func:`_centre_block`), in one call, compiled without reference
    counting (numba would count the references to its arguments' arrays and to each row's view with atomic
    instructions). Not fastmath: the regeneration is the fit's."""
    for g in range(len(members)):
        x = block[g]
        if leads[g] >= 0:
            ar_row(src, members[g], x)
            for t in range(n):
                x[t] = x[leads[g] + t]
        else:
            ar_row(src, members[g], values)
            packed_row(values, valid, table, offset, members[g], x)
    _centre_block(block, n, leads)


@numba.njit(cache=True, nogil=True)
def _centre_block(block, n, leads):  # pragma: no cover - compiled
    """The rows g < len(leads) of ``block`` with ``leads[g] >= 0`` less the mean of their n values, as
    :func:`~eventstudy.inference.correlation_packing.centre` takes it (each row's sum in order), the eight sums side
    by side (eight chains of additions, not one: the same sums, a few times sooner)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for t in range(n):
        s0 += block[0, t]
        s1 += block[1, t]
        s2 += block[2, t]
        s3 += block[3, t]
        s4 += block[4, t]
        s5 += block[5, t]
        s6 += block[6, t]
        s7 += block[7, t]
    total = (s0, s1, s2, s3, s4, s5, s6, s7)
    for g in range(len(leads)):
        if leads[g] >= 0:
            for t in range(n):
                block[g, t] -= total[g] / n


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _cell_units(rows, members, leads, n, ilo, ihi, units, own):  # pragma: no cover - compiled
    """units[r, :n] = sum_i k_ir (x_i - m_ir) over the members' packed rows x_i (their n values, a run of dates: read
    from the residuals ``rows``, :func:`_read_block`), with m_ir, k_ir the mean and 1 / norm of x_i - m_ir over
    [ilo[r], ihi[r]) (k = 0 for a constant series, which adds nothing); own[r] = sum_i k_ir^2 ||x_i - m_ir||^2 (the
    u_i . u_i). Only units[r, ilo[r]:ihi[r]] are the interval's sum of unit vectors. Members eight at a time: their
    sums, weights and products while their rows are in cache."""
    intervals = len(ilo)
    head, tail = ilo.max(), ihi.min()  # sums over [0, a) for a <= head and over [e, n) for e >= tail; the rest: total
    prefix, suffix = np.zeros((2, head + 1)), np.zeros((2, n - tail + 1))
    sx, sxx, weight = np.empty(intervals), np.empty(intervals), np.zeros((8, intervals))
    inv = 1.0 / (ihi - ilo)
    centre = np.zeros(intervals)
    src, valid, table, offset = rows
    block, values, spare = np.empty((8, src[3])), np.empty(src[3]), np.empty(n)
    own[:] = 0.0
    units[:, :n] = 0.0
    for j0 in range(0, len(members), 8):
        _read_block(src, valid, table, offset, members[j0 : j0 + 8], leads[j0 : j0 + 8], n, values, block)
        for g in range(8):  # the block's rows (past the last member: the first again, with weight 0)
            x = block[g]
            if j0 + g >= len(members):
                x[:n] = block[0, :n]
            s1, s2 = _row_sums(x, n)
            for t in range(head):
                prefix[0, t + 1] = prefix[0, t] + x[t]
                prefix[1, t + 1] = prefix[1, t] + x[t] * x[t]
            for t in range(n - tail):
                suffix[0, t + 1] = suffix[0, t] + x[n - 1 - t]
                suffix[1, t + 1] = suffix[1, t] + x[n - 1 - t] * x[n - 1 - t]
            for r in range(intervals):
                sx[r] = s1 - prefix[0, ilo[r]] - suffix[0, n - ihi[r]]
                sxx[r] = s2 - prefix[1, ilo[r]] - suffix[1, n - ihi[r]]
            for r in range(intervals):
                vx = sxx[r] - sx[r] * sx[r] * inv[r]
                k = 1.0 / np.sqrt(vx) if j0 + g < len(members) and vx > 1e-12 * sxx[r] else 0.0
                weight[g, r] = k
                centre[r] += k * sx[r] * inv[r]
                own[r] += k * k * vx
        _add_block(units, weight, block, n, spare)
    for r in range(intervals):
        units[r, :n] -= centre[r]


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _add_block(units, w, block, n, spare):  # pragma: no cover - compiled
    """units[r] += sum_g w[g, r] x_g on [0, n) for every interval r, x_g the rows of ``block``: two intervals a pass
    (an odd last one beside the ``spare`` row), aligned and vectorised, each element of their units loaded and stored
    once for eight products; in one call (a call's arguments cost reference counts)."""
    x0, x1, x2, x3, x4, x5, x6, x7 = block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7]
    for r in range(0, len(units), 2):
        q = min(r + 1, len(units) - 1)
        u, v = units[r], units[q] if q > r else spare
        k0, k1, k2, k3, k4, k5, k6, k7 = w[0, r], w[1, r], w[2, r], w[3, r], w[4, r], w[5, r], w[6, r], w[7, r]
        l0, l1, l2, l3, l4, l5, l6, l7 = w[0, q], w[1, q], w[2, q], w[3, q], w[4, q], w[5, q], w[6, q], w[7, q]
        for t in range(n):
            a, b, c, d, e, f, g, h = x0[t], x1[t], x2[t], x3[t], x4[t], x5[t], x6[t], x7[t]
            u[t] += k0 * a + k1 * b + k2 * c + k3 * d + k4 * e + k5 * f + k6 * g + k7 * h
            v[t] += l0 * a + l1 * b + l2 * c + l3 * d + l4 * e + l5 * f + l6 * g + l7 * h


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _row_sums(x, n):  # pragma: no cover - compiled
    """sum and sum of squares of x[:n]."""
    s1 = 0.0
    s2 = 0.0
    for t in range(n):
        s1 += x[t]
        s2 += x[t] * x[t]
    return s1, s2


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dots(units, own, ilo, rp, rq, same, shared, out):  # pragma: no cover - compiled
    """Each pair's U_p . U_q over its shared dates (intervals rp, rq: rows of ``units`` from ``ilo``), or
    (U.U - own) / 2 for a cell with itself."""
    for k in range(len(rp)):
        a = units[rp[k], ilo[rp[k]] :]
        b = units[rq[k], ilo[rq[k]] :]
        total = 0.0
        for t in range(shared[k]):
            total += a[t] * b[t]
        out[k] = (total - own[rp[k]]) / 2 if same[k] else total
