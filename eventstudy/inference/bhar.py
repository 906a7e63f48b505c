"""Lyon, Barber & Tsai (1999) skewness-adjusted t of the mean buy-and-hold abnormal return.

Long-horizon BHARs are right-skewed, and the conventional t = sqrt(n) S with S = mean(BHAR) / sd(BHAR) is then
biased. Lyon, Barber & Tsai (1999, eq. 5; Johnson 1978) correct it:

    t_sa = sqrt(n) (S + gamma S^2 / 3 + gamma / (6 n)),   gamma = sum_i (BHAR_i - mean)^3 / (n sd^3),

with sd the sample standard deviation (ddof = 1). The p-value is two-sided from Student's t with n - 1 df (the
paper also bootstraps it; this is the analytic version). A cross-sectional test: it assumes independent pairs.
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.result import NA, TestResult, t_p


def bhar_skew_t(bhar: np.ndarray) -> TestResult:
    """Skewness-adjusted t of the mean BHAR (module docstring); NaN with fewer than 3 BHARs or no dispersion."""
    x = bhar[np.isfinite(bhar)]
    n = len(x)
    if n < 3:
        return TestResult(NA, NA, n)
    sd = x.std(ddof=1)
    if sd == 0:
        return TestResult(NA, NA, n)
    s = x.mean() / sd
    gamma = ((x - x.mean()) ** 3).sum() / (n * sd**3)
    t = np.sqrt(n) * (s + gamma * s**2 / 3 + gamma / (6 * n))
    return TestResult(float(t), t_p(t, n - 1), n)
