"""Daily tests of the average abnormal return AAR_t (one statistic and p-value per event day in ``aar.csv``).

Convention (Brown & Warner 1985, "crude dependence adjustment", the one-day case of ``time_series_t``): with
AAR_s the mean over pairs of AR on estimation day s (relative days) and S = sd(AAR_s) over the L1 estimation days
(ddof = 1),

    t_t = AAR_t / S,   Student's t with L1 - 1 df, two-sided.

S is measured on the portfolio itself, so the correlation of pairs that share a date is in it.
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference import distributions as stats
from eventstudy.inference.threads import split_elementwise


def daily_aar_t(aar: np.ndarray, aar_estimation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, p)`` for each AAR in ``aar`` against S from ``aar_estimation`` (module docstring).

    ``aar_estimation`` (L1,) with ``aar`` of any shape, or one row per group, (G, L1) with ``aar`` (G, D).
    Estimation days without an AAR (NaN) are left out; fewer than 3 (or S = 0) give NaN for the whole row.
    """
    s, days = aar_sd(aar_estimation)
    ok = (days >= 3) & (s > 0)
    s, days, ok = s[..., None], days[..., None], ok[..., None]
    t = np.where(ok, aar / np.where(ok, s, 1.0), np.nan)
    df = np.broadcast_to(np.maximum(days - 1, 1), t.shape).ravel()
    sf = split_elementwise(stats.t.sf, np.abs(np.nan_to_num(t)).ravel(), df).reshape(t.shape)  # on all threads
    return t, np.where(np.isfinite(t), 2 * sf, np.nan)


def aar_sd(aar_estimation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(S, L1)`` along the last axis of ``aar_estimation``: sd (ddof = 1) of the finite AARs and their number
    (S is NaN with fewer than 3)."""
    finite = np.isfinite(aar_estimation)
    days = finite.sum(axis=-1)
    mean = np.where(finite, aar_estimation, 0.0).sum(axis=-1) / np.maximum(days, 1)
    dev = np.where(finite, aar_estimation - mean[..., None], 0.0)
    s = np.sqrt((dev * dev).sum(axis=-1) / np.maximum(days - 1, 1))
    return np.where(days >= 3, s, np.nan), days
