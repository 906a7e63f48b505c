"""The inference layer's group tests against independent calculations (statsmodels, linearmodels, loops, hand work)."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from eventstudy.engine.statistics import time_series_t
from eventstudy.inference.bhar import bhar_skew_t
from eventstudy.inference.binder import binder_sur
from eventstudy.inference.calendar_time import calendar_time_nw, calendar_time_z, portfolio_series
from eventstudy.inference.daily import aar_sd, daily_aar_t
from eventstudy.inference.multitest import adjust_p_values, benjamini_hochberg, holm
from eventstudy.inference.randomization import admissible_shifts, draw_shifts, empirical_p

SESSIONS = pd.bdate_range("2023-01-02", periods=400).values


def _staggered(n_pairs=12, length=5, seed=0):
    """Pairs with staggered day 0s: window ARs/dates (N, L) and estimation residuals/dates (N, 60)."""
    rng = np.random.default_rng(seed)
    day0 = rng.integers(150, 170, n_pairs)
    common = rng.normal(size=len(SESSIONS))
    noise = 0.5 * common[None, :] + rng.normal(size=(n_pairs, len(SESSIONS)))
    win = day0[:, None] + np.arange(length)[None, :]
    est = day0[:, None] + np.arange(-80, -20)[None, :]
    ar, ar_est = noise[np.arange(n_pairs)[:, None], win], noise[np.arange(n_pairs)[:, None], est]
    ar[0, 1] = np.nan
    ar_est[1, :7] = np.nan
    return ar, SESSIONS[win], ar_est, SESSIONS[est]


def test_portfolio_series_is_the_calendar_day_mean():
    ar, dates, _, _ = _staggered()
    days, p, n, _ = portfolio_series(ar, dates)
    frame = pd.DataFrame({"date": dates.ravel(), "ar": ar.ravel()}).dropna()
    expected = frame.groupby("date")["ar"].agg(["mean", "size"])
    assert np.array_equal(days, expected.index.values)
    assert p == pytest.approx(expected["mean"].to_numpy())
    assert np.array_equal(n, expected["size"].to_numpy())


def test_calendar_time_nw_matches_statsmodels_hac():
    ar, dates, _, _ = _staggered(n_pairs=30, length=4, seed=1)
    _, p, _, _ = portfolio_series(ar, dates)
    ols = sm.OLS(p, np.ones(len(p))).fit(cov_type="HAC", cov_kwds={"maxlags": 3, "use_correction": False})
    res = calendar_time_nw(ar, dates, lags=3)
    assert res.statistic == pytest.approx(ols.tvalues[0], rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(ols.tvalues[0]), len(p) - 1))
    assert res.n == 30
    assert np.isnan(calendar_time_nw(ar[:, :1][:2], dates[:, :1][:2], lags=0).statistic)  # too few dates


def test_calendar_time_z_loop():
    ar, dates, ar_est, dates_est = _staggered(seed=2)
    est = pd.DataFrame({"pair": np.repeat(np.arange(len(ar)), ar_est.shape[1]), "date": dates_est.ravel()})
    table = est.assign(ar=ar_est.ravel()).pivot(index="date", columns="pair", values="ar")
    sp, var = [], []
    for day in np.unique(dates[np.isfinite(ar)]):
        members = [i for i in range(len(ar)) if np.any((dates[i] == day) & np.isfinite(ar[i]))]
        p = np.mean([ar[i][dates[i] == day][0] for i in members])
        series = table[members].dropna().mean(axis=1)  # dates where every member has a residual
        m = len(series)
        sp.append(p / series.std(ddof=1))
        var.append((m - 1) / (m - 3))
    z = np.sum(sp) / np.sqrt(np.sum(var))
    res = calendar_time_z(ar, dates, ar_est, dates_est)
    assert res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_calendar_time_z_on_one_date_is_the_calendar_brown_warner_test():
    """All pairs on one date: p_d is the AAR and s_d the sd of the estimation-period AAR."""
    rng = np.random.default_rng(3)
    ar_est = rng.normal(size=(6, 100))
    ar = rng.normal(size=(6, 2))
    dates_est = np.tile(SESSIONS[:100], (6, 1))
    dates = np.tile(SESSIONS[110:112], (6, 1))
    s = ar_est.mean(axis=0).std(ddof=1)
    z = (ar.mean(axis=0) / s).sum() / np.sqrt(2 * 99 / 97)
    assert calendar_time_z(ar, dates, ar_est, dates_est).statistic == pytest.approx(z)


def _binder_data(seed=1, n=4, l1=120, l2=3):
    rng = np.random.default_rng(seed)
    t = l1 + l2
    market = rng.normal(0, 0.01, t)
    common = rng.normal(size=t)
    noise = 0.02 * (np.sqrt(0.3) * common[:, None] + np.sqrt(0.7) * rng.normal(size=(t, n)))
    y = 0.001 + rng.uniform(0.5, 1.5, n)[None, :] * market[:, None] + noise
    y[l1:] += 0.01
    x = np.column_stack([np.ones(t), market])
    return y, x, l1, l2


def test_binder_closed_form_matches_linearmodels_sur():
    from linearmodels.system import SUR

    y, x, l1, l2 = _binder_data()
    n = y.shape[1]
    fit = binder_sur(y[:l1], x[:l1], y[l1:], x[l1:])
    dummies = np.zeros((len(y), l2))
    dummies[l1 + np.arange(l2), np.arange(l2)] = 1.0
    exog = pd.DataFrame(np.column_stack([x, dummies]), columns=["const", "mkt", *[f"d{k}" for k in range(l2)]])
    equations = {f"y{i}": {"dependent": pd.Series(y[:, i]), "exog": exog} for i in range(n)}
    res = SUR(equations).fit(method="gls", cov_type="unadjusted", debiased=True)
    names = [f"y{i}_d{k}" for i in range(n) for k in range(l2)]
    gamma = res.params[names].to_numpy().reshape(n, l2).T
    assert fit.gamma == pytest.approx(gamma, abs=1e-12)
    b, cov = res.params.to_numpy(), res.cov.to_numpy()
    where = [list(res.params.index).index(name) for name in names]
    r_joint = np.zeros((len(names), len(b)))
    r_joint[np.arange(len(names)), where] = 1.0
    r_mean = np.zeros((1, len(b)))
    r_mean[0, where] = 1.0 / n
    wald = [float((r @ b) @ np.linalg.solve(r @ cov @ r.T, r @ b)) for r in (r_joint, r_mean)]
    nu = l1 - 2
    f = wald[0] * (nu - n + 1) / (nu * n * l2)  # Hotelling's F of the joint Wald statistic
    assert fit.joint.statistic == pytest.approx(f, rel=1e-9)
    assert fit.joint.p_value == pytest.approx(stats.f.sf(f, n * l2, nu - n + 1), rel=1e-9)
    assert fit.average.statistic**2 == pytest.approx(wald[1], rel=1e-9)
    assert fit.average.p_value == pytest.approx(stats.chi2.sf(wald[1], 1), rel=1e-9)
    assert fit.n_obs == l1 and fit.joint.n == n


def test_binder_gamma_is_the_out_of_sample_abnormal_return():
    y, x, l1, _ = _binder_data(seed=4, n=3)
    fit = binder_sur(y[:l1], x[:l1], y[l1:], x[l1:])
    for i in range(3):
        ols = sm.OLS(y[:l1, i], x[:l1]).fit()
        assert fit.gamma[:, i] == pytest.approx(y[l1:, i] - x[l1:] @ ols.params)
        assert fit.sigma[i, i] == pytest.approx(ols.mse_resid)
    assert binder_sur(y[:5], x[:5], y[l1:], x[l1:]) is None  # fewer days than tickers + regressors


def test_bhar_skew_t_hand_worked():
    bhar = np.array([0.10, -0.05, 0.30, 0.02, -0.08])
    # by hand: mean 0.058; sum of squared deviations 0.09248; sum of cubed deviations 0.01030392
    sd = np.sqrt(0.09248 / 4)  # 0.152053
    gamma = 0.01030392 / (5 * sd**3)  # 0.586207
    s = 0.058 / sd  # 0.381447
    t = np.sqrt(5) * (s + gamma * s**2 / 3 + gamma / (6 * 5))
    res = bhar_skew_t(bhar)
    assert t == pytest.approx(0.960209, abs=1e-6)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(t, 4))
    assert np.isnan(bhar_skew_t(np.array([0.1, np.nan, 0.2])).statistic)


def test_daily_aar_t_is_the_one_day_brown_warner_t():
    rng = np.random.default_rng(7)
    ar_est, ar_win = rng.normal(size=(8, 120)), rng.normal(size=(8, 5))
    t, p = daily_aar_t(ar_win.mean(axis=0), ar_est.mean(axis=0))
    for d in range(5):
        ref = time_series_t(ar_est, ar_win[:, d : d + 1])
        assert t[d] == pytest.approx(ref.statistic) and p[d] == pytest.approx(ref.p_value)


def test_daily_aar_t_of_many_groups_takes_each_p_value_as_one_call_does(monkeypatch):
    """Above ``min_items`` the Student t's sf is computed on all threads: each p-value as one call gives it."""
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)  # split on any machine
    rng = np.random.default_rng(3)
    aar_est, aar = rng.normal(size=(700, 60)), rng.normal(size=(700, 150))
    aar_est[:5, 2:] = np.nan  # fewer than 3 days: no t
    aar_est[5:40, :20] = np.nan  # 40 days: another df
    aar[7, 3] = np.nan
    t, p = daily_aar_t(aar, aar_est)
    s, days = aar_sd(aar_est)
    want = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(np.nan_to_num(t)), np.maximum(days - 1, 1)[:, None]), np.nan)
    assert t.size >= 100_000 and np.isnan(p[:5]).all() and np.isfinite(p[5:]).sum() == 695 * 150 - 1
    np.testing.assert_array_equal(p, want)


