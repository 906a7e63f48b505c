"""Abnormal-return rows stored or regenerated from the session grid (:mod:`eventstudy.inference.ar_rows`).

A regenerated market-model row must be the fit's residual bit for bit; rows the regeneration does not reproduce
(returns spanning several sessions) are found by :func:`matching_rows`; plain arrays are rows that are all stored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventstudy.engine.pair_stage as stages
from eventstudy import EventStudy
from eventstudy.engine.grid import CELL_BLOCK, CELL_COLUMN, CELL_START
from eventstudy.inference import ar_rows
from eventstudy.inference.ar_rows import MARKET_ROW, NAN_ROW, ArRows, market_rows, matching_rows
from eventstudy.simulate import simulate_study


def _regenerated(stage) -> ArRows:
    """Every studied pair's estimation-day ARs regenerated from the grid, as the fit computed them."""
    grid, cells, width = stage.grid, stage.cells, stage.event_start
    bounds = np.array([(lo, hi) for _, lo, hi in grid.blocks]).reshape(-1, 2)[cells[:, CELL_BLOCK]]
    slot = np.where(stage.active, MARKET_ROW, NAN_ROW)
    return market_rows(
        np.zeros((0, width)),
        slot,
        width,
        grid.returns,
        grid.regressors[0],
        cells[:, CELL_START],
        cells[:, CELL_COLUMN],
        bounds[:, 0],
        bounds[:, 1],
        stage.params,
    )


@pytest.fixture(scope="module")
def study():
    """A market-model study with sessions missing for one ticker (returns spanning several sessions)."""
    sim = simulate_study(n_events=12, n_firms=5, effect=0.01, rho=0.2, same_date=False, seed=3)
    rng = np.random.default_rng(5)
    prices = sim.prices
    gappy = prices["ticker"] == sorted(set(prices["ticker"]) - {sim.market})[0]  # one ticker misses sessions
    drop = (rng.random(len(prices)) < 0.03) & gappy.to_numpy()
    return EventStudy(sim.events, prices[~drop].reset_index(drop=True), market=sim.market, calendar="data", min_obs=100)


@pytest.fixture(scope="module")
def stage(study):
    return stages.run_pairs(study, study.events, study.prices, estimation_normal=True)


def test_regenerated_rows_are_the_fits_residuals_bit_for_bit_where_returns_span_one_session(stage):
    rows, stored = _regenerated(stage), np.asarray(stage.ar)[:, : stage.event_start]
    spans = np.asarray(stage.span)[:, : stage.event_start]
    one_session = (spans <= 1).all(axis=1)
    assert one_session.any() and (~one_session & stage.active).any()
    same = matching_rows(rows, stored)
    assert same[one_session].all()  # NaN rows (pairs not studied) match NaN too
    assert not same[~one_session & stage.active].any()  # a gap's bridged AR is not the one-session residual
    dense = rows.dense()
    bits = dense[one_session].view(np.int64) == stored[one_session].view(np.int64)
    assert (bits | (np.isnan(dense[one_session]) & np.isnan(stored[one_session]))).all()
    assert np.isfinite(dense[one_session & stage.active]).any()


def test_estimation_normal_returns_are_stored_only_where_the_grid_does_not_give_them_back(study, stage):
    with pytest.MonkeyPatch.context() as patch:  # the reference: every chunk's rows stored as the fit made them
        patch.setattr(stages, "_estimation_normals", lambda part: (None, part.estimation_normal.copy()))
        every = stages.run_pairs(study, study.events, study.prices, estimation_normal=True)
    assert every.normal_slot is None and len(every.estimation_normal) == len(every)
    got, expected = np.asarray(stage.normal), np.asarray(every.normal)
    assert ((got.view(np.int64) == expected.view(np.int64)) | (np.isnan(got) & np.isnan(expected))).all()
    one_session = (np.asarray(stage.span)[:, : stage.event_start] <= 1).all(axis=1)
    assert (stage.normal_slot[one_session & stage.active] == MARKET_ROW).all()
    assert (stage.normal_slot[~one_session & stage.active] >= 0).all()  # the bridged days' normals are stored
    assert len(stage.estimation_normal) == (stage.normal_slot >= 0).sum() < len(stage) / 2
    pick = np.array([len(stage) - 1, 0, 2])
    np.testing.assert_array_equal(stage.normal[pick], expected[pick])


