"""The pair stage's compiled and chunked paths against direct per-pair calculations.

``fit_ols`` (one compiled pass of sufficient statistics) against numpy's least squares pair by pair; the session
grid's gathered returns, spans and dates against a per-pair walk over the price matrix; and a study gathered and
fitted in small chunks against one pass, on prices with gaps (trade-to-trade returns) and masked days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventstudy.engine.pair_stage as stages
from eventstudy import EventStudy
from eventstudy.engine.models import fit_ols
from eventstudy.prices.matrix import price_matrix, returns_on_sessions
from eventstudy.simulate import simulate_study

ARRAYS = ("params", "sigma", "n_obs", "dof", "r2", "estimation_start", "estimation_end", "active", "cells")
PANELS = ("dates", "estimation", "returns", "span", "normal", "design", "ar", "sar")


def test_fit_ols_matches_least_squares_pair_by_pair():
    rng = np.random.default_rng(11)
    n_pairs, n_days, k = 40, 60, 3
    design = np.concatenate([np.ones((n_pairs, n_days, 1)), rng.normal(size=(n_pairs, n_days, k - 1))], axis=2)
    y = design @ rng.normal(size=k) + rng.normal(0, 0.5, (n_pairs, n_days))
    mask = rng.random((n_pairs, n_days)) < 0.8
    y[~mask & (rng.random((n_pairs, n_days)) < 0.5)] = np.nan  # NaNs off the mask are never read
    design[~mask & (rng.random((n_pairs, n_days)) < 0.5), 1] = np.nan
    mask[3, 2:] = False  # two days: too few for three parameters
    design[5, :, 2] = 0.7  # a constant regressor beside the intercept: X'X singular
    params, xtx_inv, ssr, sst, n, full = fit_ols(y, design, mask)
    for i in range(n_pairs):
        x, v = design[i, mask[i]], y[i, mask[i]]
        assert n[i] == mask[i].sum()
        if i in (3, 5):
            assert not full[i] and np.isnan(params[i]).all() and (xtx_inv[i] == 0).all()
            continue
        beta, *_ = np.linalg.lstsq(x, v, rcond=None)
        np.testing.assert_allclose(params[i], beta, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(xtx_inv[i], np.linalg.inv(x.T @ x), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ssr[i], ((v - x @ beta) ** 2).sum(), rtol=1e-12)
        np.testing.assert_allclose(sst[i], ((v - v.mean()) ** 2).sum(), rtol=1e-12)


def test_an_exact_fit_has_no_residual():
    x = np.linspace(-1, 1, 30)
    design = np.stack([np.ones(30), x], axis=1)[None]
    *_, ssr, _, _, full = fit_ols((0.01 + 2.0 * x)[None], design, np.ones((1, 30), bool))
    assert full[0] and ssr[0] < 1e-28


@pytest.fixture(scope="module")
def study():
    """Prices with sessions missing (gaps spanning several sessions) and events close together (masked days)."""
    sim = simulate_study(n_events=15, n_firms=5, effect=0.01, rho=0.2, same_date=False, seed=8)
    rng = np.random.default_rng(2)
    prices = sim.prices
    drop = (rng.random(len(prices)) < 0.05) & (prices["ticker"] != sim.market).to_numpy()
    late = sim.events.assign(event_id=sim.events["event_id"] + "x", date=sim.events["date"] + pd.Timedelta(days=25))
    events = pd.concat([sim.events, late], ignore_index=True)
    return EventStudy(
        events, prices[~drop].reset_index(drop=True), market=sim.market, calendar="data", mask="events", min_obs=200
    )


def test_gathered_panels_match_a_walk_over_the_price_matrix(study):
    stage = stages.run_pairs(study, study.events, study.prices)
    wide = price_matrix(study.prices, [*study.events.tickers, study.market["*"]])
    ret, span = returns_on_sessions(wide, wide.index)
    sessions = wide.index.to_numpy()
    returns, spans, dates = stage.returns, stage.span, stage.dates
    assert (spans > 1).any()
    for i, (ticker, day0) in enumerate(zip(stage.pairs["ticker"], stage.pairs["day0"], strict=True)):
        at = np.searchsorted(sessions, np.datetime64(day0)) + stage.days
        inside = (at >= 0) & (at < len(sessions))
        np.testing.assert_array_equal(returns[i][inside], ret[ticker].to_numpy()[at[inside]])
        np.testing.assert_array_equal(spans[i][inside], span[ticker].to_numpy()[at[inside]])
        np.testing.assert_array_equal(dates[i][inside], sessions[at[inside]])
        assert (
            np.isnan(returns[i][~inside]).all() and (spans[i][~inside] == 0).all() and np.isnat(dates[i][~inside]).all()
        )


@pytest.mark.parametrize("model", ["market", "constant-mean", "market-adjusted"])
def test_small_chunks_give_the_numbers_of_one_pass(study, model, monkeypatch):
    study.model = model
    whole = stages.run_pairs(study, study.events, study.prices)
    monkeypatch.setattr(stages, "CHUNK_PAIRS", 7)
    chunked = stages.run_pairs(study, study.events, study.prices)
    assert (whole.pairs["status"] == "insufficient").any() and whole.active.any()
    assert (whole.pairs["masked_days"] > 0).any() and (whole.span > 1).any()
    pd.testing.assert_frame_equal(chunked.pairs, whole.pairs)
    for name in (*ARRAYS, *PANELS):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)
    for window, table in whole.cars.items():
        for column, values in table.items():
            np.testing.assert_array_equal(chunked.cars[window][column], values, err_msg=f"{window} {column}")
        got, expected = chunked.contamination[window], whole.contamination[window]
        np.testing.assert_array_equal(np.asarray(got.table)[got.codes], np.asarray(expected.table)[expected.codes])


def test_gathered_arrays_index_like_the_arrays_they_stand_for(study):
    stage = stages.run_pairs(study, study.events, study.prices)
    rows = np.array([4, 0, 4, 17])
    for name in ("dates", "returns", "span", "design"):
        lazy = getattr(stage, name)
        whole = np.asarray(lazy)
        assert lazy.shape == whole.shape and lazy.dtype == whole.dtype and len(lazy) == len(whole)
        for key in (rows, (rows, slice(3, 9)), (slice(None), slice(240, 250)), 5, stage.active, (stage.active, 3)):
            np.testing.assert_array_equal(lazy[key], whole[key])
    span = stage.span
    np.testing.assert_array_equal(span > 1, np.asarray(span) > 1)
    assert (span == 1).sum() == span.sum(axis=1).sum() - (np.asarray(span) * (np.asarray(span) != 1)).sum()
    np.testing.assert_array_equal(np.isnan(stage.returns), np.isnan(np.asarray(stage.returns)))


def test_estimation_start_and_end_are_the_first_and_last_clean_estimation_dates(study):
    """The gather's first and last clean estimation day of each pair against the dates of its estimation mask."""
    stage = stages.run_pairs(study, study.events, study.prices)
    dates, estimation = np.asarray(stage.dates), np.asarray(stage.estimation)
    assert estimation.any(axis=1).all() and not estimation[:, 0].all()  # some pairs start after the window's day 1
    for i in range(len(stage)):
        clean = dates[i][estimation[i]]
        assert stage.estimation_start[i] == clean[0] and stage.estimation_end[i] == clean[-1]