def test_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    tests = pd.DataFrame(
        {
            "group": ["E1", "E1", "E2", "E2", "all", "all"],
            "window": ["0..0", "-1..1", "0..0", "-1..1", "0..0", "-1..1"],
            "test": "csect_t",
            "p_value": [*p, 0.02, np.nan],
        }
    )
    out = adjust_p_values(tests)
    # Holm: sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01, max(0.04, 3*0.03), max(0.09, 2*0.04), max(0.09, 0.20)
    assert out["p_holm"].iloc[:4].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # BH: p_(i) m / i = 0.04, 0.06, 0.0533, 0.20, then the running minimum from the top
    assert out["p_bh"].iloc[:4].tolist() == pytest.approx([0.04, 0.0533333, 0.0533333, 0.20])
    # the pooled rows are their own family; a missing p stays missing
    assert out["p_holm"].iloc[4] == pytest.approx(0.02) and np.isnan(out["p_bh"].iloc[5])


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(9).uniform(0, 0.2, 40) ** 2
    p[[3, 7]] = p[5]  # ties
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])


def test_admissible_shifts_brute_force():
    rng = np.random.default_rng(11)
    n_grid, span, reach = 300, (-2, 3), (-60, 10)
    positions, columns = np.array([150, 150, 170]), np.array([0, 1, 0])  # two events, ticker 0 in both
    events = (np.r_[positions, rng.integers(0, n_grid, 4)], np.r_[columns, 0, 1, 1, 1])
    confounders = (rng.integers(0, n_grid, 6), np.array([-1, -1, 0, 1, 1, 2]))  # -1: every ticker
    expected = []
    for k in range(-n_grid, n_grid):
        targets = positions + k
        if k == 0 or (targets + reach[0] < 0).any() or (targets + reach[1] >= n_grid).any():
            continue
        near_event = any(
            abs(c - x) <= span[1] - span[0] + 1
            for c, col in zip(targets, columns, strict=True)
            for x, xc in zip(*events, strict=True)
            if xc == col
        )
        near_conf = any(
            c + span[0] - 1 <= x <= c + span[1] + 1
            for c, col in zip(targets, columns, strict=True)
            for x, xc in zip(*confounders, strict=True)
            if xc in (col, -1)
        )
        if not (near_event or near_conf):
            expected.append(k)
    got = admissible_shifts(n_grid, positions, columns, events, confounders, span, reach)
    assert got.tolist() == expected and len(expected) > 10
    lowest = np.array([200, 0, 0])
    later = admissible_shifts(n_grid, positions, columns, events, confounders, span, reach, lowest)
    assert later.tolist() == [k for k in expected if positions[0] + k >= 200]
    a, b = draw_shifts(got, 5, seed=3), draw_shifts(got, 5, seed=3)
    assert np.array_equal(a, b) and len(set(a)) == 5 and set(a) <= set(got)


