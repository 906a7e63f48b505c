"""Calendar positions as windows onto one table (:class:`RowPositions`): the grid's rows are each pair day's position
on the sorted session dates, and an array's rows are read in place where its days are contiguous."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.engine.grid import SessionGrid
from eventstudy.inference.row_positions import RowPositions


def _grid(sessions: np.ndarray, blocks: tuple) -> SessionGrid:
    n = len(sessions)
    return SessionGrid(sessions, blocks, ("x", "y"), np.zeros((2, n)), np.ones((2, n), np.int16), np.zeros((1, n)))


@pytest.mark.parametrize("n_days", [1, 5, 12, 40, 200])
def test_grid_rows_are_its_calendar_positions(n_days):
    """Two venues with their own holidays; pairs starting far before, across and far past each block."""
    days = pd.bdate_range("2024-01-01", periods=60)
    a, b = days[:50].delete([7, 20]), days[5:].delete([12, 30])
    sessions = np.concatenate([a.values, b.values]).astype("datetime64[ns]")
    grid = _grid(sessions, (("A", 0, len(a)), ("B", len(a), len(sessions))))
    rng = np.random.default_rng(n_days)
    start, block = rng.integers(-250, len(sessions) + 250, 500), rng.integers(0, 2, 500)
    cells = np.column_stack([start, block, block])
    dates = grid.dates(cells, np.arange(n_days))
    calendar, rows = grid.calendar_rows(cells, n_days)
    positions = np.where(np.isnat(dates), -1, np.searchsorted(calendar, dates))  # the definition
    assert np.array_equal(calendar, np.unique(sessions)) and rows.table.dtype == np.int16
    assert np.array_equal(rows.dense(), positions) and rows.shape == positions.shape
    assert len(rows.table) == len(sessions) + 3 * n_days  # the sessions and three runs of -1: never (P, D)
    missing = positions == -1
    assert missing.all(axis=1).any() and (n_days == 1 or (missing.any(axis=1) & ~missing.all(axis=1)).any())
    for days in (slice(0, n_days // 2), slice(n_days // 3, n_days), np.arange(n_days) % 2 == 0):
        assert np.array_equal(rows.columns(days).dense(), positions[:, days])
    some = rng.random(500) < 0.3
    assert np.array_equal(rows.rows(some).dense(), positions[some])


def test_grid_rows_of_many_dates_are_int32():
    many = np.arange("1900-01-01", "2010-01-01", dtype="datetime64[D]").astype("datetime64[ns]")
    grid = _grid(many, (("C", 0, len(many)),))
    cells = np.array([[40_000, 0, 0], [5, 0, 0]])
    calendar, rows = grid.calendar_rows(cells, 300)
    dates = grid.dates(cells, np.arange(300))
    assert rows.table.dtype == np.int32 and np.isnat(dates).any()
    assert np.array_equal(rows.dense(), np.where(np.isnat(dates), -1, np.searchsorted(calendar, dates)))


def test_an_array_is_read_in_place_where_its_days_are_contiguous():
    a = np.arange(60, dtype=np.int16).reshape(6, 10)
    for view, in_place in (
        (a, True),
        (a[:, 2:7], True),
        (a[1:4], True),
        (a[::2], True),
        (a[:1], True),
        (a[:, 3:4], True),
        (a[:, ::2], False),
        (a[::-1], False),
        (np.asfortranarray(a), False),
        (a[:0], True),
    ):
        rows = RowPositions.of(view)
        assert np.array_equal(rows.dense(), view) and rows.shape == view.shape
        assert np.shares_memory(rows.table, a) == (in_place and view.size > 0), view
        assert np.array_equal(rows.columns(slice(1, 3)).dense(), view[:, 1:3])
        assert RowPositions.of(rows) is rows
    with pytest.raises(ValueError, match="pairs, days"):
        RowPositions.of(np.arange(4))
