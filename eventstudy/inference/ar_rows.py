"""Rows of abnormal returns that are stored only where they must be: the others are regenerated from the session grid.

A market-model pair's abnormal return on panel day t is AR_it = R_it - (alpha_i + R_mt beta_i): its return and the
market's are in the study's ticker-major session grid (:mod:`eventstudy.engine.grid`), alpha_i and beta_i in the
pair stage's parameters. So the (P, L1) estimation-window ARs of a study, its largest array (1M pairs x 240 days:
1.9 GB), need not be held: an :class:`ArRows` recomputes row i from 2 + 2 numbers and the grid, with the same
floating-point operations in the same order as the fit's residual pass (``y - ((0.0 + alpha) + x * beta)``), so every
value is the same to the bit. Rows that cannot be regenerated that way (another model, a fallback, returns that
span several sessions, anything whose stored value the regeneration does not reproduce bit for bit: the pair stage
checks each row) are stored, and rows of pairs not studied are NaN.

Compiled kernels take :meth:`ArRows.source` (a tuple of arrays) and read a value with :func:`ar_value` or a row with
:func:`ar_row`; a plain (P, L) array is an :class:`ArRows` whose rows are all stored (:meth:`ArRows.of`, read in
place, no copy), so the kernels have one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.threads import chunk_bounds, run_chunked

NAN_ROW = -1  # ``slot`` of a pair not studied: every value NaN
MARKET_ROW = -2  # ``slot`` of a row regenerated from the grid: R_it - ((0.0 + alpha_i) + R_mt beta_i)


def _no_int() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _no_float() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class ArRows:
    """(P, L) abnormal returns: row i is ``stored[slot[i], col0 : col0 + L]`` (slot >= 0), NaN (``NAN_ROW``) or
    regenerated (``MARKET_ROW``): day t is session ``start[i] + t`` of ticker column ``column[i]`` inside the block
    [``lo[i]``, ``hi[i]``) of the grid's ``returns`` (T, S) and ``market`` (S,), NaN outside it."""

    stored: np.ndarray  # (S, Ls) float64: the stored rows
    slot: np.ndarray  # (P,) int64
    col0: int  # first column of these rows' days in ``stored``
    width: int  # L
    returns: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (T, S) ticker-major returns of the grid
    market: np.ndarray = field(default_factory=_no_float)  # (S,) the market's one-session returns
    start: np.ndarray = field(default_factory=_no_int)  # (P,) int64 session of each row's first day
    column: np.ndarray = field(default_factory=_no_int)  # (P,) int64
    lo: np.ndarray = field(default_factory=_no_int)  # (P,) int64
    hi: np.ndarray = field(default_factory=_no_int)  # (P,) int64
    alpha: np.ndarray = field(default_factory=_no_float)  # (P,) float64
    beta: np.ndarray = field(default_factory=_no_float)  # (P,) float64

    @classmethod
    def of(cls, values: np.ndarray | ArRows) -> ArRows:
        """A (P, L) float array as rows that are all stored (read in place)."""
        if isinstance(values, ArRows):
            return values
        values = np.asarray(values, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"abnormal returns must be (pairs, days), got {values.ndim} dimensions")
        return cls(values, np.arange(len(values), dtype=np.int64), 0, values.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.slot), self.width

    def __len__(self) -> int:
        return len(self.slot)

    @property
    def regenerated(self) -> int:
        """How many rows are regenerated rather than stored."""
        return int((self.slot == MARKET_ROW).sum())

    def source(self) -> tuple:
        """The tuple compiled kernels read with :func:`ar_value` and :func:`ar_row`."""
        return (
            self.stored,
            self.slot,
            np.int64(self.col0),
            np.int64(self.width),
            self.returns,
            self.market,
            self.start,
            self.column,
            self.lo,
            self.hi,
            self.alpha,
            self.beta,
        )

    def window(self, first: int, stop: int) -> ArRows:
        """Days [``first``, ``stop``) of every row (no copy)."""
        if not 0 <= first <= stop <= self.width:
            raise ValueError(f"days [{first}, {stop}) are outside rows of {self.width} days")
        regen = len(self.start) > 0
        return ArRows(
            self.stored,
            self.slot,
            self.col0 + first,
            stop - first,
            self.returns,
            self.market,
            self.start + first if regen else self.start,
            self.column,
            self.lo,
            self.hi,
            self.alpha,
            self.beta,
        )

    def take(self, rows: np.ndarray | slice) -> np.ndarray:
        """The rows ``rows`` (indices, a mask or a slice) as a fresh (n, L) array."""
        if isinstance(rows, slice):  # the slice's own indices: no index array of every row
            index = np.arange(*rows.indices(len(self.slot)), dtype=np.int64)
        else:
            index = np.arange(len(self.slot), dtype=np.int64)[rows]
        out = np.empty((len(index), self.width))
        run_chunked(_take, _take_chunks, (self.source(), index, out), np.full(len(index), max(self.width, 1)))
        return out

    def dense(self) -> np.ndarray:
        """Every row, as a (P, L) array."""
        return self.take(slice(None))


