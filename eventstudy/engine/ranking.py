"""Each row's sort order, the one ranking the rank tests need of every pair's estimation ARs and SARs.

A :class:`RankedRows` keeps a reference to the values (:class:`~eventstudy.inference.ar_rows.ArRows`: rows stored
or regenerated from the session grid, so that no (P, L) float array need exist), each row's count of valid values
and its sort order: the columns of its valid values in ascending order, then the others, as int16 (int32 for rows
longer than 32,767). The compiled kernels of the rank tests read a row into a buffer once (:func:`ranked_row`) and
its sorted values and average ranks through the order (:func:`column_ranks`, :func:`rank_rises`: equal values are
adjacent in it, so a tie is a run of equal values and its average rank is (first + last) / 2 + 1 of the run's
positions, exactly what ``scipy.stats.rankdata`` gives); at 100k pairs x 240 days the order takes 48 MB where the
sorted values and ranks as float would take 384 MB.

Sorting: each value becomes an unsigned 64-bit key that sorts like the float (the sign bit flipped for positive
values, every bit for negative ones; missing values the largest key), of which rows of up to 2^9 columns keep the
leading 32 bits (numpy sorts 32-bit keys 2.5x as fast: 0.19 against 0.51 us a row of 240); its lowest bits are
replaced by the column index (a block of rows read into a buffer, or read in place when they are a plain array not
divided, then its keys made), blocks of rows of keys are sorted with numpy's vectorised sort, and a final insertion
pass on the true values restores the order among values whose keys agreed above the index bits (values within a
relative 2^-44 of each other with 64-bit keys; 2^-12 with 32-bit keys of 240 columns: 0.8 a row of the benchmark's
estimation ARs, 7 at most). The arrangement is ascending in the true values, which is all the ranks depend on; values
that are equal keep the order of their columns either way, so the order itself does not depend on the keys' width.

Sharing: an order is reused for other values of the same shape (``like=``) in every row where it is a sort order
of them, checked value by value (e.g. the SARs of the estimation days, AR / sigma_i: dividing by a positive
constant never reverses two values, though it may merge two into a tie, which the kernels see on the values
themselves); any other row is sorted anew. When the values are the very rows ``like`` ranked, with the same mask,
divided by ``scale`` (the SARs of the ARs), two values a row decide: IEEE division by a finite positive number is
monotone (rounding is), so the order sorts the quotients unless one of them overflows to infinity (no longer
valid), and the quotients of the row's smallest and largest valid values show whether one does; a row whose divisor
is not finite and positive is checked value by value.

Scaled rows: the ranked values may be ``values / scale`` (``scale`` (P,) one divisor per row) without that (P, L)
quotient being stored: the estimation days' SARs are the ARs divided by sigma_i, and every kernel divides each row
as it reads it (:func:`ranked_row`: the same IEEE quotient, so the same numbers as a stored SAR array).

Reading: values that are one plain (P, L) array (a block of rows read into a buffer, as the rank walks rank them)
are read in place (:func:`read_row`, inlined in each kernel: the row copied, or its quotients); only other
:class:`~eventstudy.inference.ar_rows.ArRows` are read with a call per row, which costs more than ranking the row's
values when it passes the rows' 12-array tuple.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import ArRows, ar_row, ar_value
from eventstudy.inference.threads import chunk_bounds, run_chunked

BLOCK_VALUES = 1 << 17  # keys a thread sorts at a time (1 MB or less: they stay in its cache)
SHORT_KEY_INDEX_BITS = 9  # rows of up to 2**9 columns sort 32-bit keys (numpy's sort: 2.5x as fast as 64-bit ones)


@dataclass(frozen=True)
class RankedRows:
    """The values of (P, L) rows, each row's count of valid values and its sort order.

    Rank a study's estimation ARs (or SARs) once with :meth:`of` and pass the result for every window and group.
    """

    values: ArRows  # (P, L) rows stored or regenerated, not copied: only the entries the order lists first are valid
    order: np.ndarray  # (P, L) int16 or int32: columns of the row's ``count`` valid values ascending, then the rest
    count: np.ndarray  # (P,) int64
    scale: np.ndarray | None = None  # (P,): the ranked values are ``values / scale[:, None]`` (None: ``values``)
    valid: np.ndarray | None = None  # (P, L) the mask they were ranked with (None: every finite value)

    @classmethod
    def of(
        cls,
        x: np.ndarray | ArRows | RankedRows,
        valid: np.ndarray | None = None,
        like: RankedRows | None = None,
        scale: np.ndarray | None = None,
    ):
        """Sort the rows of ``x`` (P, L): an array or :class:`~eventstudy.inference.ar_rows.ArRows`, each row read
        once per pass into a buffer; non-finite values and those where ``valid`` (P, L) is False are missing.

        ``like``: the ranking of other values of the same shape whose order is reused for every row of ``x`` it
        sorts (its valid values first, ascending, and the same ones valid); the other rows are sorted anew.
        ``scale`` (P,): rank ``x / scale[:, None]`` instead, computed as it is read (see the module docstring).
        """
        if isinstance(x, RankedRows):
            return x
        rows = ArRows.of(x)
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != rows.shape:
                raise ValueError(f"valid {valid.shape} does not match the values {rows.shape}")
        divisor = np.empty(0) if scale is None else np.asarray(scale, dtype=float)
        read = (dense_of(rows), rows.source(), valid, divisor, scale is not None)  # how the kernels read them
        if like is not None and like.order.shape == rows.shape:
            shares = np.empty(len(rows), dtype=bool)
            quotients = scale is not None and like.scale is None and like.values is rows and _same(like.valid, valid)
            if quotients:  # the SARs of the ARs ``like`` ranked: two values a row
                _quotients_sorted(*read[:2], like.order, like.count, divisor, shares)
            if not quotients or not shares.all():  # (False where the two values do not decide)
                run_chunked(_shares_range, _shares_chunks, (*read, like.order, like.count, shares), _work(*rows.shape))
            if shares.all():
                return cls(rows, like.order, like.count, scale, valid)
            order, count = like.order.copy(), like.count.copy()
            _sort_rows(read, np.flatnonzero(~shares), order, count)
            return cls(rows, order, count, scale, valid)
        order = np.empty(rows.shape, dtype=np.int16 if rows.width <= np.iinfo(np.int16).max else np.int32)
        count = np.empty(len(rows), dtype=np.int64)
        _sort_rows(read, np.arange(len(rows)), order, count)
        return cls(rows, order, count, scale, valid)

    def source(self) -> tuple:
        """The arguments the compiled kernels read the ranked values with (:func:`read_row`)."""
        divisor = np.empty(0) if self.scale is None else np.asarray(self.scale, dtype=float)
        return dense_of(self.values), self.values.source(), divisor, self.scale is not None


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two masks are the same memory read the same way (``np.asarray`` gives a new view object each time)."""
    if a is None or b is None:
        return a is b
    return a.__array_interface__ == b.__array_interface__


