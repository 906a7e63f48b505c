"""rbar's rows (:mod:`eventstudy.inference.correlation`): their patterns of available dates, and packing them.

Rows are *packed* (a batch of rows at a time, :func:`compress`): row i's available residuals (finite, with a date
and, where a ``valid`` mask is given, valid there: a NaN-free view of the ARs and its mask are read in place),
centred on their mean, sit left-aligned in ``xv[i, :cnt[i]]`` with their date positions (on one sorted union of
dates) in ``pv[i, :cnt[i]]`` (:func:`packed_row`). The residuals are rows stored or regenerated from the session
grid (:class:`~eventstudy.inference.ar_rows.ArRows`; a plain array is rows that are all stored), each read once per
pass into a buffer (:func:`~eventstudy.inference.ar_rows.ar_row`), and their date positions as
``table[offset[i] + t]`` (:class:`~eventstudy.inference.row_positions.RowPositions`). The kernels run over rows
serially or in parallel chunks (:mod:`eventstudy.inference.threads`) and release the GIL.
"""

from __future__ import annotations

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import ArRows, _flat_rows, ar_row, finite_inside, inside_days
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.rows import factorize_hashed, hash_row
from eventstudy.inference.threads import run_chunked

RUN = np.uint64(1 << 63)  # pattern keys from here on: a run of positions, RUN + first * 2**32 + count (exact)


def renumbering(positions: np.ndarray | RowPositions, rows: np.ndarray) -> np.ndarray:
    """(C,) int32 number of each calendar position among the sorted positions that the rows ``rows`` of
    ``positions`` (N, D) have (-1: no date), so that a row's span of positions counts only the rows' dates."""
    positions = RowPositions.of(positions)
    known = np.zeros(int(positions.table.max(initial=-1)) + 1, dtype=np.bool_)
    if positions.width and len(rows):  # each distinct row of the table marked once (the engine's: a few thousand)
        starts = np.zeros(len(positions.table), dtype=np.bool_)
        starts[positions.offset[rows]] = True
        first = np.flatnonzero(starts)
        _mark_known(positions.table, first, positions.width, np.arange(len(first)), known)
    return (np.cumsum(known) - 1).astype(np.int32)


def compress(
    x: np.ndarray | ArRows,
    positions: np.ndarray | RowPositions,
    renumber: np.ndarray,
    rows: np.ndarray,
    valid: np.ndarray | None = None,
    out: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, ...]:
    """Packed rows ``rows`` of ``x``: (R, D) centred values, (R, D) int32 positions (-1 past the end), (R,) counts.

    ``x`` (N, D) are the residuals: an array or rows stored or regenerated
    (:class:`~eventstudy.inference.ar_rows.ArRows`), each row read once. ``positions`` (N, D) are their dates as
    positions on one calendar (-1: no date), ascending along a row (an array, read in place where its days are
    contiguous, or the rows of one table, :class:`~eventstudy.inference.row_positions.RowPositions`), numbered by
    ``renumber`` (:func:`renumbering`).
    ``valid`` (N, D) or None: a value is available only where it holds (and it is finite, with a date).
    ``out`` = (xv, pv, cnt, slots): row ``rows[r]`` is packed into row ``slots[r]`` of those arrays (returned); or
    (xv, pv, cnt, slots, lead, start, count), with each of ``rows``' ``lead`` (:func:`patterns`) and run of dates
    (:func:`runs_of_keys`): a row whose available values are ``count`` consecutive days from ``lead`` on the dates
    of a run from ``start`` is moved from them without a test a day (the same values, centred alike, and positions).
    """
    x = ArRows.of(x)
    n, d = len(rows), x.width
    if out is None:
        xv, pv, cnt = np.empty((n, d)), np.empty((n, d), dtype=np.int32), np.zeros(n, dtype=np.int64)
        out = (xv, pv, cnt, np.arange(n))
    xv, pv, cnt, slots = out[:4]
    lead, start, count = out[4:] if len(out) > 4 else (np.full(n, -1, np.int64),) * 3
    positions = RowPositions.of(positions)
    table, offset = positions.table, positions.offset
    args = (x.source(), valid, table, offset, renumber, rows, slots, xv, pv, cnt, lead, start, count)
    run_chunked(_compress_range, _compress_chunks, args, np.full(n, d))
    return xv, pv, cnt