def test_empirical_p_by_hand():
    null = np.array([[0.5, -2.0, 1.0, 3.0], [np.nan, 1.0, -1.0, 0.2]])
    p = empirical_p(np.array([-1.5, 0.1]), null)
    assert p.tolist() == pytest.approx([(1 + 2) / 5, (1 + 3) / 4])
    assert np.isnan(empirical_p(np.array([np.nan]), null[:1])[0])


def test_portfolios_of_groups_are_the_cells_sorted_by_group_date_pair_and_summed_in_that_order():
    """Every group's portfolios equal the definition in plain numpy: the (group, date, pair) cells with a finite AR
    and a date, sorted, each portfolio's total summed in that order from 0.0 (``np.bincount``'s), bit for bit."""
    from eventstudy.inference.calendar_time import portfolios
    from eventstudy.inference.groups import Groups

    rng = np.random.default_rng(3)
    n_pairs, width, n_grid = 40, 6, 30
    ar = rng.normal(size=(n_pairs, width)) * 10.0 ** rng.integers(-3, 3, (n_pairs, width))
    ar[rng.random(ar.shape) < 0.15] = np.nan
    positions = rng.integers(0, n_grid, n_pairs)[:, None] + np.arange(width)[None, :] - 3
    positions[positions >= n_grid] = -1
    positions[rng.random(positions.shape) < 0.1] = -1
    group = np.r_[np.zeros(n_pairs, np.int64), np.repeat([1, 3], 10)]  # group 2 is empty; pairs in two groups
    pair = np.r_[np.arange(n_pairs), np.sort(rng.choice(n_pairs, 10, replace=False)), np.arange(5, 15)]
    groups = Groups(group, pair.astype(np.int64), 4, n_pairs)
    port = portfolios(ar, positions.astype(np.int64), groups, n_grid)

    g, p, t = np.repeat(group, width), np.repeat(pair, width), np.tile(np.arange(width), len(pair))
    pos, value = positions[p, t], ar[p, t]
    keep = (pos >= 0) & np.isfinite(value)
    g, p, pos, value = g[keep], p[keep], pos[keep], value[keep]
    order = np.lexsort((p, pos, g))
    g, p, pos, value = g[order], p[order], pos[order], value[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (pos[1:] != pos[:-1])]
    first = np.flatnonzero(new)
    np.testing.assert_array_equal(port.group, g[first])
    np.testing.assert_array_equal(port.date, pos[first])
    np.testing.assert_array_equal(port.starts, np.r_[first, len(g)])
    np.testing.assert_array_equal(port.pair, p)
    total = np.bincount(np.cumsum(new) - 1, weights=value, minlength=len(first))
    assert port.total.tobytes() == total.tobytes()
    assert set(port.group) == {0, 1, 3}


