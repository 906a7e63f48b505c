"""The pair stage stores normal returns and SARs for the days after the estimation window only.

The estimation days' SARs are AR / sigma_i for every model (C = 1), computed where they are read (GRANK divides as
it ranks: the same numbers as a stored array); their normal returns are kept exactly where one of Binder's systems
(a group of pairs on one day 0) can read them, in a chunked run and in subsets concatenated as on Dask too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventstudy.engine.pair_stage as pair_stage
from eventstudy import EventStudy
from eventstudy.engine.rank_tests import corrado_rank_windows, grank_windows
from eventstudy.engine.ranking import RankedRows
from eventstudy.engine.stages import concat, finish, run_pairs
from eventstudy.engine.statistics import standardized_ar
from eventstudy.events.catalog import EventSet
from eventstudy.inference.groups import Groups
from eventstudy.simulate import simulate_study


def _study(same_date: bool, group_tests: str = "all", **options) -> EventStudy:
    sim = simulate_study(n_events=6, n_firms=5, effect=0.01, rho=0.2, same_date=same_date, seed=3)
    return EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", group_tests=group_tests, **options)


def _binder(results) -> pd.DataFrame:
    tests = results.tests
    return tests[tests["test"].isin(["binder_wald", "binder_caar_z"]) & (tests["group"] == "all")]


@pytest.mark.parametrize("model", ["market", "garch"])
def test_the_stage_holds_event_days_and_estimation_sars_are_the_quotient(model):
    study = _study(same_date=False, model=model)
    stage = run_pairs(study, study.events, study.prices)
    est_days = (stage.days >= study.windows.estimation[0]) & (stage.days <= study.windows.estimation[1])
    assert stage.event_start == est_days.sum() and stage.active.sum() > 20
    assert stage.event_sar.shape == stage.event_normal.shape == (len(stage), (~est_days).sum())
    assert model != "garch" or (stage.model == "garch").any()
    assert stage.estimation_normal is None  # pooled battery only, pairs on several dates: no Binder system
    with pytest.raises(ValueError, match="event days only"):
        np.asarray(stage.normal)
    report = slice(stage.event_start, len(stage.days))
    np.testing.assert_array_equal(stage.normal[stage.active, report], stage.event_normal[stage.active])
    sar = np.asarray(stage.sar)
    reference = standardized_ar(stage.ar, stage.sigma, np.full(stage.ar.shape, np.nan), est_days)  # C = 1 there
    np.testing.assert_array_equal(sar[:, est_days], reference[:, est_days])
    np.testing.assert_array_equal(sar[:, ~est_days], stage.event_sar)
    np.testing.assert_array_equal(stage.sar[np.flatnonzero(stage.active), report], stage.event_sar[stage.active])


def test_grank_of_the_scaled_ar_order_equals_grank_of_stored_sars():
    rng = np.random.default_rng(5)
    n_pairs, width = 400, 60
    ar = np.round(rng.normal(0, 1, (n_pairs, width)), 1) * 0.01  # ties within rows
    ar[rng.random(ar.shape) < 0.1] = np.nan
    clean = rng.random(ar.shape) < 0.9
    sigma = rng.uniform(0.5, 3.0, n_pairs)
    sigma[:3] = 1e-310  # quotients that overflow to inf: the ARs' order no longer sorts them
    sigma[3], sigma[4] = np.nan, 0.0
    ar[5, :2], clean[5, :2], sigma[5] = [0.1, np.nextafter(0.1, 1.0)], True, 11.0  # two ARs, one quotient
    ar_est = np.where(clean, ar, np.nan)
    with np.errstate(all="ignore"):
        stored = ar / sigma[:, None]
    assert stored[5, 0] == stored[5, 1] and ar[5, 0] != ar[5, 1] and np.isinf(stored[:3][clean[:3]]).any()
    ar_ranked = RankedRows.of(ar_est)
    old = RankedRows.of(stored, valid=clean, like=ar_ranked)
    new = RankedRows.of(ar_est, valid=clean, like=ar_ranked, scale=sigma)
    assert (old.count[:3] != ar_ranked.count[:3]).any()
    np.testing.assert_array_equal(new.order, old.order)
    np.testing.assert_array_equal(new.count, old.count)
    csars = [rng.normal(0.3, 1, n_pairs), rng.normal(0, 1, n_pairs)]
    members = [Groups.from_masks(rng.random((3, n_pairs)) < 0.5), Groups.from_masks(rng.random((2, n_pairs)) < 0.7)]
    for got, expected in zip(grank_windows(new, csars, members), grank_windows(old, csars, members), strict=True):
        np.testing.assert_array_equal(got.statistic, expected.statistic)
        np.testing.assert_array_equal(got.p_value, expected.p_value)
        np.testing.assert_array_equal(got.n, expected.n)
        assert np.isfinite(got.statistic).all()
    with pytest.raises(ValueError, match="without a scale"):  # Corrado ranks the ARs themselves
        corrado_rank_windows(new, ar, [np.arange(2)], members[:1])


def test_pairs_on_one_date_keep_the_estimation_normal_returns_in_chunks(monkeypatch):
    study = _study(same_date=True)
    whole = run_pairs(study, study.events, study.prices)
    assert whole.estimation_normal is not None
    forced = run_pairs(study, study.events, study.prices, estimation_normal=True)
    np.testing.assert_array_equal(np.asarray(whole.normal), np.asarray(forced.normal))
    expected = finish(study, whole)
    assert np.isfinite(_binder(expected)["statistic"]).all()
    monkeypatch.setattr(pair_stage, "CHUNK_PAIRS", 7)
    chunked = run_pairs(study, study.events, study.prices)
    np.testing.assert_array_equal(np.asarray(chunked.normal), np.asarray(whole.normal))
    pd.testing.assert_frame_equal(finish(study, chunked).tests, expected.tests, check_exact=True)


def test_a_later_chunk_on_another_date_drops_them(monkeypatch):
    study = _study(same_date=True)
    frame = study.events.frame
    late = frame.iloc[-1:].assign(event_id="late", date=frame["date"].iloc[-1] - pd.Timedelta(days=7))
    study.events = EventSet(pd.concat([frame, late], ignore_index=True))
    expected = study.fit()
    monkeypatch.setattr(pair_stage, "CHUNK_PAIRS", 7)
    stage = run_pairs(study, study.events, study.prices)
    assert stage.estimation_normal is None and stage.active[-1]
    assert _binder(expected)["statistic"].isna().all()
    pd.testing.assert_frame_equal(finish(study, stage).tests, expected.tests, check_exact=True)


def test_event_groups_with_two_tickers_keep_them():
    study = _study(same_date=False, group_tests="event+all")
    assert run_pairs(study, study.events, study.prices).estimation_normal is not None


@pytest.mark.parametrize("same_date", [True, False])
def test_subsets_keep_them_exactly_when_the_full_study_reads_them(same_date):
    study = _study(same_date=same_date)
    expected = study.fit()
    frame = study.events.frame
    first = frame["event_id"] == frame["event_id"].iloc[0]  # one event: one date in either study
    parts = []
    for rows in (~first, first):
        tickers = [*frame.loc[rows, "ticker"].unique(), study.market["*"]]
        parts.append(run_pairs(study, EventSet(frame[rows]), study.prices[study.prices["ticker"].isin(tickers)]))
    assert parts[1].estimation_normal is not None and (parts[0].estimation_normal is not None) == same_date
    stage = concat(parts)
    assert (stage.estimation_normal is not None) == same_date
    assert np.isfinite(_binder(expected)["statistic"]).all() == same_date
    got = finish(study, stage)
    for name in ("ar", "car", "tests"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)
