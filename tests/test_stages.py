"""The pair stage of disjoint subsets of pairs, concatenated, gives exactly the in-process study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine.stages import concat, finish, run_pairs
from eventstudy.events.catalog import EventSet
from eventstudy.simulate import simulate_study

TABLES = ("ar", "car", "parameters", "aar", "tests", "alignment", "events", "prices")


def _events_with_neighbours(sim) -> pd.DataFrame:
    """Every ticker gets a second event a few days earlier, so masking and contamination are exercised."""
    early = sim.events.assign(event_id=sim.events["event_id"] + "x", date=sim.events["date"] - pd.Timedelta(days=3))
    return pd.concat([sim.events, early], ignore_index=True)


@pytest.mark.parametrize("group_tests", ["all", "event+all"])
def test_subsets_by_ticker_concatenate_to_the_full_run(group_tests):
    sim = simulate_study(n_events=12, n_firms=4, effect=0.01, rho=0.2, same_date=False, seed=5)
    study = EventStudy(
        _events_with_neighbours(sim), sim.prices, market=sim.market, calendar="data", group_tests=group_tests
    )
    expected = study.fit()
    assert (expected.car["contaminated"] != "").any()
    frame = study.events.frame
    tickers = np.array(study.events.tickers)
    parts = []
    for chunk in np.array_split(np.random.default_rng(0).permutation(tickers), 3)[::-1]:
        subset = EventSet(frame[frame["ticker"].isin(chunk)])
        prices = study.prices[study.prices["ticker"].isin([*chunk, sim.market])]
        parts.append(run_pairs(study, subset, prices))
    stage = concat(parts)
    np.testing.assert_array_equal(stage.index, np.arange(len(frame)))
    got = finish(study, stage)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)


def test_finish_releasing_the_stage_lets_its_day_arrays_go_and_changes_no_table():
    sim = simulate_study(n_events=6, n_firms=4, effect=0.01, rho=0.2, same_date=True, seed=2)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data")
    kept, released = (run_pairs(study, study.events, study.prices) for _ in range(2))
    assert released.estimation_normal is not None  # one date: Binder's systems need them
    expected, got = finish(study, kept), finish(study, released, release=True)
    assert kept.ar_stored is not None and released.ar_stored is None and released.estimation is None
    assert released.estimation_normal is None
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)