def market_rows(
    stored: np.ndarray,
    slot: np.ndarray,
    width: int,
    returns: np.ndarray,
    market: np.ndarray,
    start: np.ndarray,
    column: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    params: np.ndarray,
) -> ArRows:
    """:class:`ArRows` of ``width`` days whose ``MARKET_ROW`` rows are regenerated with ``params`` (P, 2) = (alpha,
    beta) from the grid; ``start`` the session of each row's first day (any value where the row is not regenerated)."""
    as_int = [np.ascontiguousarray(a, dtype=np.int64) for a in (slot, start, column, lo, hi)]
    alpha, beta = (np.ascontiguousarray(params[:, j], dtype=float) for j in (0, 1))
    return ArRows(stored, as_int[0], 0, width, returns, market, *as_int[1:], alpha, beta)


def matching_rows(rows: ArRows | np.ndarray, values: np.ndarray) -> np.ndarray:
    """(P,) bool: whether each row of ``rows`` (a (P, L) array or :class:`ArRows`) is ``values``'s (P, L) row bit for
    bit (any NaN matching any NaN)."""
    dense = None if isinstance(rows, ArRows) else np.asarray(rows, dtype=float)  # read in place, no ar_row
    rows = ArRows.of(rows)
    same = np.empty(len(rows), dtype=bool)
    bounds = chunk_bounds(np.full(len(rows), max(rows.width, 1)))
    values = np.asarray(values, dtype=float)
    _match_chunks(dense, rows.source(), values, *_flat_rows(values), same, bounds)
    return same


def matching_normals(rows: ArRows, values: np.ndarray) -> np.ndarray:
    """(P,) bool: whether each regenerated (``MARKET_ROW``) row's market-model normal returns, (0.0 + alpha) + R_m
    beta on its days inside its grid block and NaN outside (what
    :meth:`~eventstudy.engine.grid.SessionGrid.market_normals` computes), are ``values``'s (P, L) row bit for bit
    (any NaN matching any NaN); False for the other rows. Each row's values are computed as they are compared (one
    pass a row, no (P, L) array of them)."""
    same = np.zeros(len(rows), dtype=bool)
    values = np.asarray(values, dtype=float)
    if values.shape != rows.shape:
        raise ValueError(f"values {values.shape} do not match the rows {rows.shape}")
    _normals_chunks(rows.source(), *_flat_rows(values), same, chunk_bounds(np.full(len(rows), max(rows.width, 1))))
    return same


@numba.njit(cache=True, parallel=True)
def _normals_chunks(src, flat, step, same, bounds):  # pragma: no cover - compiled
    width = src[WIDTH]
    for c in numba.prange(len(bounds) - 1):
        for i in range(bounds[c], bounds[c + 1]):
            if src[SLOT][i] == MARKET_ROW:
                same[i] = _normals_match(src, i, flat[i * step : i * step + width])


@numba.njit(cache=True, nogil=True, _nrt=False)  # (no reference counting: see ar_row)
def _normals_match(src, i, values):  # pragma: no cover - compiled
    """Whether the regenerated row ``i``'s normal returns are ``values`` bit for bit: every day's two values equal
    with the same sign (zeros), or both NaN; counted without a branch or an early exit, so the loop vectorises."""
    width = src[WIDTH]
    inside_lo, inside_hi, _, x, a, b = _regenerated_days(src, i)
    v = values[inside_lo:inside_hi]
    differ = 0
    for t in range(len(v)):
        r = a + x[t] * b  # (0.0 + alpha) + R_m beta: market_normals' operations, in its order
        same = (r == v[t]) & (math.copysign(1.0, r) == math.copysign(1.0, v[t]))
        differ += not (same | ((r != r) & (v[t] != v[t])))
    for t in range(inside_lo):  # days outside the block are NaN
        differ += values[t] == values[t]
    for t in range(inside_hi, width):
        differ += values[t] == values[t]
    return differ == 0


