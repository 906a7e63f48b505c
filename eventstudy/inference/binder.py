"""Binder (1985) multivariate regression (SUR) with event-day dummies, for tickers that share one event date.

For N tickers on T common calendar dates (the clean estimation days plus the L2 event-window days) the system is

    R_it = x_t' b_i + sum_{k=1}^{L2} g_ik D_kt + e_it,   i = 1..N,

with x_t the normal-return model's regressors (1 and the market for the market model) and D_kt = 1 on the k-th
event-window day. Every equation has the same regressors, so SUR (GLS) equals OLS equation by equation (Zellner
1962) and the estimates have a closed form:

* b_i = (X'X)^-1 X'y_i on the estimation days (a dummy fits its own day exactly), and g_ik = the abnormal return
  of ticker i on window day k, G = Y* - X* B (L2 x N);
* the cross-ticker residual covariance Sigma = E'E / (L1 - k) from the estimation residuals E (L1 x N): the
  same-date correlation of the tickers is estimated, not assumed away;
* Cov(vec G) = Sigma (x) C with C = I + X*(X'X)^-1 X*' (L2 x L2), the dummy block of the regression's
  (X'X)^-1 (prediction errors of the window days).

Tests (Binder 1985, section III; asymptotic Wald tests):

* joint: every ticker's every window AR is zero. The Wald statistic W = tr(Sigma^-1 G' C^-1 G) is asymptotically
  chi2(N L2), but with Sigma estimated from nu = L1 - k days it over-rejects badly when N is not small against nu
  (41% at 5% for N = 50, nu = 238 in ``tests/test_group_sizes.py``). The statistic reported is Hotelling's
  F = W (nu - N + 1) / (nu N L2) ~ F(N L2, nu - N + 1), exact for a one-day window under normality (Hotelling's
  T^2) and an approximation for longer windows;
* average: the CAAR (1/N) 1'G'1 is zero, z = CAAR / sqrt((1'Sigma 1)(1'C 1) / N^2) ~ N(0, 1).

It needs a common date for all tickers (else the regressor sets differ and SUR is no longer OLS); the engine
computes it for a group whose pairs share day 0 on one venue, with distinct tickers, and reports n/a otherwise.

Many systems at once (:func:`binder_sur_batch`): systems with the same number of tickers are stacked into
(batch, days, N) arrays with a mask of the days each uses (the others are zero rows, which add nothing to X'X,
the residuals or G, and give C identity rows that the tests leave out) and solved with numpy's batched linear
algebra, the same closed form as one system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventstudy.inference import distributions as stats
from eventstudy.inference.result import TestResult


@dataclass(frozen=True)
class BinderFit:
    """The Binder system's estimates and its two tests."""

    gamma: np.ndarray  # (L2, N) event-day dummy coefficients = abnormal returns
    sigma: np.ndarray  # (N, N) residual covariance, dof L1 - k
    c: np.ndarray  # (L2, L2) prediction-error matrix I + X*(X'X)^-1 X*'
    joint: TestResult  # Hotelling F(N L2, L1 - k - N + 1) of the Wald statistic
    average: TestResult  # z of the CAAR
    n_obs: int  # L1 common estimation days


@dataclass(frozen=True)
class BinderBatch:
    """B Binder systems: per system (B,) whether it could be estimated and its two tests; the estimates padded
    to the given days (zero on the days a system does not use)."""

    ok: np.ndarray  # (B,) bool
    gamma: np.ndarray  # (B, L2, N)
    sigma: np.ndarray  # (B, N, N)
    c: np.ndarray  # (B, L2, L2)
    f: np.ndarray  # (B,) Hotelling F of the joint test
    f_p: np.ndarray
    z: np.ndarray  # (B,) z of the CAAR
    z_p: np.ndarray
    n_obs: np.ndarray  # (B,) L1


@dataclass(frozen=True)
class BinderEstimation:
    """The estimation-period half of B Binder systems (it does not depend on the event window)."""

    ok: np.ndarray  # (B,) L1 - k > N, X'X of full rank and Sigma invertible
    xtx_inv: np.ndarray  # (B, k, k)
    b: np.ndarray  # (B, k, N) the regressors' coefficients
    sigma: np.ndarray  # (B, N, N) residual covariance, dof L1 - k
    sigma_inv: np.ndarray  # (B, N, N)
    l1: np.ndarray  # (B,) estimation days used


def binder_sur_batch(
    y_est: np.ndarray, x_est: np.ndarray, est: np.ndarray, y_win: np.ndarray, x_win: np.ndarray, win: np.ndarray
) -> BinderBatch:
    """Closed-form Binder SUR of B systems of N tickers each (module docstring).

    ``y_est`` (B, L1, N) returns and ``x_est`` (B, L1, k) regressors on candidate estimation days, ``est``
    (B, L1) the days each system uses; ``y_win`` (B, L2, N), ``x_win`` (B, L2, k), ``win`` (B, L2) the same for
    the event-window days. A system is not estimated (``ok`` false, tests NaN) when L1 - k <= N, no window day is
    used, or X'X or Sigma is singular. :func:`binder_estimation` then :func:`binder_window` (so several windows
    can share one estimation).
    """
    return binder_window(binder_estimation(y_est, x_est, est), y_win, x_win, win)


