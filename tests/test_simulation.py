"""The engine on simulated markets: planted effects recovered, 5% size on noise, honesty under clustering.

Each simulated event has its own firms, so the per-event test rows are independent samples: one fit gives the
rejection rate of every test over many samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine.statistics import TEST_NAMES
from eventstudy.simulate import simulate_study


def _fit(sim, **kwargs):
    return EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", **kwargs).fit()


def _rejection_rates(res, measure: str = "return", window: str = "0..0") -> pd.Series:
    rows = res.tests[
        (res.tests["group"] != "all") & (res.tests["measure"] == measure) & (res.tests["window"] == window)
    ]
    return (rows["p_value"] < 0.05).groupby(rows["test"]).mean()


def test_planted_effect_is_recovered():
    sim = simulate_study(n_events=10, n_firms=30, effect=0.03, effect_days=(0, 1), seed=2)
    res = _fit(sim, windows=[(0, 1), (2, 5)])
    car = res.car.groupby("window")["car"].mean()
    assert car["0..1"] == pytest.approx(0.06, abs=0.005)
    assert car["2..5"] == pytest.approx(0.0, abs=0.005)
    bhar = res.car[res.car["window"] == "0..1"]["bhar"].mean()
    assert bhar == pytest.approx(0.06, abs=0.01)
    pooled_aar = res.aar[res.aar["group"] == "all"]
    aar = pooled_aar[pooled_aar["window"] == "-10..10"].set_index("day")["aar"]
    assert aar[0] == pytest.approx(0.03, abs=0.003) and aar[1] == pytest.approx(0.03, abs=0.003)
    # caar cumulates from each window's first day: [0, 1] sums the planted days, [2, 5] starts afresh at day 2
    caar = pooled_aar.set_index(["window", "day"])["caar"]
    assert caar[("0..1", 1)] == pytest.approx(aar[0] + aar[1])
    assert caar[("2..5", 2)] == pytest.approx(aar[2]) and caar[("2..5", 5)] == pytest.approx(aar.loc[2:5].sum())
    assert caar[("-10..10", 1)] == pytest.approx(aar.loc[-10:1].sum())
    tests = res.tests[res.tests["measure"] == "return"]
    pooled = tests[(tests["group"] == "all") & (tests["window"] == "0..1")].set_index("test")
    assert (pooled.loc[list(TEST_NAMES), "p_value"] < 1e-4).all(), pooled
    params = res.parameters
    assert (params["status"] == "ok").all() and (params["n_obs"] == 240).all()


def test_size_is_about_five_percent_on_noise():
    sim = simulate_study(n_events=300, n_firms=20, effect=0.0, rho=0.0, seed=3)
    res = _fit(sim, windows=[(0, 0), (0, 4)])
    rates = _rejection_rates(res)
    # 300 independent samples: a 5% test rejects within about 2-9% (binomial sd 1.3 pp)
    assert set(TEST_NAMES) <= set(rates.index)
    for test in set(TEST_NAMES) - {"sign"}:
        assert 0.02 <= rates[test] <= 0.09, (test, rates[test])
    # the exact binomial sign test with N = 20 is conservative (its true size is 4.1%)
    assert rates["sign"] <= 0.07
    # the volatility tests hold their size too: the BMP cross-sectional variance test on day 0, the pooled
    # variance-ratio F test on a five-day window
    assert 0.02 <= _rejection_rates(res, "volatility")["csect_variance"] <= 0.09
    assert 0.02 <= _rejection_rates(res, "volatility", "0..4")["variance_ratio"] <= 0.09


def test_clustered_dates_naive_t_over_rejects_kp_does_not():
    sim = simulate_study(n_events=200, n_firms=20, effect=0.0, rho=0.3, seed=4)
    res = _fit(sim, windows=[(0, 0)])
    rates = _rejection_rates(res)
    assert rates["csect_t"] > 0.25  # the naive test rejects a true null far too often
    assert rates["bmp_t"] > 0.25
    assert rates["kp_bmp_t"] <= 0.09  # the Kolari-Pynnönen adjustment restores the size
    assert rates["time_series_t"] <= 0.09
    rbar = res.tests[(res.tests["group"] != "all") & (res.tests["measure"] == "return")]["rbar"]
    assert rbar.mean() == pytest.approx(0.3, abs=0.03)


def test_missing_price_gives_a_trade_to_trade_return_after_the_gap():
    """Dropping day 0 of one firm: day 0 has no return, day 1 carries the two-session return, nothing else moves."""
    sim = simulate_study(n_events=1, n_firms=3, effect=0.05, seed=5)
    day0 = sim.events["date"].iloc[0]
    prices = sim.prices[~((sim.prices["ticker"] == "S00000") & (sim.prices["date"] == day0))]
    full = _fit(sim, windows=[(0, 0), (0, 1)])
    gap = EventStudy(sim.events, prices, market=sim.market, calendar="data", windows=[(0, 0), (0, 1)]).fit()
    a = full.ar.set_index(["ticker", "day"])
    b = gap.ar.set_index(["ticker", "day"])
    assert np.isnan(b.loc[("S00000", 0), "return"]) and b.loc[("S00000", 0), "span"] == 0
    two_day = (1 + a.loc[("S00000", 0), "return"]) * (1 + a.loc[("S00000", 1), "return"]) - 1
    assert b.loc[("S00000", 1), "return"] == pytest.approx(two_day, rel=1e-12)
    assert b.loc[("S00000", 1), "span"] == 2
    # its normal return is the model's expectation summed over both sessions
    normal = a.loc[("S00000", 0), "normal_return"] + a.loc[("S00000", 1), "normal_return"]
    assert b.loc[("S00000", 1), "normal_return"] == pytest.approx(normal, rel=1e-12)
    assert b.loc[("S00000", 2), "return"] == pytest.approx(a.loc[("S00000", 2), "return"])
    assert b.loc[("S00001", 0), "return"] == pytest.approx(a.loc[("S00001", 0), "return"])
    car = gap.car.set_index(["ticker", "window"])
    assert car.loc[("S00000", "0..1"), "n_days"] == 1 and bool(car.loc[("S00000", "0..1"), "complete"])
    assert car.loc[("S00000", "0..1"), "car"] == pytest.approx(b.loc[("S00000", 1), "ar"])
    assert not bool(car.loc[("S00000", "0..0"), "complete"]) and np.isnan(car.loc[("S00000", "0..0"), "car"])


def test_short_history_is_reported_and_fallback_is_disclosed():
    sim = simulate_study(n_events=1, n_firms=4, seed=6)
    listed = {"S00000": sim.events["date"].iloc[0] - pd.Timedelta(days=70)}  # about 50 sessions of history
    res = _fit(sim, listed=listed)
    row = res.parameters.set_index("ticker").loc["S00000"]
    assert row["status"] == "insufficient" and "below the minimum of 60" in row["reason"]
    assert "S00000" not in set(res.car["ticker"])
    res = _fit(sim, listed=listed, on_insufficient="market-adjusted")
    row = res.parameters.set_index("ticker").loc["S00000"]
    assert row["status"] == "fallback" and row["model"] == "market-adjusted"
    assert "S00000" in set(res.car["ticker"])
