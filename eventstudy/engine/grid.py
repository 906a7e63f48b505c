"""The session grid: the (sessions x tickers) matrices a study's pairs are gathered from, and each pair's place in them.

The sessions of every venue the study uses are laid end to end (one block per venue); the returns, the sessions
each return spans and the regressors' one-session returns are matrices on those sessions. A pair is three numbers,
its *cell* ``(start, column, block)``: the position of its first panel day in the sessions, its ticker's column
and its venue's block. Day ``j`` of the pair's panel is session ``start + j`` when that lies inside the block, and
has no session (NaT, no return, span 0) otherwise. Every (pairs x days) array of the pair stage that is a gather
from these matrices (returns, spans, dates, regressors) is rebuilt from the cells on demand instead of stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_START, CELL_COLUMN, CELL_BLOCK = 0, 1, 2


@dataclass(frozen=True)
class SessionGrid:
    """Matrices on the sessions of the study's venues (block after block); see the module docstring."""

    sessions: np.ndarray  # (S,) datetime64[ns], each venue's sessions in order, venue after venue
    blocks: tuple[tuple[str, int, int], ...]  # (venue, first session, end) of each venue's block
    tickers: tuple[str, ...]  # (T,) the columns
    returns: np.ndarray  # (S, T) trade-to-trade returns (NaN off the ticker's venue or without a price)
    span: np.ndarray  # (S, T) int16 sessions each return spans (0 = no return)
    regressors: np.ndarray  # (S, m) one-session returns of the venue's regressors (market first, then factors)

    def positions(self, cells: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, C) session positions of the panel days ``days`` (indices into the panel's days: (C,) for every pair
        or (P, C)) and where they exist."""
        bounds = np.array([(lo, hi) for _, lo, hi in self.blocks], dtype=np.int64).reshape(-1, 2)[cells[:, CELL_BLOCK]]
        days = np.asarray(days, dtype=np.int64)
        at = cells[:, CELL_START].astype(np.int64)[:, None] + (days[None, :] if days.ndim == 1 else days)
        inside = (at >= bounds[:, :1]) & (at < bounds[:, 1:])
        return np.where(inside, at, 0), inside

    def take(self, matrix: np.ndarray, cells: np.ndarray, days: np.ndarray, fill) -> np.ndarray:
        """(P, C) values of ``matrix`` (S, T) at each pair's sessions and column, ``fill`` where there is none."""
        at, inside = self.positions(cells, days)
        values = matrix[at, cells[:, CELL_COLUMN][:, None]]
        values[~inside] = fill
        return values

    def take_regressors(self, cells: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(P, C, m) regressor returns on each pair's sessions (NaN where there is none)."""
        at, inside = self.positions(cells, days)
        values = self.regressors[at]
        values[~inside] = np.nan
        return values

    def dates(self, cells: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(P, C) datetime64[ns] session dates, NaT where there is none."""
        at, inside = self.positions(cells, days)
        return np.where(inside, self.sessions[at], np.datetime64("NaT", "ns"))

    def date_range(self, cells: np.ndarray, n_days: int) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """The first and last session date of any of the pairs' ``n_days`` panel days (None, None: no session)."""
        bounds = np.array([(lo, hi) for _, lo, hi in self.blocks], dtype=np.int64).reshape(-1, 2)[cells[:, CELL_BLOCK]]
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
            regressors.setdefault(name, grid.regressors[lo:hi])
    ends = np.cumsum([0, *(len(v) for v in venues.values())])
    where = {name: (int(ends[i]), int(ends[i + 1])) for i, name in enumerate(venues)}
    widths = np.cumsum([0, *(len(g.tickers) for g in grids)])
    n_sessions, n_reg = int(ends[-1]), grids[0].regressors.shape[1]
    returns = np.full((n_sessions, int(widths[-1])), np.nan)
    span = np.zeros(returns.shape, dtype=np.int16)
    out_cells = []
    for g, (grid, c) in enumerate(zip(grids, cells, strict=True)):
        cols = slice(int(widths[g]), int(widths[g + 1]))
        shift = np.zeros(len(grid.blocks), dtype=np.int64)
        block = np.zeros(len(grid.blocks), dtype=np.int64)
        for b, (name, lo, hi) in enumerate(grid.blocks):
            new_lo, new_hi = where[name]
            returns[new_lo:new_hi, cols] = grid.returns[lo:hi]
            span[new_lo:new_hi, cols] = grid.span[lo:hi]
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
        regressors=np.concatenate(list(regressors.values())) if regressors else np.zeros((0, n_reg)),
    )
    return merged, out_cells
