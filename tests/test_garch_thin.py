"""GARCH(1,1) market model against arch itself, its fallback, and thin-trading betas (Dimson, Scholes-Williams)
against statsmodels OLS and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from arch import arch_model

from eventstudy.engine.garch import conditional_car, fit_garch
from eventstudy.engine.models import fit_model
from eventstudy.engine.statistics import car_table
from eventstudy.engine.thin import fit_thin_beta


def _garch_panel(seed: int = 11, n_pairs: int = 3, n_days: int = 280):
    """Market-model returns with GARCH(1,1) errors (omega, alpha, beta) = (2e-5, 0.08, 0.85)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.01, (n_pairs, n_days))
    e = np.zeros((n_pairs, n_days))
    h = np.full(n_pairs, 2e-5 / (1 - 0.93))
    for t in range(n_days):
        if t:
            h = 2e-5 + 0.08 * e[:, t - 1] ** 2 + 0.85 * h
        e[:, t] = np.sqrt(h) * rng.standard_normal(n_pairs)
    returns = 0.0005 + 1.3 * market + e
    est = np.zeros((n_pairs, n_days), bool)
    est[:, :240] = True
    est[1, 100:105] = False  # masked days
    return returns, market, est


def test_garch_matches_arch_and_forecasts_the_variance():
    returns, market, est = _garch_panel()
    fit, notes = fit_garch(returns, market, est, np.ones(3, bool))
    assert (notes == "").all() and set(fit.model) == {"garch"}
    for i in range(3):
        y, x = returns[i, est[i]] * 100, market[i, est[i]] * 100
        res = arch_model(y, x=x[:, None], mean="LS", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
        p = res.params.to_numpy()
        np.testing.assert_allclose(fit.params[i], [p[0] / 100, p[1]], rtol=1e-6)
        np.testing.assert_allclose(
            [fit.extra["garch_omega"][i], fit.extra["garch_alpha"][i], fit.extra["garch_beta"][i]],
            [p[2] / 1e4, p[3], p[4]],
            rtol=1e-6,
        )
        horizon = 40
        fc = res.forecast(horizon=horizon, reindex=False, x={"x0": np.zeros((1, horizon))}).variance.to_numpy()[0]
        np.testing.assert_allclose(fit.variance[i, 240:], fc / 1e4, rtol=1e-8)
        np.testing.assert_allclose(fit.ar[i, 250], returns[i, 250] - p[0] / 100 - p[1] * market[i, 250], rtol=1e-9)
        # SAR on an event day uses the conditional variance forecast
        np.testing.assert_allclose(
            fit.sigma[i] * np.sqrt(fit.prediction_factor()[i, 250]), np.sqrt(fc[250 - 240] / 1e4), rtol=1e-8
        )
    window = np.zeros(280, bool)
    window[250:253] = True
    ols = car_table(fit.ar, returns, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, window)
    table = conditional_car(ols, fit, window)
    np.testing.assert_allclose(table["car_se"], np.sqrt(fit.variance[:, 250:253].sum(axis=1)), rtol=1e-12)
    np.testing.assert_allclose(table["car_t"], table["car"] / table["car_se"])


def test_garch_failure_falls_back_to_the_market_model(monkeypatch):
    returns, market, est = _garch_panel(n_pairs=2)
    import eventstudy.engine.garch as garch

    real = garch.garch_one

    def flaky(y, x, horizon):
        out = real(y, x, horizon)
        if np.isclose(y[0], returns[1, 0]):
            why = "GARCH(1,1) optimizer did not converge (flag 4)"
            return np.full(5, np.nan), out[1] * np.nan, out[2] * np.nan, why
        return out

    monkeypatch.setattr(garch, "garch_one", flaky)
    fit, notes = fit_garch(returns, market, est, np.ones(2, bool))
    ols = fit_model("market", returns, market[:, :, None], est)
    assert list(fit.model) == ["garch", "market"]
    assert notes[1] == "GARCH(1,1) optimizer did not converge (flag 4); used the OLS market model" and notes[0] == ""
    np.testing.assert_allclose(fit.params[1], ols.params[1])
    np.testing.assert_allclose(fit.ar[1], ols.ar[1])
    assert np.isnan(fit.variance[1]).all() and np.isnan(fit.extra["garch_alpha"][1])


def test_garch_in_parallel_gives_the_same_fit():
    returns, market, est = _garch_panel(n_pairs=2)
    one, _ = fit_garch(returns, market, est, np.ones(2, bool), jobs=1)
    two, _ = fit_garch(returns, market, est, np.ones(2, bool), jobs=2)
    np.testing.assert_array_equal(one.params, two.params)
    np.testing.assert_array_equal(one.variance, two.variance)


def test_garch_run_on_real_prices_discloses_fallbacks(prices_dir, tmp_path):
    """E09 on the real prices: MP's, UUUU's and TMC's GARCH fits end on arch's constraint alpha + beta <= 1 (TMC's at
    1 - 1.2e-13 with arch 8, where the optimizer stops a hair below the bound; before the margin it counted as
    stationary): integrated GARCH on either side of 1, so they keep the market model; CRML's (0.998) is kept."""
    from eventstudy import EventStudy
    from eventstudy.engine.garch import STATIONARY_MARGIN

    tickers = ["MP", "UUUU", "CRML", "TMC"]
    events = pd.DataFrame({"event_id": ["E09"] * 4, "ticker": tickers, "date": ["2025-10-09"] * 4})
    res = EventStudy(
        events, prices_dir, market="SPY", model="garch", windows=[(0, 1)], listed={"CRML": "2024-02-28"}
    ).fit()
    params = res.parameters
    garch = params["model"] == "garch"
    assert params.loc[garch, "ticker"].tolist() == ["CRML"] and (params.loc[garch, "status"] == "ok").all()
    assert (params.loc[garch, ["garch_alpha", "garch_beta"]].sum(axis=1) < 1 - STATIONARY_MARGIN).all()
    fell = params[~garch]
    assert (fell["status"] == "fallback").all() and fell["reason"].str.contains("used the OLS market model").all()
    assert fell["reason"].str.contains("GARCH(1,1) is not stationary", regex=False).all()
    car = res.car.merge(params[["ticker", "model"]], on="ticker")
    assert np.isfinite(car["car_t"]).all()


def _thin_panel():
    rng = np.random.default_rng(3)
    n_pairs, n_days = 2, 200
    market = rng.normal(0.0005, 0.01, (n_pairs, n_days))
    lagged = np.roll(market, 1, axis=1)
    returns = 0.0002 + 0.6 * market + 0.5 * lagged + rng.normal(0, 0.01, (n_pairs, n_days))
    returns[0, 30] = np.nan
    est = np.zeros((n_pairs, n_days), bool)
    est[:, 5:180] = True
    est &= np.isfinite(returns)
    return returns, market, est


def test_dimson_beta_is_the_sum_of_lag_and_lead_slopes():
    returns, market, est = _thin_panel()
    fit = fit_thin_beta("dimson", returns, market, est)
    for i in range(2):
        t = np.flatnonzero(est[i])
        x = sm.add_constant(np.column_stack([market[i, t - 1], market[i, t], market[i, t + 1]]))
        ols = sm.OLS(returns[i, t], x).fit()
        beta = ols.params[1:].sum()
        alpha = returns[i, t].mean() - beta * market[i, t].mean()
        np.testing.assert_allclose(fit.params[i], [alpha, beta], rtol=1e-9)
        resid = returns[i, t] - alpha - beta * market[i, t]
        np.testing.assert_allclose(fit.sigma[i], np.sqrt((resid**2).sum() / (len(t) - 2)), rtol=1e-9)
        np.testing.assert_allclose(fit.ar[i, 190], returns[i, 190] - alpha - beta * market[i, 190])
    assert 0.9 < fit.params[:, 1].mean() < 1.3  # the true total beta is 1.1; OLS sees only 0.6
    assert fit_model("market", returns, market[:, :, None], est).params[:, 1].mean() < 0.8


def test_scholes_williams_beta_by_hand():
    returns, market, est = _thin_panel()
    fit = fit_thin_beta("scholes-williams", returns, market, est)
    for i in range(2):
        t = np.flatnonzero(est[i])
        r, m = returns[i, t], market[i, t]
        slopes = [np.polyfit(market[i, t + k], r, 1)[0] for k in (-1, 0, 1)]
        rho = np.corrcoef(m, market[i, t - 1])[0, 1]
        beta = sum(slopes) / (1 + 2 * rho)
        np.testing.assert_allclose(fit.params[i], [r.mean() - beta * m.mean(), beta], rtol=1e-9)
        np.testing.assert_allclose(fit.extra["market_autocorr"][i], rho, rtol=1e-9)
    assert set(fit.extra["beta_method"]) == {"scholes-williams"}


@pytest.mark.parametrize("beta", ["dimson", "scholes-williams"])
def test_thin_beta_reported_in_parameters(prices_dir, beta):
    from eventstudy import EventStudy

    events = pd.DataFrame({"event_id": ["E09"], "ticker": ["UUUU"], "date": ["2025-10-09"]})
    res = EventStudy(events, prices_dir, market="SPY", beta=beta, windows=[(0, 1)]).fit()
    row = res.parameters.iloc[0]
    assert row["beta_method"] == beta and np.isfinite(row["beta_lag"]) and np.isfinite(row["beta"])