def binder_estimation(y_est: np.ndarray, x_est: np.ndarray, est: np.ndarray) -> BinderEstimation:
    """The estimation half of :func:`binder_sur_batch`: B = (X'X)^-1 X'Y and Sigma = E'E / (L1 - k)."""
    xe, ye = np.where(est[..., None], x_est, 0.0), np.where(est[..., None], y_est, 0.0)
    return masked_estimation(ye, xe, est)


def masked_estimation(
    ye: np.ndarray, xe: np.ndarray, est: np.ndarray, resid: np.ndarray | None = None
) -> BinderEstimation:
    """:func:`binder_estimation` of the returns ``ye`` and regressors ``xe`` already zero off the estimation days
    ``est``; the residuals are computed in ``resid`` (the shape of ``ye``) when given, else in a new array."""
    n, k = ye.shape[2], xe.shape[2]
    l1 = est.sum(axis=1)
    dof = l1 - k
    ok = (n >= 1) & (dof > n)
    xtx = xe.transpose(0, 2, 1) @ xe
    if k:
        ok &= np.linalg.matrix_rank(xtx) == k
    xtx_inv = _inverse(xtx, ok)
    b = xtx_inv @ xe.transpose(0, 2, 1) @ ye
    resid = np.matmul(xe, b, out=resid)
    np.subtract(ye, resid, out=resid)  # ye - X b, in the product's array
    sigma = resid.transpose(0, 2, 1) @ resid / np.maximum(dof, 1)[:, None, None]
    sigma_inv = _inverse(sigma, ok)
    ok &= np.isfinite(sigma_inv).all(axis=(1, 2))
    return BinderEstimation(ok, xtx_inv, b, sigma, sigma_inv, l1)


def binder_window(fit: BinderEstimation, y_win: np.ndarray, x_win: np.ndarray, win: np.ndarray) -> BinderBatch:
    """The event-window half of :func:`binder_sur_batch` for the systems of ``fit``: G, C and the two tests."""
    n, k = y_win.shape[2], x_win.shape[2]
    l2 = win.sum(axis=1)
    dof = fit.l1 - k
    ok = fit.ok & (l2 > 0)
    xw, yw = np.where(win[..., None], x_win, 0.0), np.where(win[..., None], y_win, 0.0)
    gamma = yw - xw @ fit.b
    c = np.eye(win.shape[1]) + xw @ fit.xtx_inv @ xw.transpose(0, 2, 1)
    c_inv = _inverse(c, ok)
    ok &= np.isfinite(c_inv).all(axis=(1, 2))
    wald = np.trace(fit.sigma_inv @ gamma.transpose(0, 2, 1) @ c_inv @ gamma, axis1=1, axis2=2)
    df1, df2 = n * l2, dof - n + 1
    f = np.where(ok, wald * df2 / np.where(ok, dof * df1, 1), np.nan)
    caar = gamma.sum(axis=(1, 2)) / n
    var = fit.sigma.sum(axis=(1, 2)) * (c * win[:, :, None] * win[:, None, :]).sum(axis=(1, 2)) / n**2
    z = np.where(ok & (var > 0), caar / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    return BinderBatch(
        ok, gamma, fit.sigma, c, f, stats.f.sf(f, df1, np.where(ok, df2, 1)), z, 2 * stats.norm.sf(np.abs(z)), fit.l1
    )


def _inverse(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Inverses of the matrices ``a[ok]`` (NaN for the others, and for any that LAPACK finds singular)."""
    out = np.full(a.shape, np.nan)
    try:
        out[ok] = np.linalg.inv(a[ok])
    except np.linalg.LinAlgError:  # one of them is singular: find it (rare; one matrix at a time)
        for i in np.flatnonzero(ok):
            try:
                out[i] = np.linalg.inv(a[i])
            except np.linalg.LinAlgError:
                continue
    return out


def binder_sur(y_est: np.ndarray, x_est: np.ndarray, y_win: np.ndarray, x_win: np.ndarray) -> BinderFit | None:
    """Closed-form Binder SUR of N tickers (module docstring).

    ``y_est`` (L1, N) returns and ``x_est`` (L1, k) regressors on the common clean estimation days; ``y_win``
    (L2, N), ``x_win`` (L2, k) on the event-window days. None when the system cannot be estimated (L1 - k <= N,
    or singular X'X or Sigma).
    """
    est, win = np.ones((1, len(y_est)), bool), np.ones((1, len(y_win)), bool)
    fit = binder_sur_batch(y_est[None], x_est[None], est, y_win[None], x_win[None], win)
    if not fit.ok[0]:
        return None
    n = y_est.shape[1]
    joint = TestResult(float(fit.f[0]), float(fit.f_p[0]), n)
    average = TestResult(float(fit.z[0]), float(fit.z_p[0]), n)
    return BinderFit(fit.gamma[0], fit.sigma[0], fit.c[0], joint, average, int(fit.n_obs[0]))
