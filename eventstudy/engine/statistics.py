"""Abnormal-return statistics: per-pair CAR and BHAR, and the test battery for a group of pairs.

Notation follows ``STATISTICS.md``: a pair i is one (event, ticker); the estimation window holds L1_i clean
returns, an event window [t1, t2] holds L2 days; N is the number of pairs in the group. Every p-value is
two-sided. Arrays are NaN where a pair has no return that day (such days are left out, never filled).
"""

from __future__ import annotations

import numpy as np

from eventstudy.engine.window_pass import Design, WindowSums, window_pass
from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.daily import aar_sd
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.moments import group_day_means, group_moments, t_p_values, z_p_values
from eventstudy.inference.result import TestResult
from eventstudy.inference.threads import split_elementwise

TEST_NAMES = (
    "csect_t",
    "time_series_t",
    "patell_z",
    "bmp_t",
    "kp_bmp_t",
    "corrado_rank",
    "grank",
    "sign",
    "generalized_sign",
    "wilcoxon",
)


# --------------------------------------------------------------------------------------------- per pair
def car_table(
    ar: np.ndarray,
    returns: np.ndarray,
    normal: np.ndarray,
    design: np.ndarray,
    xtx_inv: np.ndarray,
    sigma: np.ndarray,
    dof: np.ndarray,
    window: np.ndarray,
    kind: str = "simple",
    span: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """CAR, its standard error, t, p and BHAR for every pair over one window (``window``: (D,) day mask).

    * CAR_i = sum of AR_it over the window's days with a return (L2_i of them).
    * Var(CAR_i) = sigma_i^2 1'(I + X*(X'X)^-1 X*')1 = sigma_i^2 (L2_i + s_i'(X'X)^-1 s_i), s_i = sum of the
      window's design rows (MacKinlay 1997, eq. 15-16: the variance includes the estimation error of the
      parameters; for market-adjusted returns nothing is estimated and it is L2_i sigma_i^2).
      With trade-to-trade returns (``span`` (P, D): sessions each return spans, Maynes & Rumsey 1993) L2_i is the
      number of sessions the window's returns span, sum of k_it, and s_i sums the span-summed design rows.
    * t = CAR / se with L1_i - k degrees of freedom.
    * BHAR_i = prod(1 + R_it) - prod(1 + E[R_it]) over the window (gross returns exp(r) for log returns).

    The sums come from one compiled pass (:func:`~eventstudy.engine.window_pass.window_pass`).
    """
    ar, returns, normal = (np.ascontiguousarray(a, dtype=float) for a in (ar, returns, normal))
    span = None if span is None else np.ascontiguousarray(span)
    sums = window_pass(
        ar, Design.explicit(design), xtx_inv, span, window[None, :], returns, normal, kind, whole_rows=True
    )
    return car_statistics(sums, 0, xtx_inv, sigma, dof)


def car_statistics(
    sums: WindowSums, w: int, xtx_inv: np.ndarray, sigma: np.ndarray, dof: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`car_table` of the window ``w`` of ``sums``: CAR, se, t, p, BHAR and the days with a return."""
    n_days, s = sums.n_days[w], sums.s[w]
    quad = np.einsum("pk,pkl,pl->p", s, xtx_inv, s)
    se = sigma * np.sqrt(sums.sessions[w] + quad)
    has = (n_days > 0) & np.isfinite(se) & (se > 0)
    car = np.where(n_days > 0, sums.car[w], np.nan)
    t = np.where(has, car / np.where(has, se, 1.0), np.nan)
    df = np.broadcast_to(np.maximum(dof, 1), t.shape)
    sf = split_elementwise(stats.t.sf, np.abs(np.nan_to_num(t)), df)  # Student t's sf on all threads
    p = np.where(has, 2 * sf, np.nan)
    bhar = np.where(n_days > 0, sums.real[w] - sums.expected[w], np.nan)
    return {"car": car, "car_se": np.where(has, se, np.nan), "car_t": t, "car_p": p, "bhar": bhar, "n_days": n_days}


def standardized_ar(ar: np.ndarray, sigma: np.ndarray, prediction_factor: np.ndarray, estimation_days: np.ndarray):
    """SAR_it = AR_it / (sigma_i sqrt(C_it)) (Patell 1976).

    Out of the estimation window C_it is the prediction-error factor of the model (1 + x_t'(X'X)^-1 x_t); on
    estimation days AR_it is an in-sample residual and is divided by sigma_i alone (C = 1), the convention of
    Kolari & Pynnönen (2011) for the rank tests.
    """
    scale = np.where(estimation_days[None, :], 1.0, prediction_factor)  # one (P, D) array, reused in place
    np.sqrt(scale, out=scale)
    scale *= sigma[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # sigma 0: such a pair is never studied (insufficient)
        return np.divide(ar, scale, out=scale)


def cumulative_sar(car: np.ndarray, car_se: np.ndarray) -> np.ndarray:
    """CSAR_i = CAR_i / se(CAR_i), the second convention of ``STATISTICS.md`` for Patell, BMP and GRANK.

    se(CAR_i) = sigma_i sqrt(1'(I + X*(X'X)^-1 X*')1) (``car_se`` of :func:`car_table`) carries the covariance
    that parameter estimation creates across the window's days (every day's prediction error shares the same
    estimated alpha and beta; MacKinlay 1997, eq. 15-16), which sum_t SAR_it / sqrt(L2) (Patell 1976's first form)
    leaves out. Under the null CSAR_i is t with L1_i - k df, the variance Patell's Z assumes.
    """
    ok = np.isfinite(car) & np.isfinite(car_se) & (car_se > 0)
    return np.where(ok, car / np.where(ok, car_se, 1.0), np.nan)


# --------------------------------------------------------------------------------------------- tests
def csect_t(car: np.ndarray) -> TestResult:
    """Cross-sectional t: mean(CAR) / (sd(CAR) / sqrt(N)), t with N - 1 df (sd with ddof = 1).

    Ignores estimation error and cross-correlation (Brown & Warner 1985; MacKinlay 1997, eq. 21 with the
    cross-sectional variance).
    """
    return csect_t_groups(car, Groups.one(len(car)))[0]


def csect_t_groups(car: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`csect_t` of every group's CARs (``car`` (P,), NaN left out); NaN with N < 2 or no dispersion."""
    m = group_moments(car, groups)
    sd = np.sqrt(m.var())
    ok = (m.n >= 2) & (sd > 0)
    t = np.where(ok, m.mean / (np.where(ok, sd, 1.0) / np.sqrt(np.maximum(m.n, 1))), np.nan)
    return GroupResult(t, t_p_values(t, m.n - 1), m.n)


def time_series_t(ar_estimation: np.ndarray, ar_window: np.ndarray) -> TestResult:
    """Brown & Warner (1985) portfolio time-series t ("crude dependence adjustment").

    AAR_t = mean over pairs of AR_it on each relative day; S = sd(AAR_t) over the estimation days (ddof = 1);
    statistic = CAAR / (sqrt(L2) S) with CAAR the sum of the window's AAR_t, t with L1 - 1 df (L1 = estimation
    days with an AAR). Robust to cross-correlation because S is measured on the portfolio itself.
    """
    return time_series_t_groups(ar_estimation, ar_window, Groups.one(len(ar_window)))[0]


def time_series_t_groups(
    ar_estimation: np.ndarray | ArRows,
    ar_window: np.ndarray,
    groups: Groups,
    estimation: tuple[np.ndarray, np.ndarray] | None = None,
    valid: np.ndarray | None = None,
) -> GroupResult:
    """:func:`time_series_t` of every group: its AAR_t per day is the mean over the group's pairs with a return.
    ``estimation`` = :func:`portfolio_sd` of ``ar_estimation`` and ``groups`` when computed before (event windows
    whose groups hold the same pairs share it); ``valid`` as for :func:`portfolio_sd`."""
    n = groups.count(np.isfinite(ar_window).any(axis=1))
    s, l1 = portfolio_sd(ar_estimation, groups, valid) if estimation is None else estimation
    aar_win = group_day_means(ar_window, groups)[0]
    l2 = np.isfinite(aar_win).sum(axis=1)
    ok = (l1 >= 3) & (l2 > 0) & (s > 0)
    caar = np.where(np.isfinite(aar_win), aar_win, 0.0).sum(axis=1)
    t = np.where(ok, caar / (np.sqrt(np.maximum(l2, 1)) * np.where(ok, s, 1.0)), np.nan)
    return GroupResult(t, t_p_values(t, l1 - 1), n)


def portfolio_sd(
    ar_estimation: np.ndarray | ArRows, groups: Groups, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(S, L1)`` (G,) of :func:`time_series_t`: the sd of each group's estimation-period AAR_t and its days.

    ``ar_estimation`` (P, L1): an array or :class:`~eventstudy.inference.ar_rows.ArRows` (the stage's rows, stored
    or regenerated, read a row at a time). ``valid`` (P, L1): only the ARs where it holds (and that are finite)
    count, as if the others were NaN (the clean estimation days, read in place: no NaN-filled copy)."""
    return aar_sd(group_day_means(ar_estimation, groups, valid)[0])


def patell_z(csar: np.ndarray, dof: np.ndarray) -> TestResult:
    """Patell (1976) Z = sum_i CSAR_i / sqrt(sum_i (L1_i - k) / (L1_i - k - 2)), N(0, 1).

    Each SAR is t-distributed with L1_i - k df, whose variance is (L1_i - k) / (L1_i - k - 2). Pairs with
    L1_i - k <= 2 are left out.
    """
    return patell_z_groups(csar, dof, Groups.one(len(csar)))[0]


def patell_z_groups(csar: np.ndarray, dof: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`patell_z` of every group (``csar``, ``dof`` (P,))."""
    ok = np.isfinite(csar) & (dof > 2)
    d = np.where(ok, dof, 3).astype(float)
    n = groups.count(ok)
    total = groups.sum(np.where(ok, csar, 0.0))
    var = groups.sum(np.where(ok, d / (d - 2), 0.0))
    z = np.where(n > 0, total / np.sqrt(np.where(n > 0, var, 1.0)), np.nan)
    return GroupResult(z, z_p_values(z), n)


def bmp_t(csar: np.ndarray) -> TestResult:
    """Boehmer, Musumeci & Poulsen (1991): mean(CSAR) / (sd(CSAR) / sqrt(N)), t with N - 1 df.

    The cross-sectional t of the standardized CARs: robust to event-induced variance.
    """
    return bmp_t_groups(csar, Groups.one(len(csar)))[0]


def bmp_t_groups(csar: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`bmp_t` of every group: the cross-sectional t of its CSARs."""
    return csect_t_groups(csar, groups)


def kp_bmp_t(csar: np.ndarray, rbar: float) -> TestResult:
    """Kolari & Pynnönen (2010) cross-correlation-adjusted BMP: bmp_t * sqrt((1 - rbar) / (1 + (N - 1) rbar)).

    ``rbar`` is the average pairwise correlation of the pairs' CARs, each pair's residual correlation weighted by
    the share of window days they have in common (:func:`eventstudy.inference.correlation.mean_pairwise_correlation`);
    t with N - 1 df.
    """
    return kp_bmp_t_groups(csar, np.array([rbar], dtype=float), Groups.one(len(csar)))[0]


def kp_bmp_t_groups(csar: np.ndarray, rbar: np.ndarray, groups: Groups) -> GroupResult:
    """:func:`kp_bmp_t` of every group, ``rbar`` (G,) each group's average pairwise correlation."""
    base = bmp_t_groups(csar, groups)
    n, rbar = base.n, np.asarray(rbar, dtype=float)
    denom = 1 + (n - 1) * rbar
    ok = np.isfinite(base.statistic) & np.isfinite(rbar) & (denom > 0)
    factor = np.sqrt(np.where(ok, (1 - rbar) / np.where(ok, denom, 1.0), 0.0))
    t = np.where(ok, base.statistic * factor, np.nan)
    return GroupResult(t, t_p_values(t, n - 1), n)