def test_group_moments_are_the_masked_segment_sums_bit_for_bit():
    """The compiled moments equal the two numpy passes (``np.bincount`` of the masked values, ``np.fmax.at`` and
    ``np.fmin.at`` for a spread), bit for bit: NaN and infinite values, groups of equal values (m2 = m3 = 0
    exactly; with an infinity, a spread), an empty group, pairs in several groups, values across magnitudes (cubes
    that underflow)."""
    from eventstudy.inference.groups import Groups
    from eventstudy.inference.moments import group_moments

    rng = np.random.default_rng(8)
    values = rng.normal(size=300) * 10.0 ** rng.integers(-120, 3, 300)
    values[rng.random(300) < 0.1] = np.nan
    values[[3, 40]], values[[7]] = np.inf, -np.inf
    values[200:230], values[230:240], values[235] = 0.1, 0.7, np.inf  # equal values; with an infinity
    masks = rng.random((7, 300)) < 0.3
    at = np.arange(300)
    masks[4], masks[5], masks[6] = (at >= 230) & (at < 240), (at >= 200) & (at < 230), False
    groups = Groups.from_masks(masks)
    g, x = groups.group, values[groups.pair]
    ok = np.isfinite(x)
    n = np.bincount(g, weights=ok, minlength=7).round().astype(np.int64)
    mean = np.where(n > 0, np.bincount(g, weights=np.where(ok, x, 0.0), minlength=7) / np.maximum(n, 1), np.nan)
    high, low = np.full(7, -np.inf), np.full(7, np.inf)
    np.fmax.at(high, g, x)
    np.fmin.at(low, g, x)
    d = np.where((high > low)[g] & ok, x - mean[g], 0.0)
    got = group_moments(values, groups)
    for a, b in zip(
        (got.n, got.mean, got.m2, got.m3),
        (n, mean, np.bincount(g, weights=d * d, minlength=7), np.bincount(g, weights=d * d * d, minlength=7)),
        strict=True,
    ):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert got.m2[5] == got.m3[5] == 0.0 and got.m2[4] > 0 and got.n[6] == 0 and (got.m3 != 0).sum() >= 4
