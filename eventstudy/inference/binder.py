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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from eventstudy.inference.result import NA, TestResult, z_p


@dataclass(frozen=True)
class BinderFit:
    """The Binder system's estimates and its two tests."""

    gamma: np.ndarray  # (L2, N) event-day dummy coefficients = abnormal returns
    sigma: np.ndarray  # (N, N) residual covariance, dof L1 - k
    c: np.ndarray  # (L2, L2) prediction-error matrix I + X*(X'X)^-1 X*'
    joint: TestResult  # Hotelling F(N L2, L1 - k - N + 1) of the Wald statistic
    average: TestResult  # z of the CAAR
    n_obs: int  # L1 common estimation days


def binder_sur(y_est: np.ndarray, x_est: np.ndarray, y_win: np.ndarray, x_win: np.ndarray) -> BinderFit | None:
    """Closed-form Binder SUR of N tickers (module docstring).

    ``y_est`` (L1, N) returns and ``x_est`` (L1, k) regressors on the common clean estimation days; ``y_win``
    (L2, N), ``x_win`` (L2, k) on the event-window days. None when the system cannot be estimated (L1 - k <= N,
    or singular X'X or Sigma).
    """
    l1, n = y_est.shape
    k = x_est.shape[1]
    dof = l1 - k
    if n < 1 or len(y_win) == 0 or dof <= n:
        return None
    xtx = x_est.T @ x_est
    if k and np.linalg.matrix_rank(xtx) < k:
        return None
    xtx_inv = np.linalg.inv(xtx) if k else np.zeros((0, 0))
    b = xtx_inv @ x_est.T @ y_est
    resid = y_est - x_est @ b
    sigma = resid.T @ resid / dof
    gamma = y_win - x_win @ b
    c = np.eye(len(y_win)) + x_win @ xtx_inv @ x_win.T
    try:
        sigma_inv = np.linalg.inv(sigma)
        c_inv = np.linalg.inv(c)
    except np.linalg.LinAlgError:
        return None
    wald = float(np.trace(sigma_inv @ gamma.T @ c_inv @ gamma))
    df1, df2 = n * len(y_win), dof - n + 1
    f = wald * df2 / (dof * df1)
    joint = TestResult(f, float(stats.f.sf(f, df1, df2)), n)
    caar = gamma.sum() / n
    var = sigma.sum() * c.sum() / n**2
    z = caar / np.sqrt(var) if var > 0 else NA
    return BinderFit(gamma, sigma, c, joint, TestResult(float(z), z_p(z), n), l1)
