"""The pair stage's compiled passes give the same numbers in chunks on every thread as in one chunk (each pair's
sums are its own): OLS moments and residuals, and the gather from the session grid."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from eventstudy.engine import grid as grid_module
from eventstudy.engine.grid import SessionGrid
from eventstudy.engine.models import _fit_ols
from eventstudy.inference import threads

pytestmark = pytest.mark.skipif(numba.get_num_threads() < 2, reason="one thread: no chunks")


def _panel(seed: int = 4, n_pairs: int = 300, n_days: int = 120):
    rng = np.random.default_rng(seed)
    regressors = rng.normal(0.0, 0.01, (n_pairs, n_days, 2))
    returns = 0.001 + 1.1 * regressors[:, :, 0] + 0.4 * regressors[:, :, 1] + rng.normal(0, 0.02, (n_pairs, n_days))
    returns[rng.random((n_pairs, n_days)) < 0.05] = np.nan
    estimation = (np.arange(n_days) < 90) & ~np.isnan(returns) & ~np.isnan(regressors).any(axis=2)
    estimation[7, 5:] = False  # rank-deficient
    return returns, regressors, estimation


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ols_in_chunks_equals_one_pass(monkeypatch, k):
    returns, regressors, estimation = _panel()
    serial = _fit_ols(returns, regressors, k, True, estimation)
    monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    assert len(threads.chunk_bounds(np.full(len(returns), 100))) > 2  # the chunked path is taken
    parallel = _fit_ols(returns, regressors, k, True, estimation)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_grid_take_in_chunks_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(5)
    sessions = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-03-01")).astype("datetime64[ns]")
    n_tickers, n_sessions = 6, len(sessions)
    grid = SessionGrid(
        sessions=sessions,
        blocks=(("A", 0, 40), ("B", 40, n_sessions)),
        tickers=tuple("abcdef"),
        returns=rng.normal(size=(n_tickers, n_sessions)),
        span=rng.integers(0, 3, (n_tickers, n_sessions)).astype(np.int16),
        regressors=rng.normal(size=(1, n_sessions)),
    )
    cells = np.stack(
        [rng.integers(-10, n_sessions, 500), rng.integers(0, n_tickers, 500), rng.integers(0, 2, 500)], axis=1
    )
    days = np.arange(3, 25)
    serial = [grid.take(grid.returns, cells, days, np.nan), grid.take(grid.span, cells, days, 0, np.int64)]
    monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    assert grid_module.chunk_bounds is threads.chunk_bounds and len(threads.chunk_bounds(np.ones(500))) > 2
    parallel = [grid.take(grid.returns, cells, days, np.nan), grid.take(grid.span, cells, days, 0, np.int64)]
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(serial[0]).any() and np.isfinite(serial[0]).any()


def test_student_t_sf_split_over_threads_is_one_call():
    from eventstudy.inference import distributions as stats

    rng = np.random.default_rng(3)
    x, df = np.abs(rng.standard_t(5, 30_001)), rng.integers(1, 300, 30_001).astype(float)
    x[::97] = np.nan
    split = threads.split_elementwise(stats.t.sf, x, df, min_items=10)
    np.testing.assert_array_equal(split, stats.t.sf(x, df))
