"""``EventStudy``: events + prices -> aligned panel -> normal-return model -> statistics -> results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.engine.models import MODELS, combine, fit_model
from eventstudy.engine.panel import EventPanel, Window, Windows, build_panel
from eventstudy.engine.statistics import (
    bmp_t,
    car_table,
    corrado_rank,
    csect_t,
    cumulative_sar,
    generalized_sign,
    grank,
    kp_bmp_t,
    mean_pairwise_correlation,
    patell_z,
    sign_test,
    standardized_ar,
    time_series_t,
    wilcoxon_test,
)
from eventstudy.errors import InputError
from eventstudy.events.catalog import EventSet, read_confounders, read_events
from eventstudy.prices.files import LONG_COLUMNS, read_prices
from eventstudy.results import EventStudyResults

DEFAULT_ESTIMATION: Window = (-250, -11)
DEFAULT_WINDOWS: tuple[Window, ...] = ((-1, 1), (0, 0), (0, 5), (-5, 10))
FALLBACK_MIN_OBS = 20
ACTIVE = ("ok", "fallback")


class EventStudy:
    """An event study over (event, ticker) pairs.

    Parameters
    ----------
    events
        An :class:`~eventstudy.events.EventSet`, or a path / DataFrame read with
        :func:`~eventstudy.events.read_events` (``tickers`` applied when the file has no ticker column).
    prices
        A long price frame (:func:`~eventstudy.prices.read_prices`), or a path to read.
    market
        Benchmark ticker, or ``{venue: ticker}`` (e.g. ``{"XNYS": "SPY", "XSHG": "000300.SS"}``; ``"*"`` for any
        other venue). Not needed for the constant-mean model.
    model
        ``"market"`` (OLS alpha, beta), ``"market-adjusted"``, ``"constant-mean"`` or ``"factor"`` (OLS on the
        market and ``factors``).
    estimation, windows
        Estimation window and event windows in event time, inclusive.
    calendar
        None: each ticker on its own venue's calendar; an exchange_calendars code: all tickers on it; ``"data"``:
        the dates in the price data are the sessions.
    listed
        First valid trading date per ticker: earlier prices never enter the study.
    min_obs
        Minimum clean estimation returns; below it a pair is ``insufficient`` (``on_insufficient="skip"``) or
        falls back to market-adjusted returns (``"market-adjusted"``, needs at least 20 returns), disclosed in
        ``parameters``.
    mask_events, confounders
        Other announcements and dated shocks whose days are masked out of estimation windows and flagged in
        event windows (default: the study's own events).
    group_tests
        ``"event+all"``: the battery per event and pooled; ``"all"``: pooled only (fast for large backtests).
    """

    def __init__(
        self,
        events: EventSet | str | Path | pd.DataFrame,
        prices: pd.DataFrame | str | Path | Iterable[str | Path],
        *,
        market: str | Mapping[str, str] | None = None,
        model: str = "market",
        factors: Sequence[str] = (),
        tickers: Sequence[str] | None = None,
        estimation: Window = DEFAULT_ESTIMATION,
        windows: Sequence[Window] = DEFAULT_WINDOWS,
        calendar: str | None = None,
        venues: Mapping[str, str] | None = None,
        listed: Mapping[str, str | pd.Timestamp] | None = None,
        min_obs: int = 60,
        on_insufficient: str = "skip",
        returns: str = "simple",
        mask_events: EventSet | None = None,
        confounders: pd.DataFrame | str | Path | None = None,
        group_tests: str = "event+all",
    ) -> None:
        if model not in MODELS:
            raise InputError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
        if model != "constant-mean" and market is None:
            raise InputError(f"the {model} model needs a market benchmark: pass market= (CLI: --market TICKER)")
        if on_insufficient not in ("skip", "market-adjusted"):
            raise InputError("on_insufficient must be 'skip' or 'market-adjusted'")
        if on_insufficient == "market-adjusted" and market is None:
            raise InputError("the market-adjusted fallback needs a market benchmark")
        if group_tests not in ("event+all", "all"):
            raise InputError("group_tests must be 'event+all' or 'all'")
        if min_obs < 3:
            raise InputError(f"min_obs={min_obs} is too small to estimate a variance: use at least 3")
        self.events = events if isinstance(events, EventSet) else read_events(events, tickers)
        self.prices = prices if isinstance(prices, pd.DataFrame) else read_prices(prices)
        missing = set(LONG_COLUMNS) - set(self.prices.columns)
        if missing:
            raise InputError(f"the price frame lacks columns {sorted(missing)}: build it with read_prices()")
        self.market = {"*": market} if isinstance(market, str) else (dict(market) if market else None)
        self.model = model
        self.factors = [f for f in factors if f not in (self.market or {}).values()]
        self.windows = Windows(tuple(estimation), tuple(tuple(w) for w in windows))
        self.calendar = calendar
        self.venues = dict(venues or {})
        self.listed = {t: pd.Timestamp(d) for t, d in (listed or {}).items()}
        self.min_obs = int(min_obs)
        self.on_insufficient = on_insufficient
        self.returns = returns
        self.mask_events = mask_events
        self.confounders = None if confounders is None else read_confounders(confounders)
        self.group_tests = group_tests

    def config(self) -> dict:
        """The run's settings, as written to ``run.json``."""
        return {
            "model": self.model,
            "market": self.market,
            "factors": self.factors,
            "estimation": list(self.windows.estimation),
            "windows": [list(w) for w in self.windows.events],
            "calendar": self.calendar or "venue",
            "venues": self.venues,
            "listed": {t: str(d.date()) for t, d in self.listed.items()},
            "min_obs": self.min_obs,
            "on_insufficient": self.on_insufficient,
            "returns": self.returns,
            "group_tests": self.group_tests,
            "confounders": 0 if self.confounders is None else len(self.confounders),
        }

    def fit(self) -> EventStudyResults:
        """Run the study: align, estimate, compute AR/CAR/BHAR/AAR/CAAR and the test battery."""
        panel = build_panel(
            self.events,
            self.prices,
            self.windows,
            market=self.market,
            factors=self.factors,
            calendar=self.calendar,
            venues=self.venues,
            listed=self.listed,
            kind=self.returns,
            mask_events=self.mask_events,
            confounders=self.confounders,
        )
        fit, status, reason = self._estimate(panel)
        active = np.isin(status, ACTIVE)
        est_days = (panel.days >= self.windows.estimation[0]) & (panel.days <= self.windows.estimation[1])
        ar = np.where(active[:, None], fit.ar, np.nan)
        sar = standardized_ar(ar, fit.sigma, fit.prediction_factor(), est_days)
        cars = {
            w: car_table(
                ar,
                panel.returns,
                fit.normal,
                fit.design,
                fit.xtx_inv,
                fit.sigma,
                fit.dof,
                panel.day_mask(w),
                self.returns,
            )
            for w in self.windows.events
        }
        pairs = panel.pairs.assign(status=status, reason=reason)
        return EventStudyResults(
            ar=_ar_frame(panel, fit, ar, sar, active),
            car=_car_frame(panel, cars, active),
            parameters=_parameter_frame(panel, fit, pairs),
            aar=_aar_frame(panel, ar, pairs, active, self.group_tests),
            tests=self._tests(panel, fit, ar, sar, cars, pairs, active, est_days),
            alignment=panel.alignment.drop(columns="day0_index"),
            events=self.events.frame.drop(columns="explicit"),
            prices=self._used_prices(panel),
            config=self.config(),
        )

    # ----------------------------------------------------------------------------------------- steps
    def _estimate(self, panel: EventPanel):
        fit = fit_model(self.model, panel.returns, panel.regressors, panel.estimation)
        status = panel.pairs["status"].to_numpy(dtype=object).copy()
        reason = panel.pairs["reason"].to_numpy(dtype=object).copy()
        ok = status == "ok"
        short = ok & ((fit.n_obs < self.min_obs) | ~fit.usable)
        for i in np.flatnonzero(short):
            why = (
                f"{fit.n_obs[i]} clean estimation returns, below the minimum of {self.min_obs}"
                if fit.n_obs[i] < self.min_obs
                else "the estimation regressors are degenerate (X'X is singular)"
            )
            status[i], reason[i] = "insufficient", why
        if self.on_insufficient == "market-adjusted" and short.any():
            fallback = fit_model("market-adjusted", panel.returns, panel.regressors[:, :, :1], panel.estimation)
            use = short & (fallback.n_obs >= FALLBACK_MIN_OBS)
            for i in np.flatnonzero(use):
                status[i] = "fallback"
                reason[i] = f"{reason[i]}; used market-adjusted returns (sigma from {fallback.n_obs[i]} returns)"
            for i in np.flatnonzero(short & ~use):
                reason[i] = f"{reason[i]}; too few for the market-adjusted fallback (needs {FALLBACK_MIN_OBS})"
            fit = combine(fit, fallback, use)
        return fit, status, reason

    def _tests(self, panel, fit, ar, sar, cars, pairs, active, est_days) -> pd.DataFrame:
        groups = [("all", active)]
        if self.group_tests == "event+all":
            groups += [(e, active & (pairs["event_id"] == e).to_numpy()) for e in pairs["event_id"].unique()]
        ar_est = np.where(panel.estimation, ar, np.nan)[:, est_days]
        sar_est = np.where(panel.estimation, sar, np.nan)[:, est_days]
        dates_est = panel.dates[:, est_days]
        rows = []
        for window in self.windows.events:
            wmask = panel.day_mask(window)
            car = cars[window]["car"]
            csar = cumulative_sar(sar, wmask)
            first, last = np.flatnonzero(wmask)[[0, -1]]
            day0 = pairs["day0"].to_numpy(dtype="datetime64[ns]")
            start = np.where(np.isnat(panel.dates[:, first]), day0, panel.dates[:, first])
            end = np.where(np.isnat(panel.dates[:, last]), day0, panel.dates[:, last])
            sample = np.concatenate([ar_est, ar[:, wmask]], axis=1)
            sample_window = np.r_[np.zeros(ar_est.shape[1], bool), np.ones(wmask.sum(), bool)]
            for group, members in groups:
                members = members & np.isfinite(car)
                idx = np.flatnonzero(members)
                rbar = mean_pairwise_correlation(ar_est[idx], dates_est[idx], start[idx], end[idx])
                battery = {
                    "csect_t": csect_t(car[idx]),
                    "time_series_t": time_series_t(ar_est[idx], ar[idx][:, wmask]),
                    "patell_z": patell_z(csar[idx], fit.dof[idx]),
                    "bmp_t": bmp_t(csar[idx]),
                    "kp_bmp_t": kp_bmp_t(csar[idx], rbar),
                    "corrado_rank": corrado_rank(sample[idx], sample_window),
                    "grank": grank(sar_est[idx], csar[idx]),
                    "sign": sign_test(car[idx]),
                    "generalized_sign": generalized_sign(car[idx], ar_est[idx]),
                    "wilcoxon": wilcoxon_test(car[idx]),
                }
                for name, res in battery.items():
                    rows.append((group, Windows.label(window), name, res.statistic, res.p_value, res.n, rbar))
        return pd.DataFrame(rows, columns=["group", "window", "test", "statistic", "p_value", "n", "rbar"])

    def _used_prices(self, panel: EventPanel) -> pd.DataFrame:
        dates = panel.dates[~np.isnat(panel.dates)]
        if dates.size == 0:
            return self.prices.iloc[0:0]
        used = set(panel.pairs["ticker"]) | set((self.market or {}).values()) | set(self.factors)
        keep = self.prices["ticker"].isin(used) & self.prices["date"].between(dates.min(), dates.max())
        return self.prices[keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------------- tidy frames
def _report_days(panel: EventPanel) -> np.ndarray:
    lo, hi = panel.windows.report_span
    return (panel.days >= lo) & (panel.days <= hi)


def _ar_frame(panel, fit, ar, sar, active) -> pd.DataFrame:
    days = _report_days(panel)
    idx = np.flatnonzero(active)
    n_days = int(days.sum())
    pairs = panel.pairs.iloc[idx]
    return pd.DataFrame(
        {
            "event_id": np.repeat(pairs["event_id"].to_numpy(), n_days),
            "ticker": np.repeat(pairs["ticker"].to_numpy(), n_days),
            "day": np.tile(panel.days[days], len(idx)),
            "date": panel.dates[idx][:, days].ravel(),
            "return": panel.returns[idx][:, days].ravel(),
            "normal_return": fit.normal[idx][:, days].ravel(),
            "ar": ar[idx][:, days].ravel(),
            "sar": sar[idx][:, days].ravel(),
        }
    )


def _car_frame(panel, cars, active) -> pd.DataFrame:
    idx = np.flatnonzero(active)
    parts = []
    for window, table in cars.items():
        part = panel.pairs.iloc[idx][["event_id", "ticker"]].copy()
        part.insert(2, "window", Windows.label(window))
        for col in ("car", "car_se", "car_t", "car_p", "bhar", "n_days"):
            part[col] = table[col][idx]
        part["contaminated"] = np.asarray(panel.contamination[window], dtype=object)[idx]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _parameter_frame(panel, fit, pairs) -> pd.DataFrame:
    est = panel.estimation
    dates = np.where(est, panel.dates, np.datetime64("NaT"))
    has = est.any(axis=1)
    first = np.where(has, dates.min(axis=1, initial=np.datetime64("2262-01-01"), where=est), np.datetime64("NaT"))
    last = np.where(has, dates.max(axis=1, initial=np.datetime64("1678-01-01"), where=est), np.datetime64("NaT"))
    k = fit.params.shape[1]
    out = pairs[["event_id", "ticker"]].copy()
    out["model"] = fit.model
    out["status"] = pairs["status"].to_numpy()
    out["reason"] = pairs["reason"].to_numpy()
    out["n_obs"] = fit.n_obs
    out["alpha"] = fit.params[:, 0] if k >= 1 and fit.design.shape[2] >= 1 else np.nan
    out["beta"] = fit.params[:, 1] if k >= 2 else np.nan
    out["sigma"] = fit.sigma
    out["r2"] = fit.r2
    out["estimation_start"] = pd.to_datetime(first)
    out["estimation_end"] = pd.to_datetime(last)
    out["day0_date"] = pairs["day0"].to_numpy()
    out["masked_days"] = pairs["masked_days"].to_numpy()
    out["venue"] = pairs["venue"].to_numpy()
    for j, name in enumerate(panel.regressor_names[1:], start=2):
        if j < k:
            out[f"beta_{name}"] = fit.params[:, j]
    inactive = ~np.isin(out["status"], ACTIVE)
    out.loc[inactive, ["sigma", "r2", "alpha", "beta"]] = np.nan
    return out


def _aar_frame(panel, ar, pairs, active, group_tests) -> pd.DataFrame:
    days = _report_days(panel)
    groups = [("all", active)]
    if group_tests == "event+all":
        groups += [(e, active & (pairs["event_id"] == e).to_numpy()) for e in pairs["event_id"].unique()]
    parts = []
    for group, members in groups:
        block = ar[members][:, days]
        n = np.isfinite(block).sum(axis=0)
        aar = np.where(n > 0, np.where(np.isfinite(block), block, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
        parts.append(
            pd.DataFrame({"group": group, "day": panel.days[days], "n": n, "aar": aar, "caar": np.nancumsum(aar)})
        )
    return pd.concat(parts, ignore_index=True)