def test_windows_and_taken_rows_match_the_dense_rows(stage):
    rows = _regenerated(stage)
    dense = rows.dense()
    pick = np.array([3, 0, 3, len(rows) - 1])
    np.testing.assert_array_equal(rows.take(pick), dense[pick])
    np.testing.assert_array_equal(rows.take(stage.active), dense[stage.active])
    part = rows.window(20, 130)
    assert part.shape == (len(rows), 110)
    np.testing.assert_array_equal(part.dense(), dense[:, 20:130])
    np.testing.assert_array_equal(part.window(5, 7).dense(), dense[:, 25:27])
    with pytest.raises(ValueError, match="outside rows"):
        rows.window(10, rows.width + 1)


def test_a_plain_array_is_rows_that_are_all_stored_read_in_place():
    values = np.arange(60, dtype=float).reshape(6, 10)
    view = values[:, 2:9]  # strided rows
    rows = ArRows.of(view)
    assert rows.stored is view and rows.regenerated == 0 and rows.shape == (6, 7)
    np.testing.assert_array_equal(rows.dense(), view)
    np.testing.assert_array_equal(rows.window(1, 4).take([5, 0]), view[[5, 0], 1:4])
    assert ArRows.of(rows) is rows
    with pytest.raises(ValueError, match="pairs, days"):
        ArRows.of(np.zeros(4))


def test_mixed_rows_read_stored_nan_and_regenerated_rows():
    returns = np.array([[0.01, 0.02, -0.01, 0.03, 0.0], [0.05, -0.02, 0.01, 0.02, 0.04]])
    market = np.array([0.001, 0.002, -0.003, 0.004, 0.005])
    stored = np.array([[9.0, 8.0, 7.0]])
    params = np.array([[0.001, 1.2], [0.0, 0.0], [0.0, 0.0], [-0.002, 0.8]])
    slot = np.array([MARKET_ROW, 0, NAN_ROW, MARKET_ROW])
    start, column = np.array([1, 0, 0, 3]), np.array([0, 0, 0, 1])
    lo, hi = np.zeros(4, np.int64), np.full(4, 5)
    rows = market_rows(stored, slot, 3, returns, market, start, column, lo, hi, params)
    expected = np.array(
        [
            [returns[0, t] - ((0.0 + 0.001) + market[t] * 1.2) for t in (1, 2, 3)],
            [9.0, 8.0, 7.0],
            [np.nan] * 3,
            [returns[1, 3] - (-0.002 + market[3] * 0.8), returns[1, 4] - (-0.002 + market[4] * 0.8), np.nan],
        ]
    )
    np.testing.assert_array_equal(rows.dense(), expected)  # the last row runs past its block: NaN
    assert rows.regenerated == 2
    assert matching_rows(rows, expected).all()
    wrong = expected.copy()
    wrong[3, 0] = np.nextafter(wrong[3, 0], 1.0)
    np.testing.assert_array_equal(matching_rows(rows, wrong), [True, True, True, False])
    signed = np.array([[0.0]]), np.array([[-0.0]])
    assert not matching_rows(ArRows.of(signed[0]), signed[1])[0]
    # a plain array is read in place (no ar_row in its kernel): the same answers
    np.testing.assert_array_equal(matching_rows(expected, wrong), [True, True, True, False])
    assert not matching_rows(signed[0], signed[1])[0] and matching_rows(signed[1], signed[1].copy())[0]


def test_a_frame_of_prices_without_gaps_regenerates_every_studied_row():
    sim = simulate_study(n_events=6, n_firms=4, effect=0.0, rho=0.1, same_date=True, seed=1)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data")
    stage = stages.run_pairs(study, study.events, study.prices)
    assert stage.active.all()
    same = matching_rows(_regenerated(stage), np.asarray(stage.ar)[:, : stage.event_start])
    assert same.all()
    assert isinstance(sim.prices, pd.DataFrame)