def dense_of(rows: ArRows) -> np.ndarray:
    """The (P, L) C-ordered array whose rows ``rows`` are, read in place (:meth:`ArRows.of
    <eventstudy.inference.ar_rows.ArRows.of>` of an array), or an empty (0, L) array: rows read with a call each."""
    stored = rows.stored
    plain = rows.col0 == 0 and stored.shape == rows.shape and stored.flags.c_contiguous and stored.dtype == np.float64
    if plain and np.array_equal(rows.slot, np.arange(len(rows))):
        return stored
    return np.empty((0, rows.width))


def _work(n_rows: int, width: int) -> np.ndarray:
    return np.full(n_rows, max(width, 1))


def _sort_rows(read: tuple, rows: np.ndarray, order: np.ndarray, count: np.ndarray):
    """Sort the rows ``rows`` of the values ``read`` = (dense, source, valid, scale, scaled) into ``order`` and
    ``count``.

    The rows are cut into chunks of consecutive rows (:func:`~eventstudy.inference.threads.chunk_bounds`) that
    numba's number of threads take in turn; a thread takes the rows of ``BLOCK_VALUES`` values at a time (read
    into a buffer with :func:`read_row`, or in place where they are a plain array not divided), makes, sorts and
    reads back their keys, so that they stay in its cache. The compiled passes and numpy's sort release the GIL; each
    row is written by one thread only, so the result does not depend on the threads.
    """
    width = order.shape[1]
    if width == 0:
        count[rows] = 0
        return
    bits, dtype, drop = key_layout(width)
    step = max(BLOCK_VALUES // width, 1)

    def part(lo: int, hi: int) -> None:
        keys = np.empty((min(step, hi - lo), width), dtype=dtype)
        values = np.empty((len(keys), width))
        for start in range(lo, hi, step):
            block = rows[start : min(start + step, hi)]
            block_keys = keys[: len(block)]
            _keys_range(*read, block, bits, drop, values, block_keys, count)
            block_keys.sort(axis=1)  # numpy's vectorised sort of unsigned integers
            _order_range(read[0], read[4], values, block, bits, block_keys, count, order)

    bounds = chunk_bounds(_work(len(rows), width))
    if len(bounds) <= 2:
        part(0, len(rows))
        return
    with ThreadPoolExecutor(numba.get_num_threads()) as pool:
        list(pool.map(part, bounds[:-1].tolist(), bounds[1:].tolist()))


def key_layout(width: int) -> tuple[np.uint64, type, np.uint64]:
    """The sort keys of rows of ``width`` columns: ``(bits, dtype, drop)``, the column index in the low ``bits``
    (at least 1) of ``dtype`` keys, the value's 64-bit key shifted right by ``drop``: 32-bit keys (the value's
    leading 32 - bits bits) for rows of up to 2^``SHORT_KEY_INDEX_BITS`` columns, else 64-bit ones."""
    bits = max(int(width - 1).bit_length(), 1)
    if bits <= SHORT_KEY_INDEX_BITS:
        return np.uint64(bits), np.uint32, np.uint64(32)
    return np.uint64(bits), np.uint64, np.uint64(0)


@numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=True)  # x / 0: inf or NaN, as in numpy
def ranked_row(src, scale, scaled, i, out):  # pragma: no cover - compiled
    """Row ``i`` of the ranked values into ``out[:L]``: the row of ``src``
    (:func:`~eventstudy.inference.ar_rows.ar_row`), divided by ``scale[i]`` if ``scaled``. Compiled with reference
    counts (``_nrt=True``, set: callers compiled without them, :func:`read_row_called`, would pass that on to it and
    to :func:`~eventstudy.inference.ar_rows.ar_row`, whose slice copy needs them)."""
    ar_row(src, i, out)
    if scaled:
        for t in range(src[3]):
            out[t] = out[t] / scale[i]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def read_row(dense, src, scale, scaled, i, out):  # pragma: no cover - compiled
    """Row ``i`` of the ranked values into ``out``: ``dense[i]`` (divided by ``scale[i]`` if ``scaled``), or
    :func:`ranked_row` of ``src`` where ``dense`` is empty. Inlined in the kernels (numba IR), so that a row of a
    plain array costs no call (copied: the kernels then read the row's values in sort order from the cache)."""
    if len(dense) == 0:
        ranked_row(src, scale, scaled, i, out)
    elif scaled:
        s = scale[i]
        for t in range(dense.shape[1]):
            out[t] = dense[i, t] / s
    else:
        for t in range(dense.shape[1]):
            out[t] = dense[i, t]


@numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def read_row_called(dense, src, scale, scaled, i, out):  # pragma: no cover - compiled
    """:func:`read_row` as a call that counts no references (``_nrt=False``: inlined, the 12 arrays of ``src``
    would be counted, atomically, at every row): for kernels that read a row once per pair among other work."""
    read_row(dense, src, scale, scaled, i, out)


@numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _keys_range(dense, src, valid, scale, scaled, rows, bits, drop, values, keys, count):  # pragma: no cover - compiled
    """Each row's keys: the float's bits made to sort as unsigned integers, shifted right by ``drop`` (0, or 32 for
    32-bit ``keys``: its leading bits, which sort as the value does, not strictly), the low ``bits`` the column index;
    its values read in place (a row of ``dense``, not ``scaled``) or into ``values``. No references counted
    (``_nrt=False``): an array made per row would count them atomically."""
    index = (np.uint64(1) << bits) - np.uint64(1)
    sign = np.uint64(1) << np.uint64(63)
    exponent = np.uint64(0x7FF0000000000000)
    for b in range(len(rows)):
        i = rows[b]
        if len(dense) == 0 or scaled:
            read_row(dense, src, scale, scaled, i, values[b])
        x = values[b] if len(dense) == 0 or scaled else dense[i]  # (a view: no reference counted)
        n = 0
        for c in range(keys.shape[1]):
            u = np.float64(x[c]).view(np.uint64)
            use = (u & exponent) != exponent  # finite
            if valid is not None:
                use &= valid[i, c]
            flip = (np.uint64(0) - (u >> np.uint64(63))) | sign  # negative: every bit; positive: the sign bit
            keys[b, c] = ((((u ^ flip) if use else ~np.uint64(0)) >> drop) & ~index) | np.uint64(c)
            n += use
        count[i] = n


