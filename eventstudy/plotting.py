"""Figures of an event study: CAR paths with the CAAR band, an AR heatmap, prices with event days, CAR bars.

Every function takes an :class:`~eventstudy.results.EventStudyResults` (or, where noted, its tidy DataFrames)
and returns a new :class:`matplotlib.figure.Figure` drawn on the Agg canvas. Nothing touches ``pyplot`` or any
other global state, so the functions are safe in scripts, servers and notebooks alike (in a notebook, show a
figure with ``display(fig)`` or by leaving it as the cell's last expression).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.dates import MONTHLY, AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from scipy import stats

from eventstudy.errors import InputError

__all__ = [
    "car_paths",
    "default_window",
    "parse_window",
    "plot_ar_heatmap",
    "plot_car_bars",
    "plot_car_paths",
    "plot_placebo",
    "plot_prices",
    "plot_robustness",
    "significance_stars",
]

_WINDOW_PREFERENCE = ("-1..1", "0..1", "0..0")


def parse_window(window: str | Sequence[int]) -> tuple[int, int]:
    """Turn ``"-1..1"`` (the ``car.window`` spelling) or ``(-1, 1)`` into a ``(start, end)`` pair of ints."""
    if isinstance(window, str):
        start, sep, end = window.partition("..")
        if not sep:
            raise InputError(f"window {window!r} is not written 'start..end' (e.g. '-1..1')")
        return int(start), int(end)
    start, end = window
    return int(start), int(end)


def window_label(window: str | Sequence[int]) -> str:
    """``"-1..1"`` -> ``"[-1, +1]"``, the way windows are written in figures and reports."""
    start, end = parse_window(window)
    return f"[{start:+d}, {end:+d}]".replace("+0", "0")


def default_window(car: pd.DataFrame) -> str:
    """The report's main window: ``-1..1`` if present, else ``0..1``, ``0..0``, else the first in ``car``."""
    windows = list(dict.fromkeys(car["window"].astype(str)))
    if not windows:
        raise InputError("the results hold no CAR windows: run the study with at least one --window")
    for preferred in _WINDOW_PREFERENCE:
        if preferred in windows:
            return preferred
    return windows[0]


