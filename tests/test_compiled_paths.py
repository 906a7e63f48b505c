"""The pair stage's compiled shortcuts against the generic (P, D[, k]) array path they replace, on random inputs
with gaps (multi-session spans), NaNs, unusable pairs and models with k = 0, 1, 2, 3 parameters."""

from __future__ import annotations

import numpy as np
import pytest

from eventstudy.engine.gaps import bridge_gaps
from eventstudy.engine.models import fit_model
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
    fit = bridge_gaps(fit_model(model, returns, regressors[:, :, :n_reg], estimation), returns, span)
    ar = fit.ar.copy()
    ar[:2] = np.nan
    ar[6, 80:] = 0.0
    fit.sigma[6:8] = 0.0  # zero variance: inf and NaN as numpy gives, never an exception
    generic = standardized_ar(ar, fit.sigma, fit.prediction_factor(), est_days)
    fused = fit.standardized_ar(ar, est_days)
    assert np.isfinite(generic).sum() > 1000
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(generic))
    np.testing.assert_allclose(fused, generic, rtol=1e-12, atol=1e-12, equal_nan=True)
