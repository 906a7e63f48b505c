"""The session grid's compiled gathers against a per-day reference: :meth:`SessionGrid.gather_panel` (every pair's
days inside its block copied as runs, the others filled; the market alone, several regressors; nothing blocked or
some days blocked) and :meth:`SessionGrid.take`, on cells inside, across and outside their blocks."""

from __future__ import annotations

import numpy as np
import pytest

from eventstudy.engine.grid import CELL_BLOCK, CELL_COLUMN, CELL_START, SessionGrid
from eventstudy.inference import threads

N_DAYS = 30


def _grid(n_reg: int, seed: int = 7) -> tuple[SessionGrid, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_tickers, n_sessions = 5, 70
    sessions = np.arange(np.datetime64("2021-01-01"), np.datetime64("2021-01-01") + n_sessions)
    returns = rng.normal(0.0, 0.02, (n_tickers, n_sessions))
    returns[rng.random(returns.shape) < 0.1] = np.nan
    span = rng.integers(0, 4, (n_tickers, n_sessions)).astype(np.int16)
    span[rng.random(span.shape) < 0.6] = 1
    regressors = rng.normal(0.0, 0.01, (n_reg, n_sessions))
    regressors[rng.random(regressors.shape) < 0.05] = np.nan
    grid = SessionGrid(
        sessions=sessions.astype("datetime64[ns]"),
        blocks=(("A", 0, 40), ("B", 40, n_sessions)),
        tickers=tuple("abcde"),
        returns=returns,
        span=span,
        regressors=regressors,
    )
    n = 400
    block = rng.integers(0, 2, n)
    # inside the block, across either end or wholly outside it
    start = np.array([0, 40])[block] + rng.integers(-N_DAYS - 5, 45, n)
    start[:3] = -(2**40)  # a pair without a session
    cells = np.stack([start, rng.integers(0, n_tickers, n), block], axis=1).astype(np.int64)
    return grid, cells


def _reference(grid: SessionGrid, cells: np.ndarray, blocked: np.ndarray, columns: tuple[int, int]):
    """The gather day by day: session start + j inside the pair's block, else no return, span 0, NaN regressors."""
    n, n_reg = len(cells), len(grid.regressors)
    returns, span = np.full((n, N_DAYS), np.nan), np.zeros((n, N_DAYS), np.int16)
    regressors, masked = np.full((n, N_DAYS, n_reg), np.nan), np.zeros((n, N_DAYS), bool)
    estimation, bounds = np.zeros((n, N_DAYS), bool), np.full((n, 2), -1)
    for p, (start, column, block) in enumerate(cells):
        _, lo, hi = grid.blocks[block]
        for j in range(N_DAYS):
            s = start + j
            if lo <= s < hi:
                returns[p, j], span[p, j] = grid.returns[column, s], grid.span[column, s]
                regressors[p, j] = grid.regressors[:, s]
                masked[p, j] = blocked[column, s]
            clean = not np.isnan(returns[p, j]) and not np.isnan(regressors[p, j]).any()
            estimation[p, j] = columns[0] <= j < columns[1] and clean and not masked[p, j] and span[p, j] == 1
        if estimation[p].any():
            bounds[p] = np.flatnonzero(estimation[p])[[0, -1]]
    return returns, span, regressors, masked, estimation, bounds


@pytest.mark.parametrize("n_reg", [1, 3])
@pytest.mark.parametrize("blocking", [False, True])
@pytest.mark.parametrize("columns", [(4, 24), (0, N_DAYS), (12, 12)])
@pytest.mark.parametrize("chunked", [False, True])
def test_gather_panel_is_the_day_by_day_gather(n_reg, blocking, columns, chunked, monkeypatch):
    if chunked:  # chunks of pairs on every thread (one chunk on one thread)
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    grid, cells = _grid(n_reg)
    rng = np.random.default_rng(3)
    blocked = rng.random(grid.returns.shape) < (0.2 if blocking else 0.0)
    n = len(cells)
    out = (
        np.full((n, N_DAYS), 7.0),  # stale values everywhere: every one must be written
        np.full((n, N_DAYS), 9, np.int16),
        np.full((n, N_DAYS, n_reg), 7.0),
        np.ones((n, N_DAYS), bool),
        np.ones((n, N_DAYS), bool),
        np.full((n, 2), 99, np.int64),
    )
    grid.gather_panel(cells, blocked, columns, out)
    expected = _reference(grid, cells, blocked, columns)
    names = ("returns", "span", "regressors", "masked", "estimation", "bounds")
    for name, got, want in zip(names, out, expected, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=name)
    returns, _, _, masked, estimation, bounds = expected
    assert np.isfinite(returns).any(axis=1).sum() > 100 and np.isnan(returns).all(axis=1).sum() >= 3
    assert masked.any() == blocking and (columns[0] == columns[1] or estimation.any())
    assert (bounds[:, 0] > columns[0]).any() or columns[0] == columns[1]  # some first clean day after the window's


@pytest.mark.parametrize("days", [np.arange(0, N_DAYS), np.arange(11, 17), np.arange(3, 3)])
def test_take_is_the_day_by_day_take(days):
    grid, cells = _grid(1)
    blocks = np.array([(lo, hi) for _, lo, hi in grid.blocks])[cells[:, CELL_BLOCK]]
    at = cells[:, CELL_START][:, None] + days[None, :]
    inside = (at >= blocks[:, :1]) & (at < blocks[:, 1:])
    column = cells[:, CELL_COLUMN][:, None]
    expected_returns = np.where(inside, grid.returns[column, np.where(inside, at, 0)], np.nan)
    expected_span = np.where(inside, grid.span[column, np.where(inside, at, 0)], 0)
    np.testing.assert_array_equal(grid.take(grid.returns, cells, days, np.nan), expected_returns)
    span = grid.take(grid.span, cells, days, 0, np.int64)
    assert span.dtype == np.int64
    np.testing.assert_array_equal(span, expected_span)
    if len(days):
        assert inside.all(axis=1).any() and (inside.any(axis=1) & ~inside.all(axis=1)).any() and (~inside).all(1).any()