def test_the_pair_stage_stores_only_the_rows_the_grid_does_not_regenerate(stage):
    spans = np.asarray(stage.span)[:, : stage.event_start]
    one_session = (spans <= 1).all(axis=1)
    np.testing.assert_array_equal(stage.ar_slot == MARKET_ROW, stage.active & one_session)
    np.testing.assert_array_equal(stage.ar_slot == NAN_ROW, ~stage.active)
    assert len(stage.ar_stored) == (stage.active & ~one_session).sum() > 0
    assert stage.estimation_ar.regenerated == (stage.active & one_session).sum()


def test_every_abnormal_return_is_the_return_less_the_normal_return(stage):
    """Regenerated, stored (a gap's trade-to-trade return less the span's normal return) and event-day rows alike."""
    ar, active = np.asarray(stage.ar), stage.active
    expected = np.asarray(stage.returns) - np.asarray(stage.normal)
    assert np.isfinite(ar[active]).any() and np.isnan(ar[~active]).all()
    np.testing.assert_array_equal(ar[active], expected[active])


@pytest.mark.parametrize("layout", ["contiguous", "first days of wider rows", "fortran", "reversed"])
def test_matching_rows_of_regenerated_rows_finds_every_kind_of_difference(layout):
    """The regenerated rows' quick test (equal and non-zero, or both NaN, on every day) and the exact check behind it:
    one last bit, a NaN for a number, a number outside the block, a zero's sign each make a row differ."""
    rng = np.random.default_rng(9)
    n, width, n_sessions = 60, 25, 80
    returns, market = rng.normal(0.0, 0.02, (3, n_sessions)), rng.normal(0.0, 0.01, n_sessions)
    returns[rng.random(returns.shape) < 0.05] = np.nan
    params = np.stack([rng.normal(0.0, 1e-3, n), rng.normal(1.0, 0.3, n)], axis=1)
    start, column = rng.integers(-10, n_sessions - 10, n), rng.integers(0, 3, n)
    lo, hi = np.zeros(n, np.int64), np.full(n, n_sessions)
    start[7] = 20  # row 7's day 4 regenerates as +0.0 exactly
    returns[column[7], 24] = (0.0 + params[7, 0]) + market[24] * params[7, 1]
    slot = np.full(n, MARKET_ROW)
    rows = market_rows(np.zeros((0, width)), slot, width, returns, market, start, column, lo, hi, params)
    expected = rows.dense()
    assert expected[7, 4] == 0.0 and not np.signbit(expected[7, 4])
    assert np.isnan(expected[start < 0, 0]).all() and np.isnan(expected).any(axis=1).sum() > 10
    wrong = expected.copy()
    inside = [i for i in np.flatnonzero((start >= 0) & (start + width <= n_sessions)) if i != 7]
    outside, past = np.flatnonzero(start < 0)[0], np.flatnonzero(start + width > n_sessions)[0]
    gap = next(i for i in inside[2:] if np.isnan(expected[i]).any())  # a day without a return in the block
    first, last = np.flatnonzero(~np.isnan(expected[inside[0]]))[0], np.flatnonzero(~np.isnan(expected[inside[1]]))[-1]
    changes = {
        inside[0]: (first, np.nextafter(expected[inside[0], first], 1.0)),  # one last bit of the first number
        inside[1]: (last, np.nextafter(expected[inside[1], last], -1.0)),
        gap: (int(np.flatnonzero(np.isnan(expected[gap]))[0]), 0.5),
        outside: (0, 0.0),
        past: (width - 1, 1.0),  # its last days lie after the block
        7: (4, -0.0),
    }
    assert len(changes) == 6
    for i, (t, value) in changes.items():
        wrong[i, t] = value

    def laid_out(values: np.ndarray) -> np.ndarray:
        if layout == "first days of wider rows":
            wide = np.full((n, width + 7), 3.0)
            wide[:, :width] = values
            return wide[:, :width]
        if layout == "fortran":
            return np.asfortranarray(values)
        return values[::-1][::-1] if layout == "contiguous" else np.ascontiguousarray(values[::-1])[::-1]

    flat, step = ar_rows._flat_rows(laid_out(expected))
    for i in range(n):  # the flat view's rows, and the quick test: a sufficient one, failed by a row with a zero
        np.testing.assert_array_equal(flat[i * step : i * step + width], expected[i])
        assert ar_rows._plainly_matches(rows.source(), i, expected[i]) == (i != 7)
        assert not ar_rows._plainly_matches(rows.source(), i, wrong[i]) or i not in changes
    assert matching_rows(rows, laid_out(expected)).all()
    np.testing.assert_array_equal(np.flatnonzero(~matching_rows(rows, laid_out(wrong))), sorted(changes))
    assert matching_rows(rows, laid_out(np.where(np.isnan(expected), -np.nan, expected))).all()  # any NaN is NaN


