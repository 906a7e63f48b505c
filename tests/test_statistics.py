"""Each test of the battery against an independent calculation (scipy, loops written from the papers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eventstudy.engine import rank_tests as rt
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
    k = np.array([np.sqrt(np.isfinite(u[:, t]).sum()) * np.nanmean(u[:, t]) for t in range(full.shape[1])])
    z = k[window].sum() / (np.sqrt(window.sum()) * np.sqrt(np.mean(k**2)))
    res = rt.corrado_rank(full, window)
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
    res = rt.grank(sar_est, csar)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), big_t - 2))


def test_sign_and_generalized_sign(sample):
    ar_est, _, _, _ = sample
    car = np.array([0.1, 0.2, -0.1, 0.3, 0.05, 0.07, -0.02, 0.4, 0.1, 0.2, 0.3, 0.01])
    res = rt.sign_test(car)
    assert res.p_value == pytest.approx(stats.binomtest(10, 12, 0.5).pvalue)
    # the statistic is the signed normal quantile of the exact p, so it reads the same as the p-value
    assert res.statistic > 0 and 2 * stats.norm.sf(res.statistic) == pytest.approx(res.p_value)
    assert rt.sign_test(-car).statistic == pytest.approx(-res.statistic)
    p_hat = np.mean([np.nansum(r > 0) / np.isfinite(r).sum() for r in ar_est])
    z = (10 - 12 * p_hat) / np.sqrt(12 * p_hat * (1 - p_hat))
    g = rt.generalized_sign(car, ar_est)
    assert g.statistic == pytest.approx(z)
    assert g.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_wilcoxon_matches_scipy():
    car = np.array([0.031, -0.012, 0.044, 0.052, -0.007, 0.018, 0.027, 0.061, 0.009])
    res = rt.wilcoxon_test(car)
    assert res.p_value == pytest.approx(stats.wilcoxon(car).pvalue)
    w_plus = stats.rankdata(np.abs(car))[car > 0].sum()
    n = len(car)
    assert res.statistic == pytest.approx((w_plus - n * (n + 1) / 4) / np.sqrt(n * (n + 1) * (2 * n + 1) / 24))


def test_degenerate_inputs_give_nan_not_errors():
    assert np.isnan(st.csect_t(np.array([0.1])).statistic)
    assert np.isnan(st.bmp_t(np.array([0.1, 0.1])).statistic)
    assert rt.sign_test(np.array([np.nan])).n == 0
    assert np.isnan(rt.grank(np.zeros((1, 10)), np.array([1.0])).statistic)


def test_cumulative_sar_is_car_over_its_own_standard_error():
    """CSAR = CAR / sqrt(sigma^2 1'(I + X*(X'X)^-1 X*')1): the covariance estimation error creates across days."""
    rng = np.random.default_rng(21)
    n, l1, l2 = 5, 120, 4
    mkt = rng.normal(0, 0.01, (n, l1 + l2))
    ret = 0.001 + 1.2 * mkt + rng.normal(0, 0.02, (n, l1 + l2))
    design = np.stack([np.ones_like(mkt), mkt], axis=2)
    est, win = np.arange(l1 + l2) < l1, np.arange(l1 + l2) >= l1
    expected = []
    for i in range(n):
        x, y = design[i, est], ret[i, est]
        beta, ssr, *_ = np.linalg.lstsq(x, y, rcond=None)
        sigma2 = ssr[0] / (l1 - 2)
        xs = design[i, win]
        v = sigma2 * (np.eye(l2) + xs @ np.linalg.inv(x.T @ x) @ xs.T)  # MacKinlay (1997) eq. 15
        expected.append((ret[i, win] - xs @ beta).sum() / np.sqrt(v.sum()))
    xtx_inv = np.stack([np.linalg.inv(design[i, est].T @ design[i, est]) for i in range(n)])
    params = np.stack([np.linalg.lstsq(design[i, est], ret[i, est], rcond=None)[0] for i in range(n)])
    normal = np.einsum("pdk,pk->pd", design, params)
    ar = ret - normal
    sigma = np.sqrt((np.where(est, ar, 0) ** 2).sum(axis=1) / (l1 - 2))
    table = st.car_table(ar, ret, normal, design, xtx_inv, sigma, np.full(n, l1 - 2), win)
    csar = st.cumulative_sar(table["car"], table["car_se"])
    np.testing.assert_allclose(csar, expected, rtol=1e-10)
    # ... which is not Patell's sum of SARs over sqrt(L2) once the prediction errors covary
    c = 1 + np.einsum("pdk,pkl,pdl->pd", design, xtx_inv, design)
    patell_form = (ar[:, win] / (sigma[:, None] * np.sqrt(c[:, win]))).sum(axis=1) / np.sqrt(l2)
    assert not np.allclose(csar, patell_form, rtol=1e-4)


def test_wilcoxon_z_has_the_tie_correction():
    car = np.array([0.01, 0.01, 0.02, -0.02, 0.03, 0.03, 0.03, -0.01, 0.04, 0.05, -0.05, 0.06])
    res = rt.wilcoxon_test(car)
    ref = stats.wilcoxon(car, method="approx")  # the tie-corrected normal approximation
    assert abs(res.statistic) == pytest.approx(abs(ref.zstatistic))
    assert res.statistic > 0
    # without ties the correction vanishes
    plain = np.array([0.031, -0.012, 0.044, 0.052, -0.007, 0.018, 0.027, 0.061, 0.009])
    ref = stats.wilcoxon(plain, method="approx")
    assert abs(rt.wilcoxon_test(plain).statistic) == pytest.approx(abs(ref.zstatistic))


def test_corrado_rank_scales_days_by_their_coverage():
    """Corrado & Zivney (1992): K_t = sqrt(n_t) Ubar_t; with day-0 returns for a quarter of the pairs the size holds."""
    rng = np.random.default_rng(17)
    n, l1 = 40, 120
    full = rng.normal(size=(n, l1 + 1))
    full[n // 4 :, -1] = np.nan
    window = np.r_[np.zeros(l1, bool), True]
    u = np.full(full.shape, np.nan)
    for i, row in enumerate(full):
        ok = np.isfinite(row)
        u[i, ok] = stats.rankdata(row[ok]) / (1 + ok.sum()) - 0.5
    k = np.array([np.sqrt(np.isfinite(u[:, t]).sum()) * np.nanmean(u[:, t]) for t in range(l1 + 1)])
    z = k[-1] / np.sqrt(np.mean(k**2))
    assert rt.corrado_rank(full, window).statistic == pytest.approx(z)
    # size over 400 noise samples (99% Monte Carlo interval around 5%: 1.9% .. 8.1%); unscaled it was 35%
    draws = rng.normal(size=(400, n, l1 + 1))
    draws[:, n // 4 :, -1] = np.nan
    rate = np.mean([rt.corrado_rank(d, window).p_value < 0.05 for d in draws])
    assert 0.019 <= rate <= 0.081, rate
