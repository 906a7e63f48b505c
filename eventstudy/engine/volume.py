"""Abnormal trading volume (Campbell & Wasley 1996), as a second "measure" of every pair on the return grid.

With v_it = log(1 + V_it), V_it the share volume on the pair's session t:

* ``mean`` model: AV_it = v_it - mean_i(v) over the clean estimation days (Campbell & Wasley 1996, eq. 2; the
  constant-mean model on log volume), sigma_i = sd_i(v) with L1 - 1 degrees of freedom;
* ``market`` model: AV_it = v_it - a_i - b_i v_mt with v_mt = log(1 + V_mt) of the market benchmark (Campbell &
  Wasley 1996, eq. 3), by OLS.

SAV_it = AV_it / (sigma_i sqrt(C_it)) and CAV = sum of AV over a window, exactly as for returns (the linear models
of :mod:`eventstudy.engine.models`), so the same test battery applies. Clean estimation days: the estimation
window's days that are not masked (other events, confounders) and have a volume, a return (so no volume from
before a ticker's ``listed`` date) and, for the market model, a market volume.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from eventstudy.engine.ar_table import ar_frame
from eventstudy.engine.models import fit_model
from eventstudy.engine.stage_arrays import stored_ar
from eventstudy.engine.statistics import car_table, cumulative_sar, standardized_ar
from eventstudy.engine.tables import car_frame
from eventstudy.errors import InputError

VOLUME_MODELS = ("mean", "market")


def check_volume(prices: pd.DataFrame, model: str, benchmarks: list[str]) -> None:
    """Raise :class:`InputError` when abnormal volume cannot be measured at all: the prices hold no share volume,
    or (``market`` model) a benchmark has none."""
    has = prices["volume"].notna().to_numpy()
    if not has.any():
        raise InputError(
            "abnormal volume needs share volumes, and the prices hold none (their volume column is empty): load "
            "prices with volume (yfinance and the price store keep it) or run without --volume"
        )
    without = sorted(set(benchmarks) - set(prices["ticker"][has].unique())) if model == "market" else []
    if without:
        raise InputError(
            f"the market volume model needs the benchmark's share volume, and {', '.join(without)} has none in the "
            "prices: use --volume mean, or a benchmark with volume (an ETF such as SPY rather than an index)"
        )


def volume_matrix(prices: pd.DataFrame, tickers: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(P, D) share volume of each pair's ticker on its session dates (NaN where absent or NaT)."""
    rows = prices.dropna(subset=["volume"])
    if rows.empty:  # no volume at all (e.g. a subset of the study's tickers): every pair's volume is missing
        return np.full(dates.shape, np.nan)
    wide = rows.pivot_table(index="date", columns="ticker", values="volume", aggfunc="first")
    day = wide.index.get_indexer(pd.DatetimeIndex(dates.ravel())).reshape(dates.shape)
    col = wide.columns.get_indexer(pd.Index(tickers))
    values = wide.to_numpy(dtype=float)
    ok = (day >= 0) & (col[:, None] >= 0)
    return np.where(ok, values[np.maximum(day, 0), np.maximum(col, 0)[:, None]], np.nan)


def volume_stage(stage, panel, prices: pd.DataFrame, model: str, market: list | None, windows, min_obs: int):
    """The volume measure of a pair stage: a copy of ``stage`` whose ``returns`` are the volumes V, ``ar`` AV (of
    log(1 + V)), ``sar`` SAV and ``cars`` CAV, ready for the same tests and tables.

    ``market`` is the benchmark ticker of each pair (for the ``market`` model). Pairs studied for returns with
    fewer than ``min_obs`` clean estimation volumes are left out (NaN). Only sessions with a valid return count.
    """
    tickers = panel.pairs["ticker"].to_numpy()
    volume = volume_matrix(prices, tickers, panel.dates)
    # only sessions with a valid return: never the volume of a pre-listing shell (``listed``) or a stale price
    volume = np.where(np.isfinite(panel.returns), volume, np.nan)
    logv = np.log1p(volume)
    est_days = (panel.days >= windows.estimation[0]) & (panel.days <= windows.estimation[1])
    estimation = est_days[None, :] & ~panel.masked & np.isfinite(logv)
    if model == "market":
        mv = np.log1p(volume_matrix(prices, np.asarray(market, dtype=object), panel.dates))
        estimation &= np.isfinite(mv)
        fit = fit_model("market", logv, mv[:, :, None], estimation)
    else:
        fit = fit_model("constant-mean", logv, np.zeros((*logv.shape, 0)), estimation)
    active = stage.active & fit.usable & (fit.n_obs >= min_obs)
    av = np.where(active[:, None], fit.ar, np.nan)
    sav = standardized_ar(av, fit.sigma, fit.prediction_factor(), est_days)
    start = int(est_days.sum())  # the estimation window's days come first (PairStage)
    cavs = {}
    for w in windows.events:
        mask = panel.day_mask(w)
        cavs[w] = car_table(av, logv, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, mask)
        cavs[w]["complete"] = cavs[w]["n_days"] == mask.sum()  # a volume on every day of the window
    return replace(
        stage,
        model=np.full(len(tickers), f"volume-{model}", dtype=object),
        params=fit.params,
        sigma=fit.sigma,
        n_obs=fit.n_obs,
        dof=fit.dof,
        r2=fit.r2,
        active=active,
        estimation=estimation,
        stored_returns=volume,  # the raw measure (av.csv's volume); AV is of log(1 + volume)
        estimation_normal=fit.normal[:, :start],  # held for every study: volume is a measure of small studies
        event_normal=fit.normal[:, start:],
        stored_design=fit.design,
        **stored_ar(av, start),
        event_sar=sav[:, start:],
        cars=cavs,
        csar={w: cumulative_sar(cavs[w]["car"], cavs[w]["car_se"]) for w in windows.events},
        extra={},
        volume=None,
    )


def av_frame(vstage, windows) -> pd.DataFrame:
    """``av.csv``: event_id, ticker, day, date, volume, abnormal_log_volume, sav (report days, pairs with AV)."""
    frame = ar_frame(vstage, windows).rename(columns={"return": "volume", "ar": "abnormal_log_volume", "sar": "sav"})
    return frame[["event_id", "ticker", "day", "date", "volume", "abnormal_log_volume", "sav"]]


def cav_frame(vstage) -> pd.DataFrame:
    """``cav.csv``: event_id, ticker, window, cav, cav_se, cav_t, cav_p, n_days, contaminated, complete, n_obs."""
    frame = car_frame(vstage).drop(columns="bhar")
    frame = frame.rename(columns={c: c.replace("car", "cav") for c in ("car", "car_se", "car_t", "car_p")})
    return frame.assign(n_obs=np.tile(vstage.n_obs[vstage.active], len(vstage.cars)))
