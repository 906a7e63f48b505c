"""Normal-return models and per-pair statistics against statsmodels OLS and hand-worked formulas."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from eventstudy.engine.models import fit_model
from eventstudy.engine.statistics import car_table, standardized_ar


@pytest.fixture
def panel():
    """Three pairs, 120 days, with missing returns, masked days and a planted jump outside estimation."""
    rng = np.random.default_rng(7)
    n_pairs, n_days = 3, 120
    market = rng.normal(0.0005, 0.012, (n_pairs, n_days))
    factor = rng.normal(0.0, 0.01, (n_pairs, n_days))
    ret = 0.001 + np.array([[0.8], [1.2], [1.5]]) * market + 0.5 * factor + rng.normal(0, 0.02, (n_pairs, n_days))
    ret[0, [5, 17, 40]] = np.nan
    market[1, 33] = np.nan
    est = np.zeros((n_pairs, n_days), bool)
    est[:, :100] = True
    est[2, 50:60] = False  # masked days
    est &= ~np.isnan(ret) & ~np.isnan(market)
    regressors = np.stack([market, factor], axis=2)
    return ret, regressors, est


def _ols(ret, x, est, i):
    y = ret[i, est[i]]
    exog = sm.add_constant(x[i][est[i]], has_constant="add")
    return sm.OLS(y, exog).fit()


def test_market_model_matches_statsmodels(panel):
    ret, regs, est = panel
    fit = fit_model("market", ret, regs, est)
    for i in range(3):
        ols = _ols(ret, regs[:, :, :1], est, i)
        np.testing.assert_allclose(fit.params[i], ols.params, rtol=1e-10)
        np.testing.assert_allclose(fit.sigma[i], np.sqrt(ols.scale), rtol=1e-10)  # SSR / (L1 - 2)
        np.testing.assert_allclose(fit.r2[i], ols.rsquared, rtol=1e-10)
        assert fit.n_obs[i] == ols.nobs and fit.dof[i] == ols.df_resid


def test_factor_model_matches_statsmodels(panel):
    ret, regs, est = panel
    fit = fit_model("factor", ret, regs, est)
    for i in range(3):
        ols = _ols(ret, regs, est, i)
        np.testing.assert_allclose(fit.params[i], ols.params, rtol=1e-10)
        np.testing.assert_allclose(fit.sigma[i], np.sqrt(ols.scale), rtol=1e-10)
        # prediction-error factor 1 + x'(X'X)^-1 x on an event day
        x = np.r_[1.0, regs[i, 110]]
        cov = ols.cov_params() / ols.scale
        np.testing.assert_allclose(fit.prediction_factor()[i, 110], 1 + x @ cov @ x, rtol=1e-10)


def test_constant_mean_and_market_adjusted(panel):
    ret, regs, est = panel
    cm = fit_model("constant-mean", ret, regs, est)
    ma = fit_model("market-adjusted", ret, regs, est)
    for i in range(3):
        y = ret[i, est[i]]
        np.testing.assert_allclose(cm.params[i, 0], y.mean())
        np.testing.assert_allclose(cm.sigma[i], y.std(ddof=1))
        np.testing.assert_allclose(cm.prediction_factor()[i, 110], 1 + 1 / len(y))
        ar = ret[i, est[i]] - regs[i, est[i], 0]
        np.testing.assert_allclose(ma.sigma[i], ar.std(ddof=1))
        np.testing.assert_allclose(ma.ar[i, 110], ret[i, 110] - regs[i, 110, 0])
    np.testing.assert_allclose(ma.prediction_factor(), 1.0)


def test_market_model_prediction_factor_formula(panel):
    ret, regs, est = panel
    fit = fit_model("market", ret, regs, est)
    i, t = 1, 105
    m = regs[i, est[i], 0]
    expected = 1 + 1 / len(m) + (regs[i, t, 0] - m.mean()) ** 2 / ((m - m.mean()) ** 2).sum()
    np.testing.assert_allclose(fit.prediction_factor()[i, t], expected, rtol=1e-12)


def test_car_variance_includes_estimation_error(panel):
    """Var(CAR) = sigma^2 1'(I + X*(X'X)^-1 X*')1 (MacKinlay 1997, eq. 15-16), written out with matrices."""
    ret, regs, est = panel
    fit = fit_model("market", ret, regs, est)
    window = np.zeros(120, bool)
    window[105:110] = True
    table = car_table(fit.ar, ret, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, window)
    for i in range(3):
        xs = sm.add_constant(regs[i, est[i], :1], has_constant="add")
        xstar = sm.add_constant(regs[i, 105:110, :1], has_constant="add")
        v = np.eye(5) + xstar @ np.linalg.inv(xs.T @ xs) @ xstar.T
        se = fit.sigma[i] * np.sqrt(np.ones(5) @ v @ np.ones(5))
        car = fit.ar[i, 105:110].sum()
        np.testing.assert_allclose(table["car"][i], car, rtol=1e-12)
        np.testing.assert_allclose(table["car_se"][i], se, rtol=1e-12)
        np.testing.assert_allclose(table["car_p"][i], 2 * stats.t.sf(abs(car / se), fit.dof[i]), rtol=1e-10)


def test_bhar_hand_worked():
    """Two days: returns +10%, -5%; normal returns 1%, 2%: BHAR = 1.1*0.95 - 1.01*1.02 = 0.0148."""
    ret = np.array([[0.10, -0.05]])
    normal = np.array([[0.01, 0.02]])
    no_params = (np.zeros((1, 2, 0)), np.zeros((1, 0, 0)), np.array([0.01]), np.array([50]), np.array([True, True]))
    table = car_table(ret - normal, ret, normal, *no_params)
    assert table["bhar"][0] == pytest.approx(1.1 * 0.95 - 1.01 * 1.02)
    assert table["car"][0] == pytest.approx(0.09 - 0.07)
    assert table["car_se"][0] == pytest.approx(0.01 * np.sqrt(2))
    log = car_table(ret - normal, ret, normal, *no_params, kind="log")
    assert log["bhar"][0] == pytest.approx(np.exp(0.05) - np.exp(0.03))


def test_missing_day_in_window_is_left_out(panel):
    ret, regs, est = panel
    ret = ret.copy()
    ret[0, 107] = np.nan
    fit = fit_model("market", ret, regs, est)
    window = np.zeros(120, bool)
    window[105:110] = True
    table = car_table(fit.ar, ret, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, window)
    assert table["n_days"][0] == 4
    np.testing.assert_allclose(table["car"][0], np.nansum(fit.ar[0, 105:110]))


def test_standardized_ar_uses_prediction_factor_out_of_sample(panel):
    ret, regs, est = panel
    fit = fit_model("market", ret, regs, est)
    est_days = np.arange(120) < 100
    sar = standardized_ar(fit.ar, fit.sigma, fit.prediction_factor(), est_days)
    c = fit.prediction_factor()
    np.testing.assert_allclose(sar[2, 110], fit.ar[2, 110] / (fit.sigma[2] * np.sqrt(c[2, 110])))
    np.testing.assert_allclose(sar[2, 10], fit.ar[2, 10] / fit.sigma[2])


def test_singular_design_is_flagged():
    ret = np.random.default_rng(0).normal(0, 0.01, (1, 80))
    regs = np.full((1, 80, 1), 0.003)  # constant market return: alpha and beta not identified
    fit = fit_model("market", ret, regs, np.ones((1, 80), bool))
    assert not fit.usable[0]
    assert np.isnan(fit.params).all()
