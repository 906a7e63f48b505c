"""The tidy tables of a study (``ar``, ``car``, ``parameters``, ``tests``) from its pair stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy.engine.group_tests import group_battery
from eventstudy.engine.panel import Windows
from eventstudy.engine.rank_tests import corrado_rank, generalized_sign, grank, sign_test, wilcoxon_test
from eventstudy.engine.statistics import bmp_t, csect_t, kp_bmp_t, patell_z, time_series_t
from eventstudy.inference.correlation import mean_pairwise_correlation
from eventstudy.inference.families import family

TESTS_COLUMNS = ["group", "window", "test", "family", "statistic", "p_value", "n", "rbar"]


def report_days(days: np.ndarray, windows: Windows) -> np.ndarray:
    """(D,) mask of the days reported in the AR and AAR tables."""
    lo, hi = windows.report_span
    return (days >= lo) & (days <= hi)


def ar_frame(stage, windows: Windows) -> pd.DataFrame:
    """One row per studied pair and reported day."""
    days = report_days(stage.days, windows)
    idx = np.flatnonzero(stage.active)
    n_days = int(days.sum())
    pairs = stage.pairs.iloc[idx]
    return pd.DataFrame(
        {
            "event_id": np.repeat(pairs["event_id"].to_numpy(), n_days),
            "ticker": np.repeat(pairs["ticker"].to_numpy(), n_days),
            "day": np.tile(stage.days[days], len(idx)),
            "date": stage.dates[idx][:, days].ravel(),
            "return": stage.returns[idx][:, days].ravel(),
            "normal_return": stage.normal[idx][:, days].ravel(),
            "ar": stage.ar[idx][:, days].ravel(),
            "sar": stage.sar[idx][:, days].ravel(),
            "span": stage.span[idx][:, days].ravel(),
        }
    )


def car_frame(stage) -> pd.DataFrame:
    """One row per studied pair and event window."""
    idx = np.flatnonzero(stage.active)
    parts = []
    for window, table in stage.cars.items():
        part = stage.pairs.iloc[idx][["event_id", "ticker"]].copy()
        part.insert(2, "window", Windows.label(window))
        for col in ("car", "car_se", "car_t", "car_p", "bhar", "n_days"):
            part[col] = table[col][idx]
        part["contaminated"] = stage.contamination[window][idx]
        part["complete"] = table["complete"][idx]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def parameter_frame(stage) -> pd.DataFrame:
    """One row per pair, studied or not (with its status and reason)."""
    pairs = stage.pairs
    k = stage.params.shape[1]
    out = pairs[["event_id", "ticker"]].copy()
    out["model"] = stage.model
    out["status"] = pairs["status"].to_numpy()
    out["reason"] = pairs["reason"].to_numpy()
    out["n_obs"] = stage.n_obs
    out["alpha"] = stage.params[:, 0] if k >= 1 else np.nan
    out["beta"] = stage.params[:, 1] if k >= 2 else np.nan
    out["sigma"] = stage.sigma
    out["r2"] = stage.r2
    out["estimation_start"] = pd.to_datetime(stage.estimation_start)
    out["estimation_end"] = pd.to_datetime(stage.estimation_end)
    out["day0_date"] = pairs["day0"].to_numpy()
    out["masked_days"] = pairs["masked_days"].to_numpy()
    out["venue"] = pairs["venue"].to_numpy()
    for j, name in enumerate(stage.regressor_names[1:], start=2):
        if j < k:
            out[f"beta_{name}"] = stage.params[:, j]
    for name, values in stage.extra.items():
        out[name] = values
    numeric = [name for name, values in stage.extra.items() if values.dtype.kind == "f"]
    out.loc[~stage.active, ["sigma", "r2", "alpha", "beta", *numeric]] = np.nan
    return out


def tests_frame(
    stage, windows: Windows, groups: list[tuple[str, np.ndarray]], clock=None, bootstrap: tuple[int, int] = (0, 0)
) -> pd.DataFrame:
    """The test battery of every group (``(label, member mask)``) and event window.

    ``bootstrap`` = (draws, seed) of the wild bootstrap of the CAAR (draws 0: off, its rows n/a).

    ``clock`` (a :class:`~eventstudy.engine.stages.Stopwatch`) gets the phases "tests" (parametric tests and
    rbar) and "rank tests" (Corrado, GRANK, sign, generalized sign, Wilcoxon).
    """
    lap = clock.lap if clock is not None else (lambda phase: None)
    est_days = (stage.days >= windows.estimation[0]) & (stage.days <= windows.estimation[1])
    ar, sar = stage.ar, stage.sar
    ar_est = np.where(stage.estimation, ar, np.nan)[:, est_days]
    sar_est = np.where(stage.estimation, sar, np.nan)[:, est_days]
    dates_est = stage.dates[:, est_days]
    rows = []
    for window in windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        car = stage.cars[window]["car"]
        csar = stage.csar[window]
        window_dates = stage.dates[:, wmask]
        sample = np.concatenate([ar_est, ar[:, wmask]], axis=1)
        sample_window = np.r_[np.zeros(ar_est.shape[1], bool), np.ones(wmask.sum(), bool)]
        for group, members in groups:
            members = members & np.isfinite(car)
            idx = np.flatnonzero(members)
            rbar = mean_pairwise_correlation(ar_est[idx], dates_est[idx], window_dates[idx])
            lap("tests")
            parametric = {
                "csect_t": csect_t(car[idx]),
                "time_series_t": time_series_t(ar_est[idx], ar[idx][:, wmask]),
                "patell_z": patell_z(csar[idx], stage.dof[idx]),
                "bmp_t": bmp_t(csar[idx]),
                "kp_bmp_t": kp_bmp_t(csar[idx], rbar),
            }
            lap("tests")
            battery = {
                **parametric,
                "corrado_rank": corrado_rank(sample[idx], sample_window),
                "grank": grank(sar_est[idx], csar[idx]),
                "sign": sign_test(car[idx]),
                "generalized_sign": generalized_sign(car[idx], ar_est[idx]),
                "wilcoxon": wilcoxon_test(car[idx]),
                **group_battery(stage, window, wmask, idx, bootstrap),
            }
            lap("rank tests")
            for name, res in battery.items():
                rows.append((group, Windows.label(window), name, family(name), res.statistic, res.p_value, res.n, rbar))
    return pd.DataFrame(rows, columns=TESTS_COLUMNS)
