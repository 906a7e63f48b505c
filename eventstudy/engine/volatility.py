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

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.engine.group_tests import event_columns
from eventstudy.engine.window_pass import _pairwise_sum, pairwise_scratch
from eventstudy.inference import distributions as stats
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.moments import group_moments, z_p_values
from eventstudy.inference.result import TestResult

VOLATILITY_TESTS = ("variance_ratio", "csect_variance")


def variance_ratio(ar_window: np.ndarray, sigma: np.ndarray, dof: np.ndarray) -> TestResult:
    """Pooled variance-ratio F test of the event-window ARs ``ar_window`` (N, L2) against sigma (N,)."""
    return variance_ratio_groups(ar_window, sigma, dof, Groups.one(len(ar_window)))[0]


def variance_ratio_groups(ar_window: np.ndarray, sigma: np.ndarray, dof: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`variance_ratio` of every group: each pair's z_i once, then Z = sum z_i / sqrt(N) per group."""
    n_days, variance = row_variances(ar_window)
    ok = (n_days >= 2) & np.isfinite(sigma) & (sigma > 0) & (dof > 0)
    z_i = np.zeros(len(ar_window))
    if ok.any():
        f = variance[ok] / sigma[ok] ** 2
        cdf = stats.f.cdf(f, n_days[ok] - 1, dof[ok])
        z_i[ok] = stats.norm.ppf(np.clip(cdf, 1e-300, 1 - 1e-16))
    n = groups.count(ok)
    z = np.where(n > 0, groups.sum(z_i) / np.sqrt(np.maximum(n, 1)), np.nan)
    return GroupResult(z, z_p_values(z), n)


def row_variances(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``x`` (N, L), read in place (a view of the stage's ARs): the finite values' count and
    ``np.nanvar(row, ddof=1)`` bit for bit (NaN below two non-NaN values), from one compiled walk of the row instead
    of numpy's passes and copies of (N, L) arrays: the same sums in numpy's order (NaN read as 0, pairwise)."""
    x = np.asarray(x, dtype=np.float64)
    count, variance = np.zeros(len(x), dtype=np.int64), np.full(len(x), np.nan)
    _row_variances(x, count, variance)
    return count, variance


@numba.njit(cache=True, nogil=True)
def _row_variances(x, count, variance):  # pragma: no cover - compiled
    values = np.empty(x.shape[1])
    scratch = pairwise_scratch()
    for i in range(x.shape[0]):
        present = 0
        for t in range(x.shape[1]):
            v = x[i, t]
            count[i] += np.isfinite(v)
            present += not np.isnan(v)
            values[t] = 0.0 if np.isnan(v) else v
        if present < 2:
            continue
        mean = (0.0 + _pairwise_sum(values, 0, len(values), scratch)) / present  # nanvar: sum(a with NaN as 0) / count
        for t in range(x.shape[1]):
            v = x[i, t]
            values[t] = 0.0 if np.isnan(v) else (v - mean) * (v - mean)
        variance[i] = (0.0 + _pairwise_sum(values, 0, len(values), scratch)) / (present - 1)


def csect_variance(csar: np.ndarray, dof: np.ndarray) -> TestResult:
    """Boehmer-Musumeci-Poulsen cross-sectional variance test of the standardized CARs ``csar`` (N,)."""
    return csect_variance_groups(csar, dof, Groups.one(len(csar)))[0]


def csect_variance_groups(csar: np.ndarray, dof: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`csect_variance` of every group (``csar``, ``dof`` (P,)); NaN with fewer than 2 pairs."""
    ok = np.isfinite(csar) & (dof > 2)
    m = group_moments(np.where(ok, csar, np.nan), groups)
    d = np.where(ok, dof, 3).astype(float)
    mean_v = groups.sum(np.where(ok, d / (d - 2), 0.0)) / np.maximum(m.n, 1)
    have = m.n >= 2
    ratio = np.where(have, m.var() / np.where(have, mean_v, 1.0), np.nan)
    chi, df = (m.n - 1) * np.where(have, ratio, 0.0), np.maximum(m.n - 1, 1)
    p = np.minimum(2 * np.minimum(stats.chi2.cdf(chi, df), stats.chi2.sf(chi, df)), 1.0)
    return GroupResult(ratio, np.where(have, p, np.nan), m.n)


def volatility_tests(stage, wmask: np.ndarray, window, groups: Groups) -> dict[str, GroupResult]:
    """Both volatility tests of every group over one event window (``wmask``: (D,) day mask)."""
    ar_win = stage.event_ar[:, event_columns(stage, wmask)]
    return {
        "variance_ratio": variance_ratio_groups(ar_win, stage.sigma, stage.dof, groups),
        "csect_variance": csect_variance_groups(stage.csar[window], stage.dof, groups),
    }
