"""The pair stage's compiled shortcuts against the generic (P, D[, k]) array path they replace, on random inputs
with gaps (multi-session spans), NaNs, unusable pairs and models with k = 0, 1, 2, 3 parameters."""

from __future__ import annotations

import numpy as np
import pytest

from eventstudy.engine.gaps import bridge_gaps
from eventstudy.engine.models import _fit_ols, combine, fit_model, fit_ols, intercept_design
from eventstudy.engine.statistics import standardized_ar


def _random_panel(seed: int, n_pairs: int = 60, n_days: int = 90):
    rng = np.random.default_rng(seed)
    regressors = rng.normal(0.0, 0.01, (n_pairs, n_days, 2))
    returns = 0.001 + 1.1 * regressors[:, :, 0] + 0.4 * regressors[:, :, 1] + rng.normal(0, 0.02, (n_pairs, n_days))
    returns[rng.random((n_pairs, n_days)) < 0.05] = np.nan
    regressors[rng.random((n_pairs, n_days)) < 0.02, 0] = np.nan
    returns[3, :] = np.nan  # no estimation data at all
    returns[4, :75] = returns[4, 0]  # constant over the estimation window
    span = np.where(np.isnan(returns), 0, 1)
    span[rng.random((n_pairs, n_days)) < 0.05] = 3  # trade-to-trade returns across gaps
    estimation = np.zeros((n_pairs, n_days), dtype=bool)
    estimation[:, :75] = True
    estimation &= ~np.isnan(returns) & ~np.isnan(regressors).any(axis=2)
    estimation[5, 10:] = False  # too few days: rank-deficient
    est_days = np.arange(n_days) < 75
    return returns, regressors, estimation, span, est_days


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    ("model", "n_reg"), [("market-adjusted", 1), ("constant-mean", 1), ("market", 1), ("market", 2), ("factor", 2)]
)
def test_fused_standardized_ar_equals_generic_path(seed, model, n_reg):
    returns, regressors, estimation, span, est_days = _random_panel(seed)
    regs = regressors[:, :, :n_reg]
    use = np.arange(len(returns)) % 7 == 0  # some pairs fall back to market-adjusted returns
    fallback = fit_model("market-adjusted", returns, regs[:, :, :1], estimation)
    built = combine(fit_model(model, returns, regs, estimation), fallback, use)
    implicit = combine(fit_model(model, returns, regs, estimation, implicit=True), fallback, use)
    assert implicit.design is None or model == "market-adjusted"
    for bridge in (False, True):
        fits = [bridge_gaps(f, returns, span) if bridge else f for f in (built, implicit)]
        ar = fits[0].ar.copy()
        ar[:2] = np.nan
        ar[6, 80:] = 0.0
        for f in fits:
            f.sigma[6:8] = 0.0  # zero variance: inf and NaN as numpy gives, never an exception
        generic = standardized_ar(ar, fits[0].sigma, fits[0].prediction_factor(), est_days)
        assert np.isfinite(generic).sum() > 1000
        for f in fits:
            np.testing.assert_array_equal(f.ar, fits[0].ar)
            np.testing.assert_allclose(f.standardized_ar(ar, est_days), generic, rtol=1e-12, atol=1e-12)
            for cols in (slice(None), slice(70, 80)):
                np.testing.assert_array_equal(f.design_columns(cols), fits[0].design[:, cols])


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_ols_on_implicit_intercept_equals_ols_on_the_built_design(seed, k):
    returns, regressors, estimation, _, _ = _random_panel(seed)
    design = intercept_design(regressors, k)
    generic = fit_ols(returns, design, estimation)
    implicit = _fit_ols(returns, regressors, k, True, estimation)
    assert not generic[-1].all() and generic[-1].sum() > 50  # some rank-deficient pairs, most fitted
    for a, b in zip(generic, implicit, strict=False):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15, equal_nan=True)
    fitted = np.einsum("pdk,pk->pd", design, implicit[0])  # NaN parameters give NaN
    np.testing.assert_allclose(implicit[-1], fitted, rtol=1e-12, atol=1e-15, equal_nan=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_market_model_residual_sums_are_the_generic_ones_bit_for_bit(seed):
    """The market model's compiled residual pass (intercept implicit, sums in registers) adds the same terms in the
    same order as the generic pass over the built (P, D, 2) design: the same bits, not only close numbers."""
    returns, regressors, estimation, _, _ = _random_panel(seed)
    generic = _fit_ols(returns, intercept_design(regressors, 2), 2, False, estimation)
    residuals = np.empty(returns.shape)
    market = _fit_ols(returns, regressors, 2, True, estimation, residuals=residuals)
    for a, b in zip(generic, market, strict=True):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(residuals, returns - market[-1])