def significance_stars(p: float) -> str:
    """``***`` for p < 0.01, ``**`` for p < 0.05, ``*`` for p < 0.10, else ``""`` (NaN gives ``""``)."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


_COLUMNS = {
    "ar": ("event_id", "ticker", "day", "date", "ar"),
    "car": ("event_id", "ticker", "window", "car", "car_se", "car_p"),
    "parameters": ("event_id", "ticker", "day0_date"),
}


def _frame(results: Any, name: str) -> pd.DataFrame:
    frame = results if isinstance(results, pd.DataFrame) else getattr(results, name, None)
    missing = [c for c in _COLUMNS[name] if c not in frame] if isinstance(frame, pd.DataFrame) else []
    if missing:
        raise InputError(f"the {name!r} frame lacks column(s) {missing}: pass the engine's results")
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected an EventStudyResults or its {name!r} DataFrame, got {type(results).__name__}")
    return frame


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _select_group(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    if group == "all":
        return frame
    selected = frame[frame["event_id"].astype(str) == str(group)]
    if selected.empty:
        raise InputError(f"event {group!r} is not in the results; known events: {sorted(frame['event_id'].unique())}")
    return selected


def _pair_labels(index: pd.MultiIndex) -> list[str]:
    """Row labels: the ticker alone when there is one event, else ``"event_id ticker"``."""
    events = index.get_level_values("event_id")
    tickers = index.get_level_values("ticker")
    if len(set(events)) <= 1:
        return [str(t) for t in tickers]
    return [f"{e} {t}" for e, t in zip(events, tickers, strict=True)]


def _ar_wide(ar: pd.DataFrame, days: tuple[int, int], group: str) -> pd.DataFrame:
    """ARs as a (event_id, ticker) x day table over ``days``; pairs without any AR there are dropped."""
    first, last = days
    if first > last:
        raise InputError(f"day range {days} starts after it ends")
    ar = _select_group(ar, group)
    ar = ar[(ar["day"] >= first) & (ar["day"] <= last)]
    if ar.empty:
        raise InputError(f"no abnormal returns between day {first} and day {last} for group {group!r}")
    first, last = max(first, int(ar["day"].min())), min(last, int(ar["day"].max()))
    wide = ar.pivot_table(index=["event_id", "ticker"], columns="day", values="ar", aggfunc="first", dropna=False)
    wide = wide.reindex(columns=range(first, last + 1))
    wide = wide[wide.notna().any(axis=1)]
    if wide.empty:
        raise InputError(f"no abnormal returns between day {first} and day {last} for group {group!r}")
    return wide


def car_paths(ar: pd.DataFrame, days: tuple[int, int] = (-10, 10), group: str = "all") -> pd.DataFrame:
    """Cumulative abnormal return of every pair from ``days[0]`` to each day up to ``days[1]``.

    The range is clipped to the days present in ``ar``.
    CAR_i(t) = sum of AR_is for s = days[0]..t. A day without an AR (no trade) adds nothing, so the path stays
    flat over it. Rows are (event_id, ticker), columns are event days.
    """
    return _ar_wide(_frame(ar, "ar"), days, group).fillna(0.0).cumsum(axis=1)


def plot_car_paths(
    results: Any, *, days: tuple[int, int] = (-10, 10), group: str = "all", level: float = 0.95
) -> Figure:
    """CAR path of each ticker and the CAAR with its confidence band.

    Paths cumulate ARs from ``days[0]`` (see :func:`car_paths`). A ticker with several events is drawn as the
    mean of its paths. The CAAR is the mean path over all pairs of ``group`` (``"all"`` or one event id).

    The band is cross-sectional: CAAR(t) +/- t_{N-1, (1+level)/2} * sd_i(CAR_i(t)) / sqrt(N), the standard
    deviation taken across the N pairs on each day (ddof=1). It ignores cross-correlation between pairs that
    share a date, so with clustered events it is too narrow; read it beside the ``kp_bmp_t`` statistic.

    Parameters
    ----------
    results : EventStudyResults or its ``ar`` DataFrame
    days : first and last event day to draw
    group : ``"all"`` or an event id
    level : coverage of the band (default 95%)
    """
    paths = car_paths(_frame(results, "ar"), days, group)
    n = len(paths)
    caar = paths.mean(axis=0)
    per_ticker = paths.groupby(level="ticker", sort=True).mean()
    fig = _new_figure(9.0, 5.0)
    ax: Axes = fig.add_subplot()
    x = paths.columns.to_numpy()
    if n >= 2:
        half = stats.t.ppf(0.5 + level / 2, n - 1) * paths.std(axis=0, ddof=1) / np.sqrt(n)
        ax.fill_between(x, caar - half, caar + half, color="0.6", alpha=0.35, lw=0, label=f"{level:.0%} band")
    colors = _cycle(len(per_ticker))
    for color, (ticker, row) in zip(colors, per_ticker.iterrows(), strict=True):
        ax.plot(x, row.to_numpy(), lw=1.2, alpha=0.85, color=color, label=str(ticker))
    ax.plot(x, caar.to_numpy(), color="black", lw=2.6, label="CAAR")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8, ls="--")
    ax.set_xlim(x[0], x[-1])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("event day (trading sessions on each ticker's venue)")
    ax.set_ylabel(f"CAR from day {days[0]}")
    scope = "all events" if group == "all" else f"event {group}"
    ax.set_title(f"Cumulative abnormal returns, {scope} (N = {n} pairs)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def _cycle(n: int) -> list:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_ar_heatmap(results: Any, *, days: tuple[int, int] = (-10, 10), group: str = "all") -> Figure:
    """Abnormal returns as a pair x event-day heatmap, diverging colours centred at 0, cells in percent.

    Rows are tickers (``"event_id ticker"`` when several events are shown); grey cells have no AR (no trade or
    outside the ticker's history). The colour scale is symmetric, +/- the 95th percentile of the absolute ARs
    shown, so that one extreme day does not wash out the rest; larger cells saturate and keep their labels.
    """
    wide = _ar_wide(_frame(results, "ar"), days, group)
    values = wide.to_numpy(dtype=float)
    bound = float(np.nanpercentile(np.abs(values), 95)) or 1e-6
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.85")
    fig = _new_figure(max(8.0, 0.5 * values.shape[1] + 2.5), 1.2 + 0.38 * values.shape[0])
    ax: Axes = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(values),
        aspect="auto",
        cmap=cmap,
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound),
        interpolation="nearest",
    )
    ax.set_xticks(range(values.shape[1]), [str(d) for d in wide.columns])
    ax.set_yticks(range(values.shape[0]), _pair_labels(wide.index))
    if values.size <= 40 * 25:
        for (row, col), value in np.ndenumerate(values):
            if np.isfinite(value):
                dark = abs(value) > 0.6 * bound
                label = f"{100 * value:.0f}"
                ax.text(
                    col,
                    row,
                    "0" if label == "-0" else label,
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if dark else "0.15",
                )
    ax.set_xlabel("event day")
    ax.set_title("Abnormal returns by day (cell labels in %)")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01, extend="both")
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    colorbar.set_label("AR")
    return fig


def plot_car_bars(results: Any, *, window: str | Sequence[int] | None = None, group: str = "all") -> Figure:
    """CAR of every pair over one window with +/- 1.96 ``car_se`` error bars and significance stars.

    ``window`` defaults to :func:`default_window`. Stars follow ``car_p``: * p<0.10, ** p<0.05, *** p<0.01.
    """
    car = _select_group(_frame(results, "car"), group)
    key = default_window(car) if window is None else "{}..{}".format(*parse_window(window))
    rows = car[car["window"].astype(str) == key].dropna(subset=["car"])
    if rows.empty:
        raise InputError(f"no CAR for window {key!r}; windows in the results: {sorted(car['window'].unique())}")
    rows = rows.sort_values(["event_id", "ticker"])
    labels = _pair_labels(pd.MultiIndex.from_frame(rows[["event_id", "ticker"]]))
    values = rows["car"].to_numpy(dtype=float)
    errors = 1.96 * rows["car_se"].to_numpy(dtype=float)
    fig = _new_figure(max(6.0, 0.7 * len(rows) + 2.0), 4.8)
    ax: Axes = fig.add_subplot()
    x = np.arange(len(rows))
    colors = np.where(values >= 0, "#2b8cbe", "#d7301f")
    ax.bar(x, values, color=colors, yerr=np.nan_to_num(errors), capsize=4, error_kw={"lw": 1.0})
    for xi, value, err, p in zip(x, values, errors, rows["car_p"].to_numpy(dtype=float), strict=True):
        mark = significance_stars(p)
        if mark:
            top = value + (err if np.isfinite(err) else 0.0) * np.sign(value or 1.0)
            ax.annotate(
                mark,
                (xi, top),
                ha="center",
                va="bottom" if value >= 0 else "top",
                fontsize=10,
                xytext=(0, 2 if value >= 0 else -2),
                textcoords="offset points",
            )
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(x, labels, rotation=45 if len(rows) > 8 else 0, ha="right" if len(rows) > 8 else "center")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel(f"CAR{window_label(key)}")
    ax.set_title(f"CAR{window_label(key)} per ticker, +/-1.96 SE", fontsize=11)
    ax.text(1.0, 1.01, "* p<.10  ** p<.05  *** p<.01", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_placebo(
    results: Any, *, window: str | Sequence[int] | None = None, test: str = "caar", group: str = "all"
) -> Figure:
    """The placebo null distribution of one statistic (default the CAAR) of a group, with the observed value.

    Reads ``results.placebo`` (one row per draw, window and test) and the observed value from ``results.tests``
    (``placebo_caar`` for the CAAR); the title gives the empirical two-sided p-value and the number of draws.
    """
    null = getattr(results, "placebo", None)
    tests = getattr(results, "tests", None)
    if not isinstance(null, pd.DataFrame) or null.empty or not isinstance(tests, pd.DataFrame):
        raise InputError("the results hold no placebo draws: run the study with placebo_draws > 0 (CLI: --placebo N)")
    key = default_window(null) if window is None else "{}..{}".format(*parse_window(window))
    mine = (null["group"].astype(str) == str(group)) & (null["window"].astype(str) == key) & (null["test"] == test)
    values = null.loc[mine, "statistic"].dropna()
    name = "placebo_caar" if test == "caar" else test
    row = tests[(tests["group"] == group) & (tests["window"].astype(str) == key) & (tests["test"] == name)]
    if values.empty or row.empty:
        raise InputError(f"no placebo draws of {test!r} for group {group!r} and window {key!r}")
    observed = float(row["statistic"].iloc[0])
    p = float(row["p_placebo"].iloc[0]) if "p_placebo" in row else float("nan")
    fig = _new_figure(6.4, 3.8)
    ax: Axes = fig.add_subplot()
    ax.hist(values, bins=min(30, max(8, len(values) // 3)), color="0.65", edgecolor="white")
    ax.axvline(observed, color="#d7301f", lw=2.0, label=f"observed {observed:+.3g}")
    ax.axvline(-observed, color="#d7301f", lw=1.0, ls=":", label="mirror (two-sided)")
    label = f"CAAR{window_label(key)}" if test == "caar" else f"{test} {window_label(key)}"
    if test == "caar":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"{label} on pseudo-event dates")
    ax.set_ylabel("draws")
    ax.set_title(f"Placebo distribution of {label}: p = {p:.3f} over {len(values)} draws", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return fig


def plot_prices(
    results: Any,
    prices: pd.DataFrame | None = None,
    *,
    tickers: Sequence[str] | None = None,
    after: int = 30,
    ncols: int = 3,
) -> Figure:
    """Each ticker's adjusted close over its estimation and event windows, event days marked.

    Parameters
    ----------
    results : EventStudyResults
        Supplies ``parameters`` (day-0 dates and estimation windows) and ``ar`` (event-window dates).
    prices : long price frame (``date, ticker, adj_close``); defaults to ``results.prices``.
    tickers : which tickers to draw (default: every ticker in ``results.parameters``).
    after : calendar days shown after the last event-window date.
    ncols : panels per row.

    The shaded blue span is the estimation window, the orange span the event window, the red line day 0.
    """
    prices = getattr(results, "prices", None) if prices is None else prices
    if not isinstance(prices, pd.DataFrame) or prices.empty:
        raise InputError("plot_prices needs the long price frame: pass prices=read_prices(...)")
    params = _frame(results, "parameters")
    ar = _frame(results, "ar")
    names = list(dict.fromkeys(params["ticker"].astype(str))) if tickers is None else [str(t) for t in tickers]
    if not names:
        raise InputError("no tickers to draw")
    nrows = -(-len(names) // ncols)
    fig = _new_figure(4.2 * min(ncols, len(names)), 2.7 * nrows)
    axes = fig.subplots(nrows, min(ncols, len(names)), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    price_by_ticker = dict(tuple(prices.groupby(prices["ticker"].astype(str))))
    for ax, ticker in zip(axes.flat, names, strict=False):
        _draw_price_panel(ax, ticker, price_by_ticker.get(ticker), params, ar, after)
    fig.suptitle("Adjusted close; blue: estimation window, orange: event window, red: day 0", fontsize=10)
    return fig


def _draw_price_panel(
    ax: Axes, ticker: str, series: pd.DataFrame | None, params: pd.DataFrame, ar: pd.DataFrame, after: int
) -> None:
    ax.set_title(ticker, fontsize=10)
    pairs = params[params["ticker"].astype(str) == ticker]
    day0 = pd.to_datetime(pairs["day0_date"], errors="coerce").dropna()
    windows = ar[ar["ticker"].astype(str) == ticker].groupby("event_id")["date"].agg(["min", "max"])
    windows = windows.apply(pd.to_datetime)
    starts = pd.to_datetime(pairs.get("estimation_start"), errors="coerce").dropna()
    ends = pd.to_datetime(pairs.get("estimation_end"), errors="coerce").dropna()
    anchor = day0.min() if len(day0) else windows["min"].min()
    first = starts.min() if len(starts) else anchor - pd.Timedelta(days=365)
    last = (windows["max"].max() if len(windows) else day0.max()) + pd.Timedelta(days=after)
    if series is None or pd.isna(first) or pd.isna(last):
        ax.text(0.5, 0.5, "no prices", transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
        return
    dates = pd.to_datetime(series["date"])
    shown = series[(dates >= first) & (dates <= last)]
    ax.plot(pd.to_datetime(shown["date"]), shown["adj_close"].to_numpy(dtype=float), color="0.15", lw=0.9)
    for start, end in zip(starts, ends, strict=False):
        ax.axvspan(start, end, color="#9ecae1", alpha=0.25, lw=0)
    for _, span in windows.iterrows():
        ax.axvspan(span["min"], span["max"], color="#fdae6b", alpha=0.45, lw=0)
    for date in day0:
        ax.axvline(date, color="#d7301f", lw=1.0)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(locator := _date_locator())
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)


def _date_locator() -> AutoDateLocator:
    """3 to 5 date ticks for any range: month steps up to a year (matplotlib's own stop at 6 months, so a range of
    about two to three years fitted no step and it warned and fell back to one of its choosing)."""
    locator = AutoDateLocator(minticks=3, maxticks=5)
    locator.intervald[MONTHLY] = [1, 2, 3, 4, 6, 12]
    return locator


def plot_robustness(table: pd.DataFrame, *, windows: Sequence[str] | None = None) -> Figure:
    """Heatmap of a robustness grid (:func:`eventstudy.robustness`): one row per specification (model, benchmark,
    estimation window), one column per ticker and event window; colour = CAR, label = CAR in % and its p-value.

    A result that survives every row keeps its colour and small p down its column.
    """
    needed = ["model", "benchmark", "estimation", "ticker", "window", "car", "car_p"]
    missing = [c for c in needed if c not in table]
    if missing:
        raise InputError(f"the robustness table lacks column(s) {missing}: pass eventstudy.robustness(...)")
    rows = table if windows is None else table[table["window"].astype(str).isin([str(w) for w in windows])]
    if rows.empty:
        raise InputError(f"no robustness rows for windows {list(windows or [])}")
    rows = rows.assign(
        spec=rows["model"] + " | " + rows["benchmark"] + " | est " + rows["estimation"],
        column=rows["ticker"] + " " + rows["window"].map(window_label),
    )
    car = rows.pivot_table(index="spec", columns="column", values="car", sort=False)
    p = rows.pivot_table(index="spec", columns="column", values="car_p", sort=False).reindex_like(car)
    values = car.to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1e-6
    fig = _new_figure(max(7.0, 1.1 * values.shape[1] + 3.5), 1.3 + 0.45 * values.shape[0])
    ax: Axes = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(values),
        aspect="auto",
        cmap=colormaps["RdBu_r"].with_extremes(bad="0.85"),
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-bound or -1e-6, vmax=bound or 1e-6),
        interpolation="nearest",
    )
    ax.set_xticks(range(values.shape[1]), list(car.columns), rotation=30, ha="right")
    ax.set_yticks(range(values.shape[0]), list(car.index))
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            pv = p.to_numpy()[row, col]
            text = f"{100 * value:+.1f}%\np={pv:.2f}" if np.isfinite(pv) else f"{100 * value:+.1f}%"
            color = "white" if abs(value) > 0.6 * bound else "0.15"
            ax.text(col, row, text, ha="center", va="center", fontsize=6.5, color=color)
    ax.set_title("CAR under each specification (model | benchmark | estimation window)")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    colorbar.set_label("CAR")
    return fig
