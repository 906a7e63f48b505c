"""Prices as a (date x ticker) table, and trade-to-trade returns on a venue's sessions: the session grid's matrices
(:mod:`eventstudy.engine.panel`) come from here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial

import numba
import numpy as np
import pandas as pd

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.errors import PriceDataError
from eventstudy.prices.files import MAX_MOVE, ticker_runs


def price_matrix(frame: pd.DataFrame, tickers: Iterable[str]) -> pd.DataFrame:
    """Prices as a (date x ticker) table: ``adj_close`` for a ticker that has any, else its raw ``close``.

    One scatter of the rows of ``tickers`` into the table (tickers hashed once with Arrow).

    Raises
    ------
    PriceDataError
        If a ticker is absent from the frame.
    """
    tickers = list(dict.fromkeys(tickers))
    starts, runs, names = ticker_runs(frame["ticker"])
    column_of = np.full(len(names) + 1, -1)
    found = names.get_indexer(tickers)
    missing = sorted(t for t, i in zip(tickers, found, strict=True) if i < 0)
    if missing:
        raise PriceDataError(
            f"ticker(s) {', '.join(missing)} not in the price data: add their prices (file or `eventstudy prices "
            "import`) or remove them from the study"
        )
    column_of[found] = np.arange(len(tickers))
    run_column = column_of[runs]  # each run's column, -1 for a ticker not wanted (or missing)
    adj = frame["adj_close"].to_numpy(dtype="float64")
    close = frame["close"].to_numpy(dtype="float64")
    when = frame["date"].to_numpy()
    dates = None
    if when.dtype == np.dtype("datetime64[ns]"):  # dates at midnight: placed by day number, one compiled pass
        by_ticker, days, placed = _wide_by_day(starts, run_column, when.view(np.int64), adj, close, len(tickers))
        dates = days.view("datetime64[ns]") if placed else None
    if dates is None:
        column = np.repeat(run_column, np.diff(starts))
        rows = np.flatnonzero(column >= 0)
        column = column[rows]
        has_adj = np.zeros(len(tickers), dtype=bool)
        has_adj[column[~np.isnan(adj[rows])]] = True
        row, dates = pd.factorize(when[rows], sort=True)  # hashing, not a sort of every row
        by_ticker = np.full((len(tickers), len(dates)), np.nan)
        by_ticker[column, row] = np.where(has_adj[column], adj[rows], close[rows])
    # the (ticker x date) array is the frame's one block as it is (no copy): each column contiguous
    return pd.DataFrame(
        by_ticker.T,
        index=pd.DatetimeIndex(dates, name="date"),
        columns=pd.Index(tickers, dtype=object, name="ticker"),
        copy=False,
    )


@numba.njit(cache=True, nogil=True)
def _wide_by_day(starts, run_column, ns, adj, close, n_columns):  # pragma: no cover - compiled
    """:func:`price_matrix`'s table, transposed, when every wanted row's date (``ns``: int64 nanoseconds) is a
    midnight: the sorted distinct dates of the rows of runs (``starts[r]:starts[r + 1]``) with ``run_column`` >= 0,
    and each row's ``adj`` (``close`` for a column without any adjusted price) placed at (its run's column, its
    date), later rows over earlier ones. Returns ((columns x dates) table, dates, True), or empty arrays and False
    when a date is not a midnight or the dates span over 10 million days."""
    day_ns = 86_400_000_000_000
    lo, hi, has_adj = np.iinfo(np.int64).max, np.iinfo(np.int64).min, np.zeros(n_columns, dtype=np.bool_)
    for r in range(len(run_column)):
        c = run_column[r]
        if c < 0:
            continue
        for i in range(starts[r], starts[r + 1]):
            if ns[i] % day_ns != 0:
                return np.empty((0, 0)), np.empty(0, dtype=np.int64), False
            lo, hi = min(lo, ns[i]), max(hi, ns[i])
            if not np.isnan(adj[i]):
                has_adj[c] = True
    if lo > hi:  # no wanted row
        return np.full((n_columns, 0), np.nan), np.empty(0, dtype=np.int64), True
    if (hi - lo) // day_ns >= 10_000_000:
        return np.empty((0, 0)), np.empty(0, dtype=np.int64), False
    position = np.full((hi - lo) // day_ns + 1, -1, dtype=np.int64)
    for r in range(len(run_column)):
        if run_column[r] >= 0:
            for i in range(starts[r], starts[r + 1]):
                position[(ns[i] - lo) // day_ns] = 0
    n_dates = 0
    for d in range(len(position)):
        if position[d] == 0:
            position[d] = n_dates
            n_dates += 1
    dates = np.empty(n_dates, dtype=np.int64)
    for d in range(len(position)):
        if position[d] >= 0:
            dates[position[d]] = lo + d * day_ns
    wide = np.full((n_columns, n_dates), np.nan)
    for r in range(len(run_column)):
        c = run_column[r]
        if c >= 0:
            for i in range(starts[r], starts[r + 1]):
                wide[c, position[(ns[i] - lo) // day_ns]] = adj[i] if has_adj[c] else close[i]
    return wide, dates, True


def returns_on_sessions(
    prices: pd.DataFrame,
    sessions: pd.DatetimeIndex,
    listed: Mapping[str, pd.Timestamp] | None = None,
    kind: str = "simple",
    max_move: float = MAX_MOVE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trade-to-trade returns per ticker on the sessions of one venue calendar, and the sessions each spans.

    ``prices`` is a (date x ticker) table from :func:`price_matrix`. Each column is placed on ``sessions``; the
    return on a session ``s`` with a price is ``P_s / P_p - 1`` (``kind="simple"``) or ``log(P_s / P_p)``
    (``kind="log"``), ``p`` the last earlier session with a price, and it spans ``k = s - p`` sessions: 1 normally,
    more after sessions without a price (a halt, a gap in the data). Such a return is kept, on the first session
    after the gap, never shifted onto another day nor dropped (Maynes & Rumsey 1993, "trade-to-trade" returns).
    Sessions without a price have a NaN return and span 0. Prices before a ticker's listing date (``listed``) are
    dropped first, so no return mixes a pre-listing shell price with the operating company's.

    A price more than ``max_move`` times, or less than 1 / ``max_move`` of, the previous one is a data error (a bad
    print, a missed split), raised as :class:`PriceDataError` naming the ticker and both sessions.

    Returns
    -------
    (returns, span): two DataFrames indexed by ``sessions`` with one column per ticker; ``span`` is int64.
    """
    index, out, span = session_returns(prices, sessions, listed, kind, max_move)
    frame = partial(pd.DataFrame, index=index, columns=prices.columns, copy=False)  # the arrays' transposes
    return frame(out.T), frame(span.T)


