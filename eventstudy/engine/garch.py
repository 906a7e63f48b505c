"""GARCH(1,1)-adjusted market model (``--model garch``), fitted with ``arch`` one pair at a time.

Mean and variance equations on the clean estimation days (Bollerslev 1986; in event studies Corhay & Tourani Rad
1996, Savickas 2003):

    R_it = a_i + b_i R_mt + e_it,   e_it | past ~ N(0, h_it),   h_it = omega_i + alpha_i e_i,t-1^2 + beta_i h_i,t-1

estimated jointly by maximum likelihood (``arch.arch_model(mean="LS", vol="GARCH")`` on returns in percent; the
clean estimation days are taken as consecutive observations). AR_it = R_it - a_i - b_i R_mt. Out of the estimation
window the variance of AR_it is the GARCH forecast made at the last estimation day T, s = t - T sessions ahead:
h_T+1 = omega + alpha e_T^2 + beta h_T, h_T+s = omega + (alpha + beta) h_T+s-1, so event-window shocks never
inflate their own variance. SAR_it = AR_it / sqrt(h_it) and Var(CAR_i) = sum of h_it over the window (parameter
estimation error ignored). On estimation days SAR = AR / sigma_i with sigma_i^2 = SSR / (L1 - 2).

A pair whose fit fails (the optimizer does not converge, or alpha + beta >= 1 - ``STATIONARY_MARGIN``, or omega <= 0)
keeps the OLS market model and the reason is returned, to be disclosed in ``parameters.csv``. arch maximises the
likelihood under the constraint alpha + beta <= 1; a fit that ends on that bound (an integrated GARCH, whose variance
forecasts never revert) lands a hair below or above 1 depending on the optimizer's last steps (arch 7 and arch 8 put
two of the seed study's pairs on opposite sides), so the bound is taken to SLSQP's tolerance.

This is the one model estimated by a Python loop over pairs (arch fits one series at a time); each fit is
independent, so ``jobs > 1`` spreads them over processes.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np

from eventstudy.engine.models import ModelFit, fit_model
from eventstudy.inference import distributions as stats

SCALE = 100.0  # arch is fitted on percent returns for numerical stability
STATIONARY_MARGIN = 1e-6  # alpha + beta within this of 1 is on the stationarity bound (SLSQP's default tolerance)


def garch_one(y: np.ndarray, x: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Fit one pair: returns ``params (a, b, omega, alpha, beta)`` in decimal units, in-sample conditional variances
    (L1,), variance forecasts for 1..``horizon`` steps after the last observation, and a failure reason ("" = ok).
    """
    from arch import arch_model

    nan = np.full(5, np.nan)
    try:
        res = arch_model(
            y * SCALE, x=x[:, None] * SCALE, mean="LS", vol="GARCH", p=1, q=1, dist="normal", rescale=False
        ).fit(disp="off", show_warning=False)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return nan, np.full(len(y), np.nan), np.full(horizon, np.nan), f"GARCH(1,1) fit failed ({exc})"
    const, slope, omega, alpha, beta = np.asarray(res.params, dtype=float)
    params = np.array([const / SCALE, slope, omega / SCALE**2, alpha, beta])
    h = np.asarray(res.conditional_volatility, dtype=float) ** 2 / SCALE**2
    why = ""
    if res.convergence_flag != 0:
        why = f"GARCH(1,1) optimizer did not converge (flag {res.convergence_flag})"
    elif not np.isfinite(params).all() or omega <= 0:
        why = "GARCH(1,1) parameters are not finite or omega <= 0"
    elif alpha + beta >= 1 - STATIONARY_MARGIN:
        why = (
            f"GARCH(1,1) is not stationary (alpha + beta = {alpha + beta:.3f}: 1 or within {STATIONARY_MARGIN:g} of it)"
        )
    if why:
        return nan, np.full(len(y), np.nan), np.full(horizon, np.nan), why
    resid = y - params[0] - params[1] * x
    forecast = np.empty(horizon)
    nxt = params[2] + alpha * resid[-1] ** 2 + beta * h[-1]
    for s in range(horizon):
        forecast[s] = nxt
        nxt = params[2] + (alpha + beta) * nxt
    return params, h, forecast, ""


