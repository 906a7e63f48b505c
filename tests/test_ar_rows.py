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