def session_returns(
    prices: pd.DataFrame,
    sessions: pd.DatetimeIndex,
    listed: Mapping[str, pd.Timestamp] | None = None,
    kind: str = "simple",
    max_move: float = MAX_MOVE,
    span_dtype: type = np.int64,
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """:func:`returns_on_sessions` as arrays, ticker-major: the sessions' index, the (tickers x sessions) returns and
    the sessions each spans (``span_dtype``: the values cast to it as ``astype`` would)."""
    if kind not in ("simple", "log"):
        raise PriceDataError(f"unknown return kind {kind!r}: use 'simple' or 'log'")
    on_grid = prices.reindex(sessions)
    for ticker, first in (listed or {}).items():
        if ticker in on_grid.columns:
            on_grid.loc[on_grid.index < pd.Timestamp(first), ticker] = np.nan
    values = on_grid.to_numpy(dtype="float64")
    ratio = np.empty((values.shape[1], values.shape[0]))
    span = np.zeros((values.shape[1], values.shape[0]), dtype=span_dtype)
    s, t, p = _trade_to_trade(values, float(max_move), ratio.T, span.T)
    if s >= 0:
        raise PriceDataError(
            f"{on_grid.columns[t]}: price {values[s, t]:g} on {on_grid.index[s]:%Y-%m-%d} is {ratio[t, s]:.3g} times "
            f"{values[p, t]:g} on {on_grid.index[p]:%Y-%m-%d}, beyond the plausible one-day move of {max_move:g}x: "
            "fix the data (a bad print or a missed split), or allow it with --max-move"
        )
    out = np.log(ratio) if kind == "log" else np.subtract(ratio, 1.0, out=ratio)
    return on_grid.index, out, span


@numba.njit(cache=True, nogil=True)
def _trade_to_trade(values, max_move, ratio, span):  # pragma: no cover - compiled
    """One pass down each column of ``values`` (sessions x tickers): into ``ratio`` the price ratio ``P_s / P_p``
    to the last earlier priced session ``p`` (NaN where ``s`` or every earlier session lacks a price), into
    ``span`` (zeros, of ``values``' shape) the sessions it spans ``s - p`` (0 without a return); returns the first
    implausible move ``(s, t, p)`` in row-major order (-1s: none)."""
    n_sessions, n_tickers = values.shape
    bad = (-1, -1, -1)
    for t in range(n_tickers):
        previous = -1
        for s in range(n_sessions):
            price = values[s, t]
            if np.isnan(price):
                ratio[s, t] = np.nan
                continue
            if previous < 0:
                ratio[s, t] = np.nan
            else:
                r = price / values[previous, t]
                ratio[s, t] = r
                span[s, t] = s - previous
                if (r > max_move or r * max_move < 1) and (bad[0] < 0 or s < bad[0]):
                    bad = (s, t, previous)
            previous = s
    return bad
