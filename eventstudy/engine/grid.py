"""The session grid: the (sessions x tickers) matrices a study's pairs are gathered from, and each pair's place in them.

The sessions of every venue the study uses are laid end to end (one block per venue); the returns, the sessions
each return spans and the regressors' one-session returns are matrices on those sessions. A pair is three numbers,
its *cell* ``(start, column, block)``: the position of its first panel day in the sessions, its ticker's column
and its venue's block. Day ``j`` of the pair's panel is session ``start + j`` when that lies inside the block, and
has no session (NaT, no return, span 0) otherwise. The ticker matrices are stored ticker-major (T, S), so a
pair's days are one contiguous run of memory. Every (pairs x days) array of the pair stage that is a gather
from these matrices (returns, spans, dates, regressors) is rebuilt from the cells on demand instead of stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numba.extending
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import ArRows, market_rows
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.threads import chunk_bounds

CELL_START, CELL_COLUMN, CELL_BLOCK = 0, 1, 2


@dataclass(frozen=True)
class SessionGrid:
    """Matrices on the sessions of the study's venues (block after block); see the module docstring."""

    sessions: np.ndarray  # (S,) datetime64[ns], each venue's sessions in order, venue after venue
    blocks: tuple[tuple[str, int, int], ...]  # (venue, first session, end) of each venue's block
    tickers: tuple[str, ...]  # (T,) the columns
    returns: np.ndarray  # (T, S) trade-to-trade returns (NaN off the ticker's venue or without a price)
    span: np.ndarray  # (T, S) int16 sessions each return spans (0 = no return)
    regressors: np.ndarray  # (m, S) one-session returns of the venue's regressors (market first, then factors)

    def block_bounds(self, cells: np.ndarray) -> np.ndarray:
        """(P, 2) int64: the first and end session of each pair's venue block (``take`` of the blocks' rows: a sixth
        of fancy indexing's time for 1,000,000 pairs)."""
        table = np.array([(lo, hi) for _, lo, hi in self.blocks], dtype=np.int64).reshape(-1, 2)
        return table.take(cells[:, CELL_BLOCK], axis=0)

    def market_rows(
        self, cells: np.ndarray, params: np.ndarray, slot: np.ndarray, stored: np.ndarray, width: int
    ) -> ArRows:
        """The ``width`` first panel days' abnormal returns of the pairs ``cells`` as :class:`ArRows`: the rows
        ``slot`` marks ``MARKET_ROW`` regenerated from the returns and the market (regressor 0) with ``params``
        (P, 2) = (alpha, beta), the others ``stored`` rows or NaN."""
        bounds = self.block_bounds(cells)
        at, column = cells[:, CELL_START], cells[:, CELL_COLUMN]
        return market_rows(stored, slot, width, self.returns, self.regressors[0], at, column, *bounds.T, params)

    def market_normals(
        self, cells: np.ndarray, params: np.ndarray, width: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """(P, ``width``) the first panel days' market-model normal returns (0.0 + alpha) + R_m beta of the pairs
        ``cells`` with ``params`` (P, 2), NaN outside the calendar: the IEEE operations of the fit's, in its order
        (computed in the gathered market returns' array, or written to ``out``: no other temporary)."""
        market = self.take(self.regressors, in_column(cells, 0), np.arange(width), np.nan)
        np.multiply(market, params[:, 1:2], out=market)
        return np.add(0.0 + params[:, :1], market, out=market if out is None else out)

    def positions(self, cells: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, C) session positions of the panel days ``days`` (indices into the panel's days: (C,) for every pair
        or (P, C)) and where they exist."""
        bounds = self.block_bounds(cells)
        days = np.asarray(days, dtype=np.int64)
        at = cells[:, CELL_START].astype(np.int64)[:, None] + (days[None, :] if days.ndim == 1 else days)
        inside = (at >= bounds[:, :1]) & (at < bounds[:, 1:])
        return np.where(inside, at, 0), inside

    def take(self, matrix: np.ndarray, cells: np.ndarray, days: np.ndarray, fill, dtype=None) -> np.ndarray:
        """(P, C) values of ``matrix`` (T, S) at each pair's column and sessions, ``fill`` where there is none.

        ``days`` (C,) are consecutive panel days (one compiled pass, no per-day index arrays); ``dtype`` of the
        result (default the matrix's).
        """
        days = np.asarray(days, dtype=np.int64)
        if len(days) > 1 and not (np.diff(days) == 1).all():
            raise ValueError("SessionGrid.take needs consecutive days")
        bounds = self.block_bounds(cells)
        out = np.empty((len(cells), len(days)), dtype=dtype or matrix.dtype)
        first = cells[:, CELL_START] + (days[0] if len(days) else 0)
        fill = out.dtype.type(fill)
        chunks = chunk_bounds(np.full(len(cells), len(days)))  # one chunk for a small job: a single pass
        _take_chunks(matrix, first, cells[:, CELL_COLUMN], bounds[:, 0], bounds[:, 1], fill, out, chunks)
        return out

    def count(self, matrix: np.ndarray, cells: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(P,) int64: how many of each pair's consecutive panel days ``days`` hold True in ``matrix`` (T, S) bool
        (days without a session count as False): ``take(matrix, cells, days, False).sum(axis=1)`` from the
        matrix's running counts, without gathering."""
        if not matrix.any():  # nothing to count (e.g. nothing blocked)
            return np.zeros(len(cells), dtype=np.int64)
        running = np.zeros((matrix.shape[0], matrix.shape[1] + 1), dtype=np.int32)
        np.cumsum(matrix, axis=1, out=running[:, 1:])
        bounds = self.block_bounds(cells)
        start = cells[:, CELL_START]
        lo = np.clip(start + days[0], bounds[:, 0], bounds[:, 1])
        hi = np.clip(start + days[-1] + 1, bounds[:, 0], bounds[:, 1])
        at = cells[:, CELL_COLUMN].astype(np.int64) * running.shape[1]  # flat positions: take, not 2-d fancy indexing
        flat = running.ravel()
        return (flat.take(at + hi) - flat.take(at + lo)).astype(np.int64)

    def take_regressors(self, cells: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(P, C, m) regressor returns on each pair's sessions (NaN where there is none); ``days`` consecutive."""
        columns = [self.take(self.regressors, in_column(cells, j), days, np.nan) for j in range(len(self.regressors))]
        if len(columns) == 1:  # the market alone: a view, no copy
            return columns[0][:, :, None]
        return np.stack(columns, axis=2) if columns else np.empty((len(cells), len(days), 0))

    def gather_panel(
        self,
        cells: np.ndarray,
        blocked: np.ndarray,
        estimation_columns: tuple[int, int],
        out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Fill ``out`` = (returns, span, regressors, masked, estimation, estimation_bounds) of the pairs ``cells`` on
        their panel days in one pass: the values :meth:`take` and :meth:`take_regressors` give (``masked`` from
        ``blocked`` (T, S)), the clean estimation days: panel days in ``estimation_columns`` [lo, hi) whose return
        and regressors are present, not masked, and span one session, and each pair's first and last clean
        estimation day (-1, -1 without any). ``out`` arrays are (P, D), regressors (P, D, m), bounds (P, 2)."""
        returns = out[0]
        bounds = self.block_bounds(cells)
        first, column = (np.ascontiguousarray(cells[:, c]) for c in (CELL_START, CELL_COLUMN))
        chunks = chunk_bounds(np.full(len(cells), returns.shape[1] * (2 + len(self.regressors))))
        lo, hi = estimation_columns
        clean_regressors = ~np.isnan(self.regressors).any(axis=0)
        if out[2].shape[2] == 1:  # the market alone: its (P, D) view, copied contiguously
            out = (*out[:2], out[2][:, :, 0], *out[3:])
        matrices = (self.returns, self.span, self.regressors, clean_regressors, blocked if blocked.any() else None)
        _gather_chunks(*matrices, first, column, bounds[:, 0], bounds[:, 1], lo, hi, *out, chunks)

    def dates(self, cells: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(P, C) datetime64[ns] session dates, NaT where there is none (``days`` (C,) consecutive, or (P, C))."""
        if np.ndim(days) == 1:
            ns = self.take(self.sessions.view(np.int64)[None, :], in_column(cells, 0), days, np.iinfo(np.int64).min)
            return ns.view("datetime64[ns]")
        at, inside = self.positions(cells, days)
        return np.where(inside, self.sessions[at], np.datetime64("NaT", "ns"))

    def calendar_rows(self, cells: np.ndarray, n_days: int) -> tuple[np.ndarray, RowPositions]:
        """The sorted distinct session dates of every venue (datetime64[ns]) and the (P, n_days) position on them of
        each pair's session on its panel days, -1 where it has none (int16 while the dates number fewer than
        32,767, a century of sessions, else int32), without a (P, D) array: each pair's row is a window onto one
        table of every block's session ranks between runs of ``n_days`` -1s (a pair whose days miss its block
        reads the first run), so day ``t`` of pair ``i`` reads the rank of session ``start_i + t`` inside its
        block and -1 outside.

        The same grid and positions as :func:`eventstudy.inference.calendar_time.calendar_positions` of
        :meth:`dates` gives, up to dates no pair has (positions keep the dates' order and equality, also across
        venues: a date two venues trade on has one position), without gathering a (P, D) datetime array.
        """
        calendar, rank = np.unique(self.sessions, return_inverse=True)
        dtype = np.int16 if len(calendar) < np.iinfo(np.int16).max else np.int32
        pad = np.full(n_days, -1, dtype)
        parts, base = [pad], []
        for _, lo, hi in self.blocks:  # block b's session s sits at base[b] + s
            base.append(sum(len(part) for part in parts) - lo)
            parts += [rank[lo:hi].astype(dtype), pad]
        bounds = self.block_bounds(cells)
        start = cells[:, CELL_START].astype(np.int64)
        meets = (start + n_days > bounds[:, 0]) & (start < bounds[:, 1])
        offset = np.where(meets, np.array(base, dtype=np.int64)[cells[:, CELL_BLOCK]] + start, 0)
        return calendar, RowPositions(np.concatenate(parts), offset, n_days)

    def date_range(self, cells: np.ndarray, n_days: int) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """The first and last session date of any of the pairs' ``n_days`` panel days (None, None: no session)."""
        bounds = self.block_bounds(cells)
        first = np.maximum(cells[:, CELL_START], bounds[:, 0])
        last = np.minimum(cells[:, CELL_START] + n_days, bounds[:, 1]) - 1
        some = first <= last
        if not some.any():
            return None, None
        return self.sessions[first[some]].min(), self.sessions[last[some]].max()


def merge_grids(grids: list[SessionGrid], cells: list[np.ndarray]) -> tuple[SessionGrid, list[np.ndarray]]:
    """One grid holding the matrices of ``grids`` (of disjoint subsets of a study), and each subset's cells in it.

    Venues keep their sessions (a venue's sessions must be the same in every grid); tickers are laid side by side.
    """
    if all(g is grids[0] for g in grids):
        return grids[0], cells
    venues: dict[str, np.ndarray] = {}
    regressors: dict[str, np.ndarray] = {}
    for grid in grids:
        for name, lo, hi in grid.blocks:
            known = venues.setdefault(name, grid.sessions[lo:hi])
            if not np.array_equal(known, grid.sessions[lo:hi]):
                raise ValueError(f"the subsets' {name} sessions differ: give every subset the same price dates")
            regressors.setdefault(name, grid.regressors[:, lo:hi])
    ends = np.cumsum([0, *(len(v) for v in venues.values())])
    where = {name: (int(ends[i]), int(ends[i + 1])) for i, name in enumerate(venues)}
    widths = np.cumsum([0, *(len(g.tickers) for g in grids)])
    n_sessions, n_reg = int(ends[-1]), grids[0].regressors.shape[0]
    returns = np.full((int(widths[-1]), n_sessions), np.nan)
    span = np.zeros(returns.shape, dtype=np.int16)
    out_cells = []
    for g, (grid, c) in enumerate(zip(grids, cells, strict=True)):
        cols = slice(int(widths[g]), int(widths[g + 1]))
        shift = np.zeros(len(grid.blocks), dtype=np.int64)
        block = np.zeros(len(grid.blocks), dtype=np.int64)
        for b, (name, lo, hi) in enumerate(grid.blocks):
            new_lo, new_hi = where[name]
            returns[cols, new_lo:new_hi] = grid.returns[:, lo:hi]
            span[cols, new_lo:new_hi] = grid.span[:, lo:hi]
            shift[b], block[b] = new_lo - lo, list(where).index(name)
        moved = c.copy()
        moved[:, CELL_START] += shift[c[:, CELL_BLOCK]]
        moved[:, CELL_COLUMN] += widths[g]
        moved[:, CELL_BLOCK] = block[c[:, CELL_BLOCK]]
        out_cells.append(moved)
    merged = SessionGrid(
        sessions=np.concatenate(list(venues.values())) if venues else np.array([], dtype="datetime64[ns]"),
        blocks=tuple((name, lo, hi) for name, (lo, hi) in where.items()),
        tickers=tuple(t for grid in grids for t in grid.tickers),
        returns=returns,
        span=span,
        regressors=np.concatenate(list(regressors.values()), axis=1) if regressors else np.zeros((n_reg, 0)),
    )
    return merged, out_cells


def in_column(cells: np.ndarray, column: int) -> np.ndarray:
    """``cells`` with every pair in matrix column ``column`` (for matrices with one row per regressor or none)."""
    out = cells.copy()
    out[:, CELL_COLUMN] = column
    return out


@numba.njit(cache=True, nogil=True)
def _take(matrix, first, column, lo, hi, fill, out, start, stop):  # pragma: no cover - compiled
    """out[p, j] = matrix[column[p], first[p] + j] where that session lies in [lo[p], hi[p]), else ``fill``, for the
    pairs ``start <= p < stop``: the days inside the block [a, b) copied as runs of one length (no bounds test per
    day: the loop vectorises), the others filled."""
    n_days = out.shape[1]
    for p in range(start, stop):
        s0 = first[p]
        a = min(max(lo[p] - s0, 0), n_days)
        b = max(min(hi[p] - s0, n_days), a)
        row = out[p]
        row[:a] = fill
        row[b:] = fill
        inside, source = row[a:b], matrix[column[p], s0 + a : s0 + b]
        for t in range(len(inside)):
            inside[t] = source[t]


@numba.njit(cache=True, parallel=True, nogil=True)
def _take_chunks(matrix, first, column, lo, hi, fill, out, bounds):  # pragma: no cover - compiled
    """:func:`_take` over the chunks of pairs ``bounds`` on every thread (the only entry point: one compiled
    function per signature to load from numba's cache, not a serial and a parallel one)."""
    for c in numba.prange(len(bounds) - 1):
        _take(matrix, first, column, lo, hi, fill, out, bounds[c], bounds[c + 1])


def _copy_regressors(out, regressors, p, a, b, s0):  # pragma: no cover - compiled (its overload)
    """out[p, a:b] = the regressors' returns on sessions s0 + a .. s0 + b: ``out`` (P, D, m), or (P, D) when the market
    is the only regressor (a compiled case of its own: a contiguous copy that vectorises, not a strided one)."""


@numba.extending.overload(_copy_regressors)
def _copy_regressors_impl(out, regressors, p, a, b, s0):  # pragma: no cover - compiled
    if out.ndim == 2:

        def market(out, regressors, p, a, b, s0):
            x_in, x_src = out[p, a:b], regressors[0, s0 + a : s0 + b]
            for t in range(len(x_in)):
                x_in[t] = x_src[t]

        return market

    def every(out, regressors, p, a, b, s0):
        for m in range(regressors.shape[0]):
            x_in, x_src = out[p, a:b, m], regressors[m, s0 + a : s0 + b]
            for t in range(len(x_in)):
                x_in[t] = x_src[t]

    return every


@numba.njit(cache=True, nogil=True)
def _gather(returns, span, regressors, clean_regressors, blocked, first, column, lo, hi, est_lo, est_hi,
            out_returns, out_span, out_regressors, out_masked, out_estimation, out_bounds,
            start, stop):  # pragma: no cover  # fmt: skip
    """:meth:`SessionGrid.gather_panel` of the pairs ``start <= p < stop``: each pair's days inside its block
    [a, b) copied from the matrices as runs of one length (no bounds test per day: the loops vectorise), the days
    outside filled; ``clean_regressors`` (S,) whether every regressor has a return on a session; ``blocked`` None
    when nothing is blocked (a compiled case of its own: ``masked`` all False, nothing read)."""
    n_days = out_returns.shape[1]
    for p in range(start, stop):
        s0 = first[p]
        a = min(max(lo[p] - s0, 0), n_days)
        b = max(min(hi[p] - s0, n_days), a)
        r_out, k_out, m_out, e_out = out_returns[p], out_span[p], out_masked[p], out_estimation[p]
        r_out[:a] = np.nan
        r_out[b:] = np.nan
        k_out[:a] = 0
        k_out[b:] = 0
        out_regressors[p, :a] = np.nan
        out_regressors[p, b:] = np.nan
        e_out[:a] = False
        e_out[b:] = False
        # the days inside the block, as views of one length
        r_in, k_in, e_in = r_out[a:b], k_out[a:b], e_out[a:b]
        r_src, k_src = returns[column[p], s0 + a : s0 + b], span[column[p], s0 + a : s0 + b]
        ok = clean_regressors[s0 + a : s0 + b]
        for t in range(len(r_in)):
            r_in[t] = r_src[t]
            k_in[t] = k_src[t]
        _copy_regressors(out_regressors, regressors, p, a, b, s0)
        if blocked is None:
            m_out[:] = False
            for t in range(len(e_in)):
                e_in[t] = (r_src[t] == r_src[t]) & (k_src[t] == 1) & ok[t]
        else:
            m_out[:a] = False
            m_out[b:] = False
            m_in, m_src = m_out[a:b], blocked[column[p], s0 + a : s0 + b]
            for t in range(len(e_in)):
                m_in[t] = m_src[t]
            for t in range(len(e_in)):
                e_in[t] = (r_src[t] == r_src[t]) & (k_src[t] == 1) & ok[t] & (not m_src[t])
        # the estimation columns only: the days before est_lo and from est_hi are no estimation days
        e_out[: min(est_lo, n_days)] = False
        e_out[max(est_hi, 0) :] = False
        est_first, est_last = -1, -1
        for j in range(max(a, est_lo), min(b, est_hi)):
            if e_out[j]:
                est_first = j
                break
        if est_first >= 0:
            for j in range(min(b, est_hi) - 1, est_first - 1, -1):
                if e_out[j]:
                    est_last = j
                    break
        out_bounds[p, 0], out_bounds[p, 1] = est_first, est_last


@numba.njit(cache=True, parallel=True, nogil=True)
def _gather_chunks(returns, span, regressors, clean_regressors, blocked, first, column, lo, hi, est_lo, est_hi,
                   out_returns, out_span, out_regressors, out_masked, out_estimation, out_bounds,
                   bounds):  # pragma: no cover  # fmt: skip
    for c in numba.prange(len(bounds) - 1):
        _gather(returns, span, regressors, clean_regressors, blocked, first, column, lo, hi, est_lo, est_hi,
                out_returns, out_span, out_regressors, out_masked, out_estimation, out_bounds, bounds[c],
                bounds[c + 1])  # fmt: skip


class GridArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A (P, D[, k]) array of the pair stage gathered from the grid when used, never stored.

    Indexing by rows (``a[idx]``, ``a[idx, cols]``, ``a[:, cols]``) gathers only those rows; any other use (numpy
    functions and operators, methods such as ``.sum``) gathers the whole array. ``build(rows)`` gathers the rows
    ``rows`` (a slice, integer or boolean index of the pairs); ``columns(rows, days)``, when given, gathers only the
    consecutive panel days ``days`` of them (for ``a[idx, lo:hi]``).
    """

    def __init__(
        self,
        build: Callable[[slice | np.ndarray], np.ndarray],
        shape: tuple[int, ...],
        dtype,
        columns: Callable[[slice | np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self._build, self.shape, self.dtype, self._columns = build, shape, np.dtype(dtype), columns

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self._build(slice(None))
        return values if dtype is None else values.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(x) if isinstance(x, GridArray) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(rows, int | np.integer):
            return self._build(np.array([rows]))[(0, *rest)]
        if rows is Ellipsis or rows is None or np.ndim(rows) != 1 and not isinstance(rows, slice):
            return np.asarray(self)[key]
        if self._columns is not None and len(rest) == 1 and isinstance(rest[0], slice) and rest[0].step in (None, 1):
            return self._columns(rows, np.arange(self.shape[1])[rest[0]])
        part = self._build(rows)
        return part[(slice(None), *rest)] if rest else part

    def __getattr__(self, name: str):
        if name.startswith("__"):  # numpy's array protocols: only __array__ is offered
            raise AttributeError(name)
        return getattr(np.asarray(self), name)