def finite_inside(rows: ArRows, index: np.ndarray) -> np.ndarray:
    """(R,) bool: whether each row ``index[r]`` is regenerated (``MARKET_ROW``) with every value finite on its days
    inside its grid block (:func:`inside_days`; the others are NaN), known without computing it: the stock's and the
    market's returns are finite on those sessions and |R| + |alpha| + |R_m| |beta| (the largest finite |R| and |R_m|
    of the grid) is below 1e300, so that R - ((0.0 + alpha) + R_m beta) cannot overflow. False: not known so."""
    index = np.asarray(index, dtype=np.int64)
    out = np.zeros(len(index), dtype=bool)
    if not len(rows.start) or not (rows.slot[index] == MARKET_ROW).any():
        return out
    grid = (rows.returns, rows.market)
    missing = [np.flatnonzero(~np.isfinite(values)) for values in grid]
    _finite_inside(rows.source(), index, *missing, *(_largest(values) for values in grid), out)
    return out


def _largest(values: np.ndarray) -> float:
    """The largest finite |value| (0.0 for none)."""
    top = max(np.fmax.reduce(values, axis=None, initial=0.0), -np.fmin.reduce(values, axis=None, initial=0.0))
    return float(top if np.isfinite(top) else np.abs(values[np.isfinite(values)]).max(initial=0.0))


@numba.njit(cache=True, nogil=True)
def _finite_inside(src, index, missing, missing_market, big, big_market, out):  # pragma: no cover - compiled
    """:func:`finite_inside`; ``missing`` (sorted flat indices of the grid's non-finite returns) and
    ``missing_market`` (sessions of the market's)."""
    sessions = src[RETURNS].shape[1]
    for r in range(len(index)):
        i = index[r]
        if src[SLOT][i] != MARKET_ROW:
            continue
        inside_lo, inside_hi = inside_days(src, i)
        first, last = src[START][i] + inside_lo, src[START][i] + inside_hi  # sessions [first, last)
        at = src[COLUMN][i] * sessions
        gaps = np.searchsorted(missing, at + last) - np.searchsorted(missing, at + first)
        gaps += np.searchsorted(missing_market, last) - np.searchsorted(missing_market, first)
        bound = big + abs(src[ALPHA][i]) + big_market * abs(src[BETA][i])
        out[r] = gaps == 0 and bound < 1e300  # False for a NaN or infinite bound


