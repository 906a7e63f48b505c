"""Each test of the battery against an independent calculation (scipy, loops written from the papers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eventstudy.engine import statistics as st


@pytest.fixture
def sample():
    rng = np.random.default_rng(11)
    n, l1, l2 = 12, 150, 3
    ar_est = rng.normal(0, 0.02, (n, l1))
    ar_est[rng.random((n, l1)) < 0.05] = np.nan  # missing returns
    ar_win = rng.normal(0.01, 0.02, (n, l2))
    ar_win[3, 1] = np.nan
    sigma = np.nanstd(ar_est, axis=1, ddof=2)
    dof = np.isfinite(ar_est).sum(axis=1) - 2
    return ar_est, ar_win, sigma, dof


def test_csect_t_is_scipy_one_sample_t():
    car = np.array([0.05, 0.02, -0.01, 0.08, 0.03, np.nan])
    res = st.csect_t(car)
    ref = stats.ttest_1samp(car[:-1], 0.0)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.n == 5


def test_bmp_and_patell(sample):
    ar_est, ar_win, sigma, dof = sample
    sar = ar_win / sigma[:, None]
    csar = np.array([np.nansum(r) / np.sqrt(np.isfinite(r).sum()) for r in sar])
    ref = stats.ttest_1samp(csar, 0.0)
    assert st.bmp_t(csar).statistic == pytest.approx(ref.statistic)
    z = sum(csar) / np.sqrt(sum(d / (d - 2) for d in dof))
    res = st.patell_z(csar, dof)
    assert res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    np.testing.assert_allclose(st.cumulative_sar(sar, np.ones(3, bool)), csar)


def test_kp_adjustment_factor_hand_worked():
    """STATISTICS.md: one shared date, N = 30, rbar = 0.1 -> factor sqrt(0.9 / 3.9) = 0.4804."""
    csar = np.random.default_rng(3).normal(0.5, 1.0, 30)
    base = st.bmp_t(csar).statistic
    res = st.kp_bmp_t(csar, 0.1)
    assert res.statistic / base == pytest.approx(np.sqrt(0.9 / 3.9))
    assert np.sqrt(0.9 / 3.9) == pytest.approx(0.48, abs=0.01)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(res.statistic), 29))


def test_time_series_t_loop(sample):
    ar_est, ar_win, _, _ = sample
    aar_est = [np.nanmean(ar_est[:, t]) for t in range(ar_est.shape[1])]
    aar_win = [np.nanmean(ar_win[:, t]) for t in range(ar_win.shape[1])]
    s = np.std(aar_est, ddof=1)
    t = sum(aar_win) / (np.sqrt(len(aar_win)) * s)
    res = st.time_series_t(ar_est, ar_win)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), len(aar_est) - 1))


def test_corrado_rank_loop(sample):
    ar_est, ar_win, _, _ = sample
    full = np.hstack([ar_est, ar_win])
    window = np.r_[np.zeros(ar_est.shape[1], bool), np.ones(ar_win.shape[1], bool)]
    u = np.full(full.shape, np.nan)
    for i, row in enumerate(full):
        ok = np.isfinite(row)
        u[i, ok] = stats.rankdata(row[ok]) / (1 + ok.sum()) - 0.5
    ubar = np.array([np.nanmean(u[:, t]) for t in range(full.shape[1])])
    s_u = np.sqrt(np.mean(ubar**2))
    z = ubar[window].sum() / (np.sqrt(window.sum()) * s_u)
    res = st.corrado_rank(full, window)
    assert res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_grank_loop(sample):
    ar_est, ar_win, sigma, _ = sample
    sar_est = ar_est / sigma[:, None]
    sar_win = ar_win / sigma[:, None]
    csar = np.array([np.nansum(r) / np.sqrt(np.isfinite(r).sum()) for r in sar_win])
    gsar = csar / np.std(csar, ddof=1)
    n = len(csar)
    table = np.hstack([sar_est, gsar[:, None]])
    u = np.full(table.shape, np.nan)
    for i, row in enumerate(table):
        ok = np.isfinite(row)
        u[i, ok] = stats.rankdata(row[ok]) / (ok.sum() + 1) - 0.5
    big_t = table.shape[1]
    n_t = np.isfinite(u).sum(axis=0)
    ubar = np.nanmean(u, axis=0)
    s_u = np.sqrt(np.sum(n_t / n * ubar**2) / big_t)
    z = ubar[-1] / s_u
    t = z * np.sqrt((big_t - 2) / (big_t - 1 - z**2))
    res = st.grank(sar_est, csar)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), big_t - 2))


def test_sign_and_generalized_sign(sample):
    ar_est, _, _, _ = sample
    car = np.array([0.1, 0.2, -0.1, 0.3, 0.05, 0.07, -0.02, 0.4, 0.1, 0.2, 0.3, 0.01])
    res = st.sign_test(car)
    assert res.p_value == pytest.approx(stats.binomtest(10, 12, 0.5).pvalue)
    assert res.statistic == pytest.approx((10 - 6) / np.sqrt(3))
    p_hat = np.mean([np.nansum(r > 0) / np.isfinite(r).sum() for r in ar_est])
    z = (10 - 12 * p_hat) / np.sqrt(12 * p_hat * (1 - p_hat))
    g = st.generalized_sign(car, ar_est)
    assert g.statistic == pytest.approx(z)
    assert g.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_wilcoxon_matches_scipy():
    car = np.array([0.031, -0.012, 0.044, 0.052, -0.007, 0.018, 0.027, 0.061, 0.009])
    res = st.wilcoxon_test(car)
    assert res.p_value == pytest.approx(stats.wilcoxon(car).pvalue)
    w_plus = stats.rankdata(np.abs(car))[car > 0].sum()
    n = len(car)
    assert res.statistic == pytest.approx((w_plus - n * (n + 1) / 4) / np.sqrt(n * (n + 1) * (2 * n + 1) / 24))


def test_mean_pairwise_correlation_same_date_equals_pandas():
    rng = np.random.default_rng(5)
    common = rng.normal(size=200)
    res = 0.6 * common + rng.normal(size=(6, 200))
    res[0, :20] = np.nan
    dates = np.tile(pd.bdate_range("2024-01-01", periods=200).values, (6, 1))
    day = np.full(6, np.datetime64("2024-12-02", "ns"))
    rbar = st.mean_pairwise_correlation(res, dates, day, day)
    corr = pd.DataFrame(res.T).corr().to_numpy()
    assert rbar == pytest.approx(corr[np.triu_indices(6, 1)].mean())


def test_mean_pairwise_correlation_disjoint_windows_count_zero():
    rng = np.random.default_rng(6)
    common = rng.normal(size=200)
    res = common + 0.1 * rng.normal(size=(4, 200))  # highly correlated residuals ...
    dates = np.tile(pd.bdate_range("2024-01-01", periods=200).values, (4, 1))
    start = np.array(["2025-01-02", "2025-01-02", "2025-06-02", "2025-06-02"], dtype="datetime64[ns]")
    rbar = st.mean_pairwise_correlation(res, dates, start, start)
    corr = pd.DataFrame(res.T).corr().to_numpy()
    # ... but only the two same-window pairs (0,1) and (2,3) count, over all 6 pairs
    assert rbar == pytest.approx((corr[0, 1] + corr[2, 3]) / 6)


def test_fast_correlation_path_matches_exact(monkeypatch):
    rng = np.random.default_rng(8)
    res = 0.5 * rng.normal(size=150) + rng.normal(size=(40, 150))
    dates = np.tile(pd.bdate_range("2024-01-01", periods=150).values, (40, 1))
    day = np.full(40, np.datetime64("2024-09-02", "ns"))
    exact = st.mean_pairwise_correlation(res, dates, day, day)
    monkeypatch.setattr(st, "EXACT_CORRELATION_LIMIT", 10)
    assert st.mean_pairwise_correlation(res, dates, day, day) == pytest.approx(exact, rel=1e-10)


def test_degenerate_inputs_give_nan_not_errors():
    assert np.isnan(st.csect_t(np.array([0.1])).statistic)
    assert np.isnan(st.bmp_t(np.array([0.1, 0.1])).statistic)
    assert st.sign_test(np.array([np.nan])).n == 0
    assert np.isnan(st.grank(np.zeros((1, 10)), np.array([1.0])).statistic)
