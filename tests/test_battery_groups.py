"""The battery computed for every group at once against independent per-group calculations.

Each grouped test runs on ~50 random overlapping groups (the pooled group, tiny groups, an empty group, values
with NaNs) and every group's result is checked against scipy or the formula written out for that group alone.
The engine test checks that ``group_tests="event+all"`` gives each event exactly the pooled battery of a study
of that event alone.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eventstudy import EventStudy
from eventstudy.engine.placebo import _first_alike
from eventstudy.engine.statistics import (
    bmp_t_groups,
    csect_t_groups,
    kp_bmp_t_groups,
    patell_z_groups,
    time_series_t_groups,
)
from eventstudy.engine.volatility import csect_variance_groups, variance_ratio_groups
from eventstudy.inference.bhar import bhar_skew_t_groups
from eventstudy.inference.daily import daily_aar_t
from eventstudy.inference.groups import Groups
from eventstudy.inference.moments import group_day_means
from eventstudy.simulate import simulate_study

P, G = 240, 52


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    masks = rng.random((G, P)) < rng.uniform(0.02, 0.6, (G, 1))
    masks[0] = True  # the pooled group
    masks[1] = False  # an empty group
    masks[2] = np.arange(P) == 7  # one pair
    masks[3] = np.isin(np.arange(P), [3, 9])  # two pairs
    masks[4] = np.isin(np.arange(P), [3, 9, 11])
    masks[5] = masks[6] = np.isin(np.arange(P), [20, 21, 22, 23])  # equal values, no dispersion (below)
    car = rng.normal(0.01, 0.05, P)
    car[rng.random(P) < 0.1] = np.nan
    car[[20, 21, 22, 23]] = 0.1
    csar = car / rng.uniform(0.02, 0.06, P)
    dof = rng.integers(1, 240, P)
    ar_est = rng.normal(0, 0.02, (P, 60))
    ar_est[rng.random(ar_est.shape) < 0.1] = np.nan
    ar_est[50:60] = np.nan  # pairs without an estimation window
    ar_win = rng.normal(0.005, 0.03, (P, 4))
    ar_win[rng.random(ar_win.shape) < 0.15] = np.nan
    ar_win[100] = np.nan
    sigma = rng.uniform(0.01, 0.04, P)
    sigma[5] = np.nan
    bhar = rng.lognormal(0, 0.5, P) - 1.0
    bhar[rng.random(P) < 0.1] = np.nan
    return (
        masks,
        Groups.from_masks(masks),
        dict(
            car=car,
            csar=csar,
            dof=dof,
            ar_est=ar_est,
            ar_win=ar_win,
            sigma=sigma,
            bhar=bhar,
            rbar=rng.uniform(-0.02, 0.3, G),
        ),
    )


def _check(res, expected):
    stat, p, n = (np.array(v, dtype=float) for v in zip(*expected, strict=True))
    np.testing.assert_allclose(res.statistic, stat, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(res.p_value, p, rtol=1e-9, atol=1e-14, equal_nan=True)
    np.testing.assert_array_equal(res.n, n)


def _ttest(x):
    x = x[np.isfinite(x)]
    if len(x) < 2 or np.all(x == x[0]):
        return np.nan, np.nan, len(x)
    ref = stats.ttest_1samp(x, 0.0)
    return ref.statistic, ref.pvalue, len(x)


def test_csect_and_bmp_are_scipy_one_sample_t_per_group(data):
    masks, groups, d = data
    _check(csect_t_groups(d["car"], groups), [_ttest(d["car"][m]) for m in masks])
    _check(bmp_t_groups(d["csar"], groups), [_ttest(d["csar"][m]) for m in masks])
    assert np.isnan(csect_t_groups(d["car"], groups).statistic[[1, 2, 5, 6]]).all()


def test_kp_bmp_is_bmp_times_the_kolari_pynnonen_factor_per_group(data):
    masks, groups, d = data
    expected = []
    for m, rbar in zip(masks, d["rbar"], strict=True):
        t, _, n = _ttest(d["csar"][m])
        t = t * np.sqrt((1 - rbar) / (1 + (n - 1) * rbar)) if n >= 1 and 1 + (n - 1) * rbar > 0 else np.nan
        expected.append((t, 2 * stats.t.sf(abs(t), n - 1) if np.isfinite(t) else np.nan, n))
    _check(kp_bmp_t_groups(d["csar"], d["rbar"], groups), expected)


def test_patell_z_by_hand_per_group(data):
    masks, groups, d = data
    expected = []
    for m in masks:
        ok = m & np.isfinite(d["csar"]) & (d["dof"] > 2)
        dof = d["dof"][ok].astype(float)
        z = d["csar"][ok].sum() / np.sqrt(np.sum(dof / (dof - 2))) if ok.any() else np.nan
        expected.append((z, 2 * stats.norm.sf(abs(z)) if ok.any() else np.nan, ok.sum()))
    _check(patell_z_groups(d["csar"], d["dof"], groups), expected)


def test_time_series_t_is_brown_warner_on_each_groups_portfolio(data):
    masks, groups, d = data
    expected = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of days without a return
        for m in masks:
            aar_est = np.nanmean(d["ar_est"][m], axis=0) if m.any() else np.array([])
            aar_win = np.nanmean(d["ar_win"][m], axis=0) if m.any() else np.array([])
            aar_est, aar_win = aar_est[np.isfinite(aar_est)], aar_win[np.isfinite(aar_win)]
            n = np.isfinite(d["ar_win"][m]).any(axis=1).sum()
            if len(aar_est) < 3 or len(aar_win) == 0:
                expected.append((np.nan, np.nan, n))
                continue
            t = aar_win.sum() / (np.sqrt(len(aar_win)) * np.std(aar_est, ddof=1))
            expected.append((t, 2 * stats.t.sf(abs(t), len(aar_est) - 1), n))
    _check(time_series_t_groups(d["ar_est"], d["ar_win"], groups), expected)


def test_daily_aar_t_per_group_row(data):
    masks, groups, d = data
    aar, n = group_day_means(d["ar_win"], groups)
    aar_est = group_day_means(d["ar_est"], groups)[0]
    t, p = daily_aar_t(aar, aar_est)
    for g, m in enumerate(masks):
        np.testing.assert_array_equal(n[g], np.isfinite(d["ar_win"][m]).sum(axis=0))
        one_t, one_p = daily_aar_t(aar[g], aar_est[g])
        np.testing.assert_allclose(t[g], one_t, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(p[g], one_p, rtol=1e-12, equal_nan=True)
        if m.sum() > 5:  # the one-day Brown-Warner t by hand
            s = np.std(aar_est[g][np.isfinite(aar_est[g])], ddof=1)
            np.testing.assert_allclose(t[g], np.nanmean(d["ar_win"][m], axis=0) / s, rtol=1e-10)


def test_variance_ratio_stouffer_of_per_pair_f_tests(data):
    masks, groups, d = data
    expected = []
    for m in masks:
        z_i = []
        for i in np.flatnonzero(m):
            x = d["ar_win"][i][np.isfinite(d["ar_win"][i])]
            if len(x) >= 2 and np.isfinite(d["sigma"][i]) and d["dof"][i] > 0:
                cdf = stats.f.cdf(x.var(ddof=1) / d["sigma"][i] ** 2, len(x) - 1, d["dof"][i])
                z_i.append(stats.norm.ppf(np.clip(cdf, 1e-300, 1 - 1e-16)))
        z = np.sum(z_i) / np.sqrt(len(z_i)) if z_i else np.nan
        expected.append((z, 2 * stats.norm.sf(abs(z)) if z_i else np.nan, len(z_i)))
    _check(variance_ratio_groups(d["ar_win"], d["sigma"], d["dof"], groups), expected)


def test_csect_variance_chi2_per_group(data):
    masks, groups, d = data
    expected = []
    for m in masks:
        ok = m & np.isfinite(d["csar"]) & (d["dof"] > 2)
        n = ok.sum()
        if n < 2:
            expected.append((np.nan, np.nan, n))
            continue
        dof = d["dof"][ok].astype(float)
        ratio = np.var(d["csar"][ok], ddof=1) / np.mean(dof / (dof - 2))
        chi = (n - 1) * ratio
        expected.append((ratio, min(2 * min(stats.chi2.cdf(chi, n - 1), stats.chi2.sf(chi, n - 1)), 1.0), n))
    _check(csect_variance_groups(d["csar"], d["dof"], groups), expected)


def test_bhar_skew_t_is_lyon_barber_tsai_per_group(data):
    masks, groups, d = data
    expected = []
    for m in masks:
        x = d["bhar"][m][np.isfinite(d["bhar"][m])]
        n = len(x)
        if n < 3:
            expected.append((np.nan, np.nan, n))
            continue
        sd = x.std(ddof=1)
        s = x.mean() / sd
        gamma = stats.skew(x, bias=True) * (x.std(ddof=0) / sd) ** 3  # sum (x - mean)^3 / (n sd^3)
        t = np.sqrt(n) * (s + gamma * s**2 / 3 + gamma / (6 * n))
        expected.append((t, 2 * stats.t.sf(abs(t), n - 1), n))
    _check(bhar_skew_t_groups(d["bhar"], groups), expected)


def test_groups_with_the_same_pairs_are_found(data):
    masks, groups, _ = data
    alike = _first_alike(groups)
    assert alike[6] == 5 and alike[5] == 5
    keys = [m.tobytes() for m in masks]
    assert all(alike[g] == keys.index(keys[g]) for g in range(G))


@pytest.fixture(scope="module")
def staggered():
    sim = simulate_study(n_events=5, n_firms=4, same_date=False, spread=3, effect=0.01, seed=31)
    events = sim.events.copy()
    again = events[events["event_id"] == events["event_id"].iloc[0]].copy()  # the same tickers at another date
    again["event_id"] = "AGAIN"
    again["date"] = pd.Timestamp(sim.prices["date"].sort_values().unique()[-25])
    events = pd.concat([events, again], ignore_index=True)
    options = dict(market=sim.market, calendar="data", windows=[(0, 1), (-2, 2)], mask="none", placebo_draws=0)
    return events, sim.prices, options


def test_event_groups_equal_single_event_studies(staggered):
    events, prices, options = staggered
    res = EventStudy(events, prices, group_tests="event+all", **options).fit()
    columns = ["measure", "window", "test", "statistic", "p_value", "n", "rbar"]
    ids = list(dict.fromkeys(events["event_id"]))
    assert list(dict.fromkeys(res.tests["group"])) == ["all", *ids]
    for event_id in ids:
        alone = EventStudy(events[events["event_id"] == event_id], prices, group_tests="all", **options).fit()
        mine = res.tests[res.tests["group"] == event_id][columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone.tests[columns].reset_index(drop=True), rtol=1e-10, atol=1e-14)
        aar = res.aar[res.aar["group"] == event_id].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(aar, alone.aar.drop(columns="group").reset_index(drop=True), rtol=1e-10)