def patterns(
    x: np.ndarray | ArRows,
    positions: np.ndarray | RowPositions,
    renumber: np.ndarray,
    rows: np.ndarray,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """(R,) code of the rows' available dates (the positions :func:`compress` would pack; the codes of
    :func:`~eventstudy.inference.rows.factorize_rows` of the packed positions, exact), (R,) the span of those
    positions (last - first; 0 for none), (R,) their keys and (R,) the ``lead``: the first day t whose value is
    available where those of days t, t + 1, ... are all the row has (else -1), read in place: no packed rows are built.

    A row whose dates are a run of consecutive positions (complete data) is keyed exactly by its first position and
    count (keys >= ``RUN``: :func:`runs_of_keys`); only the other rows are hashed (keys < ``RUN``) and checked
    against the first row of their hash. A row is first read in one branch-free pass (:func:`_available_days`: how
    many values are available, the first and last such day; a regenerated row finite on its days inside its block,
    :func:`~eventstudy.inference.ar_rows.finite_inside`, is not computed: only its mask and dates are read); when
    they are consecutive days whose positions step by one (:func:`_breaks` of the table: one subtraction), that is
    its run, else it is scanned day by day.
    """
    keys, span = np.empty(len(rows), dtype=np.uint64), np.zeros(len(rows), dtype=np.int64)
    lead = np.empty(len(rows), dtype=np.int64)
    x = ArRows.of(x)
    positions, src = RowPositions.of(positions), x.source()
    table, offset = positions.table, positions.offset
    known = finite_inside(x, rows)  # rows whose available days are known from the mask and the dates alone
    mask = _flat_rows(valid) if valid is not None else (np.ones(src[3], dtype=np.bool_), 0)  # row i: mask[i * step:]
    args = (src, valid, *mask, table, offset, renumber, _breaks(table, renumber), known, rows, keys, span, lead)
    run_chunked(_patterns_range, _patterns_chunks, args, np.full(len(rows), src[3]))
    codes, _ = factorize_hashed(
        keys, lambda codes, first: _differs(src, table, offset, renumber, rows, codes, first, keys, valid)
    )
    return codes, span, keys, lead


def runs_of_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R,) first position of each row's run of available dates, -1 where they are no run or none, and (R,) how
    many there are (0 where no run), from the :func:`patterns` keys."""
    run = keys >= RUN
    count = np.where(run, keys & np.uint64(0xFFFFFFFF), 0).astype(np.int64)
    start = np.where(run, (keys - RUN) >> np.uint64(32), 0).astype(np.int64)
    return np.where(count > 0, start, -1), count


@numba.njit(cache=True, nogil=True)
def _mark_known(table, offset, width, rows, known):  # pragma: no cover - compiled
    for i in rows:
        for t in range(width):
            if table[offset[i] + t] >= 0:
                known[table[offset[i] + t]] = True


@numba.njit(cache=True)
def _available(values, valid, table, offset, renumber, i, out):  # pragma: no cover - compiled
    """Row i's available positions (renumbered), packed into ``out`` (-1 past them); returns how many there are.
    ``values``: row i's values (read with :func:`~eventstudy.inference.ar_rows.ar_row`)."""
    k = 0
    for t in range(len(values)):
        pos = table[offset[i] + t]
        if pos >= 0 and np.isfinite(values[t]) and (valid is None or valid[i, t]):
            out[k] = renumber[pos]
            k += 1
    out[k:] = -1
    return k


@numba.njit(cache=True, nogil=True)
def _breaks(table, renumber):  # pragma: no cover - compiled
    """(T,) how many of the steps from ``table[j]`` to ``table[j + 1]``, j < t, are not from a date to the next
    (renumbered) date: positions t0 < t1 of one row step by one all the way where the counts at t0 and t1 are equal."""
    out = np.zeros(len(table), dtype=np.int64)
    for j in range(1, len(table)):
        a, b = table[j - 1], table[j]
        step = a >= 0 and b >= 0 and renumber[b] == renumber[a] + 1
        out[j] = out[j - 1] + (0 if step else 1)
    return out


@numba.njit(cache=True, nogil=True)
def _available_days(values, mask, table, lo, hi):  # pragma: no cover - compiled
    """(k, first, last): how many of a row's ``values`` on days lo <= t < hi are available (a date ``table[t] >= 0``,
    finite and ``mask[t]``: the row's days as contiguous views) and the first and last day t of them (len and -1 for
    none), in one pass without branches (it vectorises)."""
    width = len(values)
    k, day, final = 0, width, -1
    v, m, d = values[lo:hi], mask[lo:hi], table[lo:hi]
    for t in range(hi - lo):
        ok = (d[t] >= 0) & np.isfinite(v[t]) & m[t]
        k += ok
        day = min(day, t + lo if ok else width)
        final = max(final, t + lo if ok else -1)
    return k, day, final