@pytest.mark.parametrize("layout", ["contiguous", "first days of wider rows", "reversed"])
def test_matching_normals_finds_every_kind_of_difference_from_the_grids_normal_returns(layout):
    """matching_normals computes each row's normal returns as SessionGrid.market_normals does ((0.0 + alpha) + R_m
    beta on the days inside the block, NaN outside) and compares them as they are computed: the same answer as
    matching_rows on the array of them; one last bit, a NaN for a number, a number outside the block and a zero's
    sign each make a row differ, and a row not regenerated never matches."""
    rng = np.random.default_rng(11)
    n, width, n_sessions = 60, 25, 80
    returns, market = rng.normal(0.0, 0.02, (3, n_sessions)), rng.normal(0.0, 0.01, n_sessions)
    market[rng.random(n_sessions) < 0.05] = np.nan
    params = np.stack([rng.normal(0.0, 1e-3, n), rng.normal(1.0, 0.3, n)], axis=1)
    start, column = rng.integers(-10, n_sessions - 10, n), rng.integers(0, 3, n)
    lo, hi = np.zeros(n, np.int64), np.full(n, n_sessions)
    start[7], params[7, 0] = 20, -0.0  # row 7's day 4 is (0.0 + -0.0) + 0.0 * beta = +0.0
    market[24] = 0.0
    slot = np.full(n, MARKET_ROW)
    slot[9] = NAN_ROW
    rows = market_rows(np.zeros((0, width)), slot, width, returns, market, start, column, lo, hi, params)
    at = start[:, None] + np.arange(width)
    inside = (at >= 0) & (at < n_sessions)
    x = np.where(inside, market[np.clip(at, 0, n_sessions - 1)], np.nan)
    expected = (0.0 + params[:, :1]) + x * params[:, 1:]  # market_normals' operations
    assert expected[7, 4] == 0.0 and not np.signbit(expected[7, 4]) and np.isnan(expected[start < 0, 0]).all()
    wrong = expected.copy()
    whole = [i for i in np.flatnonzero((start >= 0) & (start + width <= n_sessions)) if i not in (7, 9)]
    outside, past = np.flatnonzero(start < 0)[0], np.flatnonzero(start + width > n_sessions)[0]
    gap = next(i for i in whole[2:] if np.isnan(expected[i]).any())
    first, last = np.flatnonzero(~np.isnan(expected[whole[0]]))[0], np.flatnonzero(~np.isnan(expected[whole[1]]))[-1]
    changes = {
        whole[0]: (first, np.nextafter(expected[whole[0], first], 1.0)),
        whole[1]: (last, np.nextafter(expected[whole[1], last], -1.0)),
        gap: (int(np.flatnonzero(np.isnan(expected[gap]))[0]), 0.5),
        outside: (0, 0.0),
        past: (width - 1, 1.0),
        7: (4, -0.0),
    }
    for i, (t, value) in changes.items():
        wrong[i, t] = value

    def laid_out(values: np.ndarray) -> np.ndarray:
        if layout == "first days of wider rows":
            wide = np.full((n, width + 7), 3.0)
            wide[:, :width] = values
            return wide[:, :width]
        return values[::-1][::-1] if layout == "contiguous" else np.ascontiguousarray(values[::-1])[::-1]

    for values in (expected, wrong, np.where(np.isnan(expected), -np.nan, expected)):
        got = ar_rows.matching_normals(rows, laid_out(values))
        np.testing.assert_array_equal(got, matching_rows(expected, values) & (slot == MARKET_ROW))
    np.testing.assert_array_equal(np.flatnonzero(~ar_rows.matching_normals(rows, wrong)), sorted([*changes, 9]))
    with pytest.raises(ValueError, match="do not match the rows"):
        ar_rows.matching_normals(rows, expected[:, 1:])
