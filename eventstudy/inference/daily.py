"""Daily tests of the average abnormal return AAR_t (one statistic and p-value per event day in ``aar.csv``).

Convention (Brown & Warner 1985, "crude dependence adjustment", the one-day case of ``time_series_t``): with
AAR_s the mean over pairs of AR on estimation day s (relative days) and S = sd(AAR_s) over the L1 estimation days
(ddof = 1),

    t_t = AAR_t / S,   Student's t with L1 - 1 df, two-sided.

S is measured on the portfolio itself, so the correlation of pairs that share a date is in it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def daily_aar_t(aar: np.ndarray, aar_estimation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, p)`` for each AAR in ``aar`` (any shape) against S from ``aar_estimation`` (module docstring).

    Estimation days without an AAR (NaN) are left out; fewer than 3 give NaN everywhere.
    """
    est = aar_estimation[np.isfinite(aar_estimation)]
    if len(est) < 3 or est.std(ddof=1) == 0:
        nan = np.full(np.shape(aar), np.nan)
        return nan, nan.copy()
    t = aar / est.std(ddof=1)
    p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(np.nan_to_num(t)), len(est) - 1), np.nan)
    return t, p