@numba.njit(cache=True, nogil=True)
def _patterns_range(src, valid, mask, step, table, offset, renumber, breaks, known, rows, keys, span, lead, lo,
                    hi):  # pragma: no cover  # fmt: skip
    width = src[3]
    packed = np.empty(width, dtype=np.int32)
    values, finite = np.empty(width), np.zeros(width)
    for r in range(lo, hi):
        i = rows[r]
        days = (mask[i * step : i * step + width], table[offset[i] : offset[i] + width])
        if known[r]:  # finite on its days inside the block, NaN on the others: not computed
            k, day, final = _available_days(finite, *days, *inside_days(src, i))
        else:
            ar_row(src, i, values)
            k, day, final = _available_days(values, *days, 0, width)
        if k == 0 or final - day == k - 1 and breaks[offset[i] + final] == breaks[offset[i] + day]:
            first = renumber[table[offset[i] + day]] if k else 0  # consecutive days, consecutive dates (or none)
            span[r] = renumber[table[offset[i] + final]] - first if k else 0
            lead[r] = day if k else -1
            keys[r] = RUN + (np.uint64(first) << np.uint64(32)) + np.uint64(k)
            continue
        if known[r]:
            ar_row(src, i, values)
        k = 0
        first = 0
        last = -1
        day = 0
        final = -1
        run = True
        for t in range(width):
            pos = table[offset[i] + t]
            if pos >= 0 and np.isfinite(values[t]) and (valid is None or valid[i, t]):
                at = renumber[pos]
                first = at if k == 0 else first
                day = t if k == 0 else day
                run &= k == 0 or at == last + 1
                last = at
                final = t
                k += 1
        span[r] = last - first if k else 0
        lead[r] = day if k and final - day == k - 1 else -1
        if run:  # consecutive positions (or none): the first and the count say which
            keys[r] = RUN + (np.uint64(first) << np.uint64(32)) + np.uint64(k)
        else:
            _available(values, valid, table, offset, renumber, i, packed)
            keys[r] = hash_row(packed) >> np.uint64(1)


@numba.njit(parallel=True, cache=True, nogil=True)
def _patterns_chunks(src, valid, mask, step, table, offset, renumber, breaks, known, rows, keys, span, lead,
                     bounds):  # pragma: no cover  # fmt: skip
    for c in numba.prange(len(bounds) - 1):
        _patterns_range(src, valid, mask, step, table, offset, renumber, breaks, known, rows, keys, span, lead,
                        bounds[c], bounds[c + 1])  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _differs(src, table, offset, renumber, rows, codes, first, keys=None, valid=None):  # pragma: no cover - compiled
    """Whether each row's available positions differ from those of its code's first row (rows whose ``keys`` are
    exact, >= ``RUN``, are not compared)."""
    out = np.zeros(len(rows), dtype=np.bool_)
    width = src[3]
    a = np.empty(width, dtype=np.int32)
    b = np.empty(width, dtype=np.int32)
    values = np.empty(width)
    for r in range(len(rows)):
        f = first[codes[r]]
        if f != r and (keys is None or keys[r] < RUN):
            ar_row(src, rows[r], values)
            _available(values, valid, table, offset, renumber, rows[r], a)
            ar_row(src, rows[f], values)
            _available(values, valid, table, offset, renumber, rows[f], b)
            for t in range(len(a)):
                if a[t] != b[t]:
                    out[r] = True
                    break
    return out


@numba.njit(cache=True, nogil=True)
def packed_row(values, valid, table, offset, i, xv, renumber=None, pv=None):  # pragma: no cover - compiled
    """Row i's available ``values`` (finite, with a date and valid where ``valid`` is given), centred on their mean
    (the same correlations, better conditioned sums), into ``xv[:k]`` and their renumbered positions into ``pv[:k]``
    (not written where ``pv`` is None); returns k."""
    k = 0
    for t in range(len(values)):
        pos = table[offset[i] + t]
        if pos >= 0 and np.isfinite(values[t]) and (valid is None or valid[i, t]):
            xv[k] = values[t]
            if pv is not None:
                pv[k] = renumber[pos]
            k += 1
    centre(xv, k)
    return k


@numba.njit(cache=True, nogil=True)
def centre(xv, k):  # pragma: no cover - compiled
    """``xv[:k]`` less their mean (their sum taken in order)."""
    total = 0.0
    for t in range(k):
        total += xv[t]
    for t in range(k):
        xv[t] -= total / k


@numba.njit(cache=True, nogil=True)
def _compress_range(src, valid, table, offset, renumber, rows, slots, xv, pv, cnt, lead, start, count, lo,
                    hi):  # pragma: no cover  # fmt: skip
    d = src[3]
    values = np.empty(d)
    for s in range(lo, hi):
        i = rows[s]
        r = slots[s]
        ar_row(src, i, values)
        if lead[s] >= 0 and start[s] >= 0:  # consecutive days on consecutive dates: packed_row's values, moved
            k = count[s]
            for t in range(k):
                xv[r, t] = values[lead[s] + t]
                pv[r, t] = start[s] + t
            centre(xv[r], k)
        else:
            k = packed_row(values, valid, table, offset, i, xv[r], renumber, pv[r])
        xv[r, k:] = 0.0
        pv[r, k:] = -1
        cnt[r] = k


@numba.njit(parallel=True, cache=True, nogil=True)
def _compress_chunks(src, valid, table, offset, renumber, rows, slots, xv, pv, cnt, lead, start, count,
                     bounds):  # pragma: no cover  # fmt: skip
    for c in numba.prange(len(bounds) - 1):
        _compress_range(src, valid, table, offset, renumber, rows, slots, xv, pv, cnt, lead, start, count, bounds[c],
                        bounds[c + 1])  # fmt: skip
