"""Market-model betas robust to thin (non-synchronous) trading, for all pairs at once (``--beta``).

With m_t the market return and the clean estimation days that also have m_t-1 and m_t+1 (L1 of them):

* Dimson (1979): OLS of R_t on (1, m_t-1, m_t, m_t+1); beta = b_-1 + b_0 + b_+1.
* Scholes & Williams (1977): b_-, b_0, b_+ the slopes of three simple regressions of R_t on m_t-1, m_t and m_t+1,
  rho the first-order autocorrelation of the market (Pearson correlation of m_t and m_t-1 over the same days);
  beta = (b_- + b_0 + b_+) / (1 + 2 rho).

In both, alpha = mean(R) - beta mean(m) over those days (Scholes & Williams 1977, eq. 13), AR_t = R_t - alpha -
beta m_t, and sigma^2 = sum of squared estimation ARs / (L1 - 2). The prediction-error factor and the CAR variance
use the market model's (X'X)^-1 of (1, m_t) on the same days, an approximation for the parameter estimation error.
"""

from __future__ import annotations

import numpy as np

from eventstudy.engine.models import ModelFit, fit_ols

BETA_METHODS = ("ols", "dimson", "scholes-williams")


def _shift(a: np.ndarray, lag: int) -> np.ndarray:
    """a[:, t - lag] on column t (NaN where it falls outside the grid)."""
    out = np.full_like(a, np.nan)
    if lag > 0:
        out[:, lag:] = a[:, :-lag]
    else:
        out[:, :lag] = a[:, -lag:]
    return out


def fit_thin_beta(method: str, returns: np.ndarray, market: np.ndarray, estimation: np.ndarray) -> ModelFit:
    """Market model with a Dimson or Scholes-Williams beta (``method``), see the module docstring."""
    lag, lead = _shift(market, 1), _shift(market, -1)
    mask = estimation & np.isfinite(lag) & np.isfinite(lead)
    ones = np.ones_like(market)
    if method == "dimson":
        params, *_, full = fit_ols(returns, np.stack([ones, lag, market, lead], axis=2), mask)
        slopes = params[:, 1:]
        beta = slopes.sum(axis=1)
        rho = np.full(len(returns), np.nan)
    else:
        slopes = np.stack(
            [fit_ols(returns, np.stack([ones, m], axis=2), mask)[0][:, 1] for m in (lag, market, lead)], axis=1
        )
        rho = _correlation(market, lag, mask)
        beta = slopes.sum(axis=1) / (1 + 2 * rho)
        full = np.isfinite(beta)
    design = np.stack([ones, market], axis=2)
    _, xtx_inv, _, sst, n, full_mm = fit_ols(returns, design, mask)
    full &= full_mm
    n_safe = np.maximum(n, 1)
    alpha = (np.where(mask, returns, 0.0).sum(axis=1) - beta * np.where(mask, market, 0.0).sum(axis=1)) / n_safe
    params = np.stack([alpha, beta], axis=1)
    params[~full] = np.nan
    normal = alpha[:, None] + beta[:, None] * market
    ar = returns - normal
    ssr = (np.where(mask, ar, 0.0) ** 2).sum(axis=1)
    dof = n - 2
    return ModelFit(
        model=np.full(len(returns), "market", dtype=object),
        params=params,
        sigma=np.where(full, np.sqrt(ssr / np.maximum(dof, 1)), np.nan),
        n_obs=n.astype(int),
        dof=dof.astype(int),
        r2=np.where(full & (sst > 0), 1.0 - ssr / np.where(sst > 0, sst, 1.0), np.nan),
        normal=normal,
        ar=ar,
        design=np.where(full[:, None, None], design, 0.0),
        xtx_inv=xtx_inv,
        usable=full,
        extra={
            "beta_method": np.full(len(returns), method, dtype=object),
            "beta_lag": slopes[:, 0],
            "beta_0": slopes[:, 1],
            "beta_lead": slopes[:, 2],
            "market_autocorr": rho,
        },
    )


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson correlation of a and b per row over the days in ``mask``."""
    n = np.maximum(mask.sum(axis=1), 1)
    am = np.where(mask, a, 0.0).sum(axis=1) / n
    bm = np.where(mask, b, 0.0).sum(axis=1) / n
    da, db = np.where(mask, a - am[:, None], 0.0), np.where(mask, b - bm[:, None], 0.0)
    denom = np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    return np.where(denom > 0, (da * db).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)