def _flat_rows(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``(flat, step)``: ``values`` (P, L) as one contiguous run of memory, row i at ``flat[i * step :]`` (a view
    from its first value to its last when its days are contiguous, e.g. the first days of a wider array; else a
    copy): compiled loops over a row then know it is contiguous and vectorise."""
    n, width = values.shape
    if values.strides[1] != values.itemsize or values.strides[0] < 0 or values.strides[0] % values.itemsize:
        values = np.ascontiguousarray(values)
    step = values.strides[0] // values.itemsize
    length = (n - 1) * step + width if n and width else 0
    return np.lib.stride_tricks.as_strided(values, shape=(length,), strides=(values.itemsize,), writeable=False), step


# positions in :meth:`ArRows.source`. :func:`ar_value` indexes the tuple where it uses an array and binds none of them
# to a name: then it is small enough to be inlined into its callers (3 ns a value instead of about 90)
STORED, SLOT, COL0, WIDTH, RETURNS, MARKET, START, COLUMN, LO, HI, ALPHA, BETA = range(12)


@numba.njit(cache=True, nogil=True)
def ar_value(src, i, t):  # pragma: no cover - compiled
    """Row ``i``'s value on day ``t`` (see :class:`ArRows`)."""
    s = src[SLOT][i]
    if s >= 0:
        return src[STORED][s, src[COL0] + t]
    if s == NAN_ROW:
        return np.nan
    at = src[START][i] + t
    if at < src[LO][i] or at >= src[HI][i]:
        y, x = np.nan, np.nan
    else:
        y, x = src[RETURNS][src[COLUMN][i], at], src[MARKET][at]
    return y - ((0.0 + src[ALPHA][i]) + x * src[BETA][i])


@numba.njit(cache=True, nogil=True, inline="always")
def inside_days(src, i):  # pragma: no cover - compiled
    """The first and end of the regenerated row ``i``'s days inside its grid block ([inside_lo, inside_hi) of its
    width; the others regenerate as NaN)."""
    width, first = src[WIDTH], src[START][i]
    inside_lo = min(max(src[LO][i] - first, 0), width)
    return inside_lo, max(min(src[HI][i] - first, width), inside_lo)


@numba.njit(cache=True, nogil=True, inline="always")
def _regenerated_days(src, i):  # pragma: no cover - compiled
    """What the regenerated row ``i`` is computed from: the first and end of its days inside its grid block
    (:func:`inside_days`), the stock's and the market's returns on them as views of one length (no wrap-around index
    checks: the loops over them vectorise), and (0.0 + alpha, beta)."""
    width, returns, market, start, column, lo, hi, alpha, beta = src[WIDTH:]
    first = start[i]
    inside_lo, inside_hi = inside_days(src, i)
    y = returns[column[i], first + inside_lo : first + inside_hi]
    x = market[first + inside_lo : first + inside_hi]
    return inside_lo, inside_hi, y, x, 0.0 + alpha[i], beta[i]


@numba.njit(cache=True, nogil=True, _nrt=False)
def ar_row(src, i, out):  # pragma: no cover - compiled
    """Row ``i`` into ``out[:L]`` (a regenerated row in one vectorised pass over its days inside the grid block).
    Compiled without reference counting: numba would count the references to each of ``src``'s arrays and to every
    view at each call, with atomic instructions (a regenerated row 190 -> 126 ns without them), so the stored row is
    copied by a loop over views, not a slice assignment (which may allocate a copy of its source)."""
    stored, slot, col0, width = src[STORED], src[SLOT], src[COL0], src[WIDTH]
    s = slot[i]
    if s >= 0:
        row, into = stored[s, col0 : col0 + width], out[:width]
        for t in range(width):
            into[t] = row[t]
        return
    if s == NAN_ROW:
        out[:width] = np.nan
        return
    inside_lo, inside_hi, y, x, a, b = _regenerated_days(src, i)
    inside = out[inside_lo:inside_hi]
    out[:inside_lo] = np.nan
    for t in range(len(inside)):
        inside[t] = y[t] - (a + x[t] * b)
    out[inside_hi:width] = np.nan


@numba.njit(cache=True, nogil=True, inline="always")
def read_ar_row(dense, src, i, out):  # pragma: no cover - compiled
    """Row ``i`` into ``out``: ``dense[i]`` where ``dense`` is the rows as one plain (P, L) array, else (``dense``
    None) :func:`ar_row` of ``src``. Inlined (numba IR: a copy, no arithmetic), and numba compiles a kernel once per
    type of ``dense``, leaving out the branch not taken: with an array, no call of :func:`ar_row`, whose mere
    presence in a loop costs about 100 ns a row (a few ns instead)."""
    if dense is not None:
        for t in range(dense.shape[1]):
            out[t] = dense[i, t]
    else:
        ar_row(src, i, out)


@numba.njit(cache=True, nogil=True, _nrt=False)  # (a view a row, its references not counted: see ar_row)
def _take(src, index, out, first, stop):  # pragma: no cover - compiled
    for r in range(first, stop):
        ar_row(src, index[r], out[r])


@numba.njit(cache=True, parallel=True)
def _take_chunks(src, index, out, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _take(src, index, out, bounds[c], bounds[c + 1])


@numba.njit(cache=True, nogil=True, _nrt=False)  # (no reference counting: see ar_row)
def _plainly_matches(src, i, values):  # pragma: no cover - compiled
    """A sufficient test that the regenerated (``MARKET_ROW``) row ``i`` is ``values`` bit for bit, with
    :func:`ar_row`'s values compared as they are computed (no row written): every day's two values are equal and
    not zero (then their bits are too), or both NaN. Counts, no branch and no early exit, so the loop vectorises;
    a row with a zero or a difference fails it and is checked exactly by the caller."""
    width = src[WIDTH]
    inside_lo, inside_hi, y, x, a, b = _regenerated_days(src, i)
    v = values[inside_lo:inside_hi]
    unequal, both_nan = 0, 0  # every day counts in both or in neither when the test holds
    for t in range(len(v)):
        r = y[t] - (a + x[t] * b)
        unequal += (r != v[t]) | (r == 0.0)
        both_nan += (r != r) & (v[t] != v[t])
    for t in range(inside_lo):  # days outside the block regenerate as NaN
        unequal += values[t] == values[t]
    for t in range(inside_hi, width):
        unequal += values[t] == values[t]
    return unequal == both_nan


@numba.njit(cache=True, parallel=True)
def _match_chunks(dense, src, values, flat, step, same, bounds):  # pragma: no cover - compiled
    width = src[3]
    for c in numba.prange(len(bounds) - 1):
        row = np.empty(width)
        for i in range(bounds[c], bounds[c + 1]):
            row_values = flat[i * step : i * step + width]  # values[i], known contiguous
            if dense is None and src[SLOT][i] == MARKET_ROW and _plainly_matches(src, i, row_values):
                same[i] = True
                continue
            read_ar_row(dense, src, i, row)
            ok = True
            for t in range(width):
                a, b = row[t], values[i, t]
                if a != b and not (np.isnan(a) and np.isnan(b)) or a == 0.0 and np.signbit(a) != np.signbit(b):
                    ok = False
                    break
            same[i] = ok
