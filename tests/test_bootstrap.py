"""The wild cluster bootstrap of the CAAR (eventstudy.inference.bootstrap) against independent calculations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.inference.bootstrap import wild_bootstrap_caar
from eventstudy.simulate import simulate_study


def _panel(n_pairs: int, n_dates: int, length: int, rng, effect: float = 0.0, rho: float = 0.3):
    """``n_pairs`` pairs with windows of ``length`` days starting on random dates among ``n_dates`` sessions,
    a common shock per date (correlation ``rho``), some missing returns."""
    days = pd.bdate_range("2020-01-01", periods=n_dates + length).to_numpy()
    start = rng.integers(0, n_dates, n_pairs)
    pos = start[:, None] + np.arange(length)[None, :]
    common = rng.normal(size=n_dates + length)
    ar = 0.02 * (np.sqrt(rho) * common[pos] + np.sqrt(1 - rho) * rng.normal(size=pos.shape)) + effect
    ar[rng.random(ar.shape) < 0.05] = np.nan
    return ar, days[pos]


def _enumerated_p(ar: np.ndarray, dates: np.ndarray) -> float:
    """Exact p over every sign pattern, one pattern at a time, from a pandas group sum of the day sums."""
    frame = pd.DataFrame({"ar": ar.ravel(), "date": dates.ravel()}).dropna()
    sums = frame.groupby("date")["ar"].sum().to_numpy()
    observed = abs(sums.sum())
    hits = [
        abs(sum(v * s for v, s in zip(signs, sums, strict=True))) >= observed * (1 - 1e-10)
        for signs in itertools.product((-1, 1), repeat=len(sums))
    ]
    return sum(hits) / len(hits)


def test_exact_enumeration_matches_itertools():
    rng = np.random.default_rng(1)
    for n_dates in (1, 3, 6, 9):
        ar, dates = _panel(12, n_dates, 2, rng, effect=0.004)
        res = wild_bootstrap_caar(ar, dates, draws=999, seed=0)
        d = len(np.unique(dates[np.isfinite(ar)]))
        assert 2**d <= 999
        assert res.p_value == pytest.approx(_enumerated_p(ar, dates), abs=1e-12)
        assert res.p_value >= 2 / 2**d  # the floor of the docstring
        assert res.statistic == pytest.approx(np.nansum(ar) / 12)  # the CAAR = mean CAR
        assert res.n == 12


def test_random_draws_approach_the_exact_p_and_reproduce():
    rng = np.random.default_rng(2)
    ar, dates = _panel(40, 12, 3, rng, effect=0.002)
    assert len(np.unique(dates[np.isfinite(ar)])) == 14  # 2^14 = 16384 patterns > the draws: Monte Carlo
    exact = _enumerated_p(ar, dates)
    res = wild_bootstrap_caar(ar, dates, draws=8000, seed=7)
    assert abs(res.p_value - exact) < 3 * np.sqrt(exact * (1 - exact) / 8000) + 1 / 8000
    assert wild_bootstrap_caar(ar, dates, draws=8000, seed=7) == res  # same seed, same p
    assert wild_bootstrap_caar(ar, dates, draws=8000, seed=8).p_value != res.p_value
    assert np.isnan(wild_bootstrap_caar(ar, dates, draws=0, seed=7).p_value)  # 0 draws: off


def test_two_dates_cannot_reject():
    """CAR[0,1] with every pair on one day 0: D = 2, p >= 2 / 4 however large the effect."""
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2021-03-01", periods=2).to_numpy()
    ar = rng.normal(0.05, 0.01, (30, 2))
    res = wild_bootstrap_caar(ar, np.tile(days, (30, 1)), draws=999, seed=0)
    assert res.p_value == 0.5 and res.statistic > 0.09


def test_size_and_power_with_many_dates():
    """200 groups of 30 pairs over 60 dates (common shock rho 0.3 per date, overlapping 3-day windows): the null
    rejects within the 99% Monte Carlo interval around 5%; +1% a day rejects almost always."""
    rng = np.random.default_rng(4)
    reps = 200
    null = [wild_bootstrap_caar(*_panel(30, 60, 3, rng), draws=499, seed=i).p_value for i in range(reps)]
    planted = [wild_bootstrap_caar(*_panel(30, 60, 3, rng, effect=0.01), draws=499, seed=i).p_value for i in range(50)]
    size, power = np.mean(np.array(null) < 0.05), np.mean(np.array(planted) < 0.05)
    half = 2.576 * np.sqrt(0.05 * 0.95 / reps)
    print(f"\nwild bootstrap: size {size:.3f}, power {power:.3f}")
    assert 0.05 - half <= size <= 0.05 + half
    assert power > 0.9


def test_study_writes_the_row_with_family_and_adjustments():
    sim = simulate_study(n_events=3, n_firms=8, rho=0.3, effect=0.03, seed=5)
    res = EventStudy(
        sim.events, sim.prices, market=sim.market, calendar="data", windows=[(0, 1)], placebo_draws=0, seed=3
    ).fit()
    rows = res.tests[res.tests["test"] == "wild_bootstrap"]
    assert len(rows) == 4 and (rows["family"] == "naive").all()
    # one shared day 0 and CAR[0,1]: D = 2 dates, 4 sign patterns, p in {0.5, 1} even with +3% on day 0
    assert set(rows["p_value"]) <= {0.5, 1.0} and rows["p_value"].min() == 0.5
    assert rows["p_holm"].notna().all() and rows["p_bh"].notna().all()
    car = res.car.loc[res.car["window"] == "0..1", "car"]
    assert rows.loc[rows["group"] == "all", "statistic"].iloc[0] == pytest.approx(car.mean())
    off = EventStudy(
        sim.events, sim.prices, market=sim.market, calendar="data", windows=[(0, 1)], placebo_draws=0, bootstrap_draws=0
    ).fit()
    assert off.tests.loc[off.tests["test"] == "wild_bootstrap", "p_value"].isna().all()