@numba.njit(cache=True, nogil=True, _nrt=False)
def _order_range(dense, scaled, values, rows, bits, keys, count, order):  # pragma: no cover - compiled
    """Each row's columns from its sorted keys, the valid ones then put in ascending order of their values (a row
    of ``dense`` in place, or of ``values``) by insertion (only values whose keys agreed above the index bits can be
    out of order: a value not below the largest so far, the usual case, stays where it is). No references counted."""
    index = (np.uint64(1) << bits) - np.uint64(1)
    for b in range(len(rows)):
        i = rows[b]
        x, key, out = values[b] if len(dense) == 0 or scaled else dense[i], keys[b], order[i]
        largest = -np.inf
        for k in range(count[i]):
            c = key[k] & index
            v = x[c]
            if v >= largest:
                out[k] = c
                largest = v
                continue
            j = k
            while j > 0 and x[out[j - 1]] > v:
                out[j] = out[j - 1]
                j -= 1
            out[j] = c
        for k in range(count[i], len(key)):
            out[k] = key[k] & index


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _shares_range(dense, src, valid, scale, scaled, order, count, out, lo, hi):  # pragma: no cover - compiled
    """Whether each row's ``order`` sorts the ranked values (:func:`read_row`): its first ``count`` columns hold the
    row's valid values, ascending."""
    x = np.empty(order.shape[1])
    for i in range(lo, hi):
        read_row(dense, src, scale, scaled, i, x)
        ok = True
        previous = -np.inf
        for k in range(len(x)):
            c = order[i, k]
            v = x[c]
            here = np.isfinite(v) and (valid is None or valid[i, c])
            if k < count[i]:
                ok = here and v >= previous
                previous = v
            else:
                ok = not here
            if not ok:
                break
        out[i] = ok


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _quotients_sorted(dense, src, order, count, scale, out):  # pragma: no cover - compiled
    """Whether each row's ``order`` (the sort order of the rows: ``dense``'s, or ``src``'s where it is empty) sorts
    them divided by ``scale``, decided by its smallest and largest valid values: True where it does, False where the
    two do not show it (a divisor not finite and positive: to be checked value by value, as is a row with an
    infinite quotient, which does not)."""
    for i in range(len(count)):
        m = count[i]
        s = scale[i]
        if m == 0:  # non-finite values stay non-finite: still none valid
            out[i] = True
        elif s > 0.0 and s < np.inf:
            first, last = order[i, 0], order[i, m - 1]
            if len(dense):
                smallest, largest = dense[i, first], dense[i, last]
            else:
                smallest, largest = ar_value(src, i, first), ar_value(src, i, last)
            out[i] = np.isfinite(smallest / s) and np.isfinite(largest / s)
        else:
            out[i] = False


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _shares_chunks(dense, src, valid, scale, scaled, order, count, out, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _shares_range(dense, src, valid, scale, scaled, order, count, out, bounds[c], bounds[c + 1])


@numba.njit(cache=True, nogil=True, _nrt=False)
def bounds(x, order, i, m, values, n, lo, hi):  # pragma: no cover - compiled
    """For each of the ``n`` values ``values[j]`` (none NaN), the numbers of a row's ``m`` sorted values below it,
    ``lo[j]``, and up to it, ``hi[j]`` (``x`` the row's values, ``order[i]`` its sort order, read in place: a view
    would count references): binary searches without branches on the values (a fixed number of halvings), taken
    together a halving at a time (independent loads that the processor overlaps: one search's time, not n), then
    each value's run of equal row values."""
    for j in range(n):
        lo[j] = 0
    size = m
    while size > 1:  # the number below values[j] lies in [lo[j], lo[j] + size]
        half = size // 2
        for j in range(n):
            probe = lo[j] + half
            lo[j] = probe if x[order[i, probe]] < values[j] else lo[j]
        size -= half
    for j in range(n):
        if m > 0:
            lo[j] += x[order[i, lo[j]]] < values[j]
        up = lo[j]
        while up < m and x[order[i, up]] == values[j]:
            up += 1
        hi[j] = up


@numba.njit(cache=True, nogil=True, _nrt=False)
def column_ranks(x, order, i, m, rank):  # pragma: no cover - compiled
    """A row's average rank in each column (1 = smallest; a run of equal values shares the mean of its positions, as
    ``scipy.stats.rankdata`` gives it) into ``rank``, read through its sort order ``order[i]`` (``x`` the row's
    values) in one pass; 0 for its missing values."""
    rank_rises(x, order, i, m, rank, None, 0, None, None, 0, None, None, None)


@numba.njit(cache=True, nogil=True, _nrt=False)
def rank_rises(x, order, i, m, rank, values, n, places, one, word, lo, hi, rise, q=None):  # pragma: no cover - compiled
    """:func:`column_ranks` of a row and, in the same pass, where the ascending values ``values[:n]`` (none NaN) of
    other days fall among its ``m`` sorted values: ``lo[places[j]]`` and ``hi[places[j]]`` the numbers of the row's
    values below ``values[j]`` and up to it, and ``rise[word, c]`` the sum of ``one[word, places[j]]`` over the
    values below the row's value in column c plus those up to it (for a single day: twice its rise in rank when that
    day joins the row's sample; ``one`` may pack several samples' 1s in bit fields). Missing columns' ``rise`` is
    left as it is. ``values`` None (and the others): the ranks alone (numba compiles that case without the merge).
    Arrays are read with indices, never as views (a view counts references atomically: more than a pass's work).

    ``q``: other values of the row that ``order[i]`` sorts too, with the same ``m`` valid (the SARs of ARs ``x``).
    Returns whether no two unequal values of ``x`` have equal ``q`` (q's ties are x's, so its average ranks are
    the same: ``rank``); True without ``q``."""
    total = np.int64(0)
    below = 0  # values[:below] are < the current row value (lo found) ...
    upto = 0  # ... and values[:upto] <= it (hi found)
    next_below = np.inf if values is None or n == 0 else values[0]
    next_upto = next_below
    a = 0  # the current run of equal values starts at sorted position a
    previous = x[order[i, 0]] if m > 0 else np.nan
    apart = True
    previous_q = np.nan
    if q is not None:
        if m > 0:
            previous_q = q[order[i, 0]]
    for k in range(m):
        c = np.uint64(order[i, k])  # (unsigned: no check for a negative index)
        v = x[c]
        if v != previous:
            if k - a > 1:  # (a call only for a tie: one per value would cost more than the pass)
                _tie_ranks(order, i, a, k, rank)
            a = k
            previous = v
            if q is not None:  # (q ascending too: a tie of q not of x is two neighbours)
                apart &= q[c] != previous_q
                previous_q = q[c]
        rank[c] = k + 1.0
        if values is not None:
            while next_below <= v:  # first row value >= values[below]: k below it
                lo[places[below]] = k
                total += one[word, places[below]]
                below += 1
                next_below = values[below] if below < n else np.inf
            while next_upto < v:  # first row value > values[upto]: k up to it
                hi[places[upto]] = k
                total += one[word, places[upto]]
                upto += 1
                next_upto = values[upto] if upto < n else np.inf
            rise[word, c] = total
    if m - a > 1:
        _tie_ranks(order, i, a, m, rank)
    if values is not None:
        for j in range(below, n):
            lo[places[j]] = m
        for j in range(upto, n):
            hi[places[j]] = m
    for t in range(m, order.shape[1]):
        rank[order[i, t]] = 0.0
    return apart


@numba.njit(cache=True, nogil=True, _nrt=False)
def _tie_ranks(order, i, a, k, rank):  # pragma: no cover - compiled
    """The run of equal values at sorted positions [a, k) of row ``i``: each its mean position + 1."""
    r = a + (k - a + 1) / 2.0
    for t in range(a, k):
        rank[order[i, t]] = r
