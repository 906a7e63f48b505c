"""Lyon, Barber & Tsai (1999) skewness-adjusted t of the mean buy-and-hold abnormal return.

Long-horizon BHARs are right-skewed, and the conventional t = sqrt(n) S with S = mean(BHAR) / sd(BHAR) is then
biased. Lyon, Barber & Tsai (1999, eq. 5; Johnson 1978) correct it:

    t_sa = sqrt(n) (S + gamma S^2 / 3 + gamma / (6 n)),   gamma = sum_i (BHAR_i - mean)^3 / (n sd^3),

with sd the sample standard deviation (ddof = 1). The p-value is two-sided from Student's t with n - 1 df (the
paper also bootstraps it; this is the analytic version). A cross-sectional test: it assumes independent pairs.
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.moments import group_moments, t_p_values
from eventstudy.inference.result import TestResult


def bhar_skew_t(bhar: np.ndarray) -> TestResult:
    """Skewness-adjusted t of the mean BHAR (module docstring); NaN with fewer than 3 BHARs or no dispersion."""
    return bhar_skew_t_groups(bhar, Groups.one(len(bhar)))[0]


def bhar_skew_t_groups(bhar: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`bhar_skew_t` of every group's BHARs (``bhar`` (P,), NaN left out), by segment sums."""
    m = group_moments(bhar, groups)
    n = m.n
    sd = np.sqrt(m.var())
    ok = (n >= 3) & (sd > 0)
    sd, size = np.where(ok, sd, 1.0), np.maximum(n, 1)
    s = m.mean / sd
    gamma = m.m3 / (size * sd**3)
    t = np.where(ok, np.sqrt(size) * (s + gamma * s**2 / 3 + gamma / (6 * size)), np.nan)
    return GroupResult(t, t_p_values(t, n - 1), n)
