"""Abnormal volatility: did the event raise the variance of abnormal returns? (``measure = volatility``)

* ``variance_ratio`` (per pair an F test): F_i = s2_i / sigma_i^2, with s2_i the sample variance of the pair's
  L2_i event-window ARs (ddof = 1) and sigma_i^2 its estimation-window residual variance; under H0 (normal ARs,
  no change in variance) F_i ~ F(L2_i - 1, L1_i - k). The pairs are pooled by Stouffer's method:
  z_i = Phi^-1(F cdf(F_i)), Z = sum z_i / sqrt(N), N(0, 1); with one pair this is the F test itself. Needs
  L2_i >= 2 (a one-day window has no event-window variance). ``statistic`` = Z.
* ``csect_variance`` (Boehmer, Musumeci & Poulsen 1991, sec. 2: the event-period variance of standardized
  abnormal returns estimated from the cross-section): s2 = sum_i (CSAR_i - mean CSAR)^2 / (N - 1). Under H0 each
  CSAR_i has variance v_i = (L1_i - k) / (L1_i - k - 2) (a t variable), so (N - 1) s2 / mean(v) ~ chi2(N - 1).
  ``statistic`` = s2 / mean(v), the variance ratio (1 under H0).

p-values are two-sided like the rest of the battery (a fall in variance is also a finding).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from eventstudy.engine.statistics import TestResult
from eventstudy.inference.families import family

_NA = float("nan")


def variance_ratio(ar_window: np.ndarray, sigma: np.ndarray, dof: np.ndarray) -> TestResult:
    """Pooled variance-ratio F test of the event-window ARs ``ar_window`` (N, L2) against sigma (N,)."""
    n_days = np.isfinite(ar_window).sum(axis=1)
    ok = (n_days >= 2) & np.isfinite(sigma) & (sigma > 0) & (dof > 0)
    n = int(ok.sum())
    if n == 0:
        return TestResult(_NA, _NA, 0)
    s2 = np.nanvar(ar_window[ok], axis=1, ddof=1)
    f = s2 / sigma[ok] ** 2
    cdf = stats.f.cdf(f, n_days[ok] - 1, dof[ok])
    z_i = stats.norm.ppf(np.clip(cdf, 1e-300, 1 - 1e-16))
    z = float(z_i.sum() / np.sqrt(n))
    return TestResult(z, float(2 * stats.norm.sf(abs(z))), n)


def csect_variance(csar: np.ndarray, dof: np.ndarray) -> TestResult:
    """Boehmer-Musumeci-Poulsen cross-sectional variance test of the standardized CARs ``csar`` (N,)."""
    ok = np.isfinite(csar) & (dof > 2)
    n = int(ok.sum())
    if n < 2:
        return TestResult(_NA, _NA, n)
    d = dof[ok].astype(float)
    ratio = np.var(csar[ok], ddof=1) / np.mean(d / (d - 2))
    chi = (n - 1) * ratio
    p = 2 * min(stats.chi2.cdf(chi, n - 1), stats.chi2.sf(chi, n - 1))
    return TestResult(float(ratio), float(min(p, 1.0)), n)


def volatility_rows(stage, windows, groups: list[tuple[str, np.ndarray]]) -> list[tuple]:
    """``(group, window, test, family, statistic, p_value, n, rbar)`` rows of both volatility tests (rbar: NaN)."""
    rows = []
    for window in windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        label = f"{window[0]}..{window[1]}"
        for group, members in groups:
            idx = np.flatnonzero(members & np.isfinite(stage.cars[window]["car"]))
            for name, res in (
                ("variance_ratio", variance_ratio(stage.ar[idx][:, wmask], stage.sigma[idx], stage.dof[idx])),
                ("csect_variance", csect_variance(stage.csar[window][idx], stage.dof[idx])),
            ):
                rows.append((group, label, name, family(name), res.statistic, res.p_value, res.n, _NA))
    return rows