def _one(job: tuple[np.ndarray, np.ndarray, int]):
    return garch_one(*job)


def fit_garch(
    returns: np.ndarray, market: np.ndarray, estimation: np.ndarray, todo: np.ndarray, jobs: int = 1
) -> tuple[ModelFit, np.ndarray]:
    """GARCH(1,1) market model for the pairs in ``todo`` (P,), OLS market model for the rest.

    Returns the fit and a (P,) array of failure reasons ("" where GARCH was used or not attempted).
    """
    fit = fit_model("market", returns, market[:, :, None], estimation)
    n_pairs, n_days = returns.shape
    last = np.where(estimation.any(axis=1), n_days - 1 - np.argmax(estimation[:, ::-1], axis=1), -1)
    pairs = np.flatnonzero(todo & fit.usable)
    jobs_in = [(returns[p, estimation[p]], market[p, estimation[p]], n_days - 1 - last[p]) for p in pairs]
    if jobs > 1 and len(jobs_in) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            out = list(pool.map(_one, jobs_in, chunksize=max(1, len(jobs_in) // (4 * jobs))))
    else:
        out = [_one(job) for job in jobs_in]
    notes = np.full(n_pairs, "", dtype=object)
    extra = {k: np.full(n_pairs, np.nan) for k in ("garch_omega", "garch_alpha", "garch_beta")}
    variance = np.full((n_pairs, n_days), np.nan)
    model = fit.model.copy()
    for p, (params, _h, forecast, why) in zip(pairs, out, strict=True):
        if why:
            notes[p] = f"{why}; used the OLS market model"
            continue
        model[p] = "garch"
        fit.params[p] = params[:2]
        extra["garch_omega"][p], extra["garch_alpha"][p], extra["garch_beta"][p] = params[2:]
        variance[p, last[p] + 1 :] = forecast
    used = model == "garch"
    normal = np.einsum("pdk,pk->pd", fit.design, np.where(used[:, None], fit.params, 0.0))
    fit.normal = np.where(used[:, None], normal, fit.normal)
    fit.ar = returns - fit.normal
    resid = np.where(estimation, fit.ar, 0.0)
    ssr = (resid**2).sum(axis=1)
    n = np.maximum(estimation.sum(axis=1), 1)
    mean = np.where(estimation, returns, 0.0).sum(axis=1) / n
    sst = (np.where(estimation, returns - mean[:, None], 0.0) ** 2).sum(axis=1)
    fit.sigma = np.where(used, np.sqrt(ssr / np.maximum(fit.dof, 1)), fit.sigma)
    fit.r2 = np.where(used & (sst > 0), 1.0 - ssr / np.where(sst > 0, sst, 1.0), fit.r2)
    fit.model = model
    fit.extra = extra
    fit.variance = variance
    return fit, notes


def conditional_car(table: dict[str, np.ndarray], fit: ModelFit, window: np.ndarray) -> dict[str, np.ndarray]:
    """Replace the CAR standard error, t and p of GARCH pairs by sqrt(sum of h_it over the window's days)."""
    if fit.variance is None:
        return table
    valid = window[None, :] & np.isfinite(fit.ar)
    h = np.where(valid, fit.variance, 0.0)
    modelled = np.isfinite(np.where(valid, fit.variance, 0.0)).all(axis=1) & np.isfinite(fit.variance).any(axis=1)
    se = np.sqrt(h.sum(axis=1))
    use = modelled & (table["n_days"] > 0) & (se > 0)
    out = dict(table)
    out["car_se"] = np.where(use, se, table["car_se"])
    t = np.where(use, table["car"] / np.where(use, se, 1.0), table["car_t"])
    out["car_t"] = t
    p = 2 * stats.t.sf(np.abs(np.nan_to_num(t)), np.maximum(fit.dof, 1))
    out["car_p"] = np.where(use, p, table["car_p"])
    return out