@pytest.mark.parametrize("model", ["market", "garch"])
@pytest.mark.parametrize("gaps", [True, False])
def test_chunks_finished_beside_the_next_chunks_model_give_the_numbers_of_one_thread(study, model, gaps, monkeypatch):
    """With a threadsafe numba layer, chunk k's statistics and stage (``_finish_chunk``) run on a thread of their
    own while chunk k + 1 is gathered and fitted (two work buffers, taken in turn): every array and CAR table is what
    the chunks give one after another on the calling thread. Without gaps the chunks' ARs stay in the work buffers
    (bridging gaps makes arrays of its own), so a buffer reused too early would show."""
    import threading
    import time

    if not gaps:
        sim = simulate_study(n_events=15, n_firms=5, effect=0.01, rho=0.2, same_date=False, seed=8)
        study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", min_obs=200)
    study.model = model
    monkeypatch.setattr(stages, "CHUNK_PAIRS", 7)
    monkeypatch.setattr(stages, "concurrent_kernels", lambda: False)
    alone = stages.run_pairs(study, study.events, study.prices)
    finish, threads = stages._finish_chunk, []

    def recorded(*args):  # late: a buffer reused before its chunk is finished would be overwritten by then
        threads.append(threading.current_thread().name)
        time.sleep(0.05)
        return finish(*args)

    monkeypatch.setattr(stages, "concurrent_kernels", lambda: True)
    monkeypatch.setattr(stages, "_finish_chunk", recorded)
    beside = stages.run_pairs(study, study.events, study.prices)
    assert len(threads) == -(-len(study.events.frame) // 7) >= 4
    assert set(threads) == {"eventstudy-chunks_0"}
    pd.testing.assert_frame_equal(beside.pairs, alone.pairs)
    for name in (*ARRAYS, *PANELS, "ar_slot", "ar_stored", "event_sar", "event_normal"):
        np.testing.assert_array_equal(getattr(beside, name), getattr(alone, name), err_msg=name)
    for window, table in alone.cars.items():
        for column, values in table.items():
            np.testing.assert_array_equal(beside.cars[window][column], values, err_msg=f"{window} {column}")
