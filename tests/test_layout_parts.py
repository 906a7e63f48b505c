"""The panel layout's vectorised parts against direct calculations: the price table placed by day number, and each
pair's counts of days from running counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.engine.grid import SessionGrid
from eventstudy.prices.matrix import price_matrix


@pytest.mark.parametrize("text", [True, False])  # the tickers as text, or a categorical
@pytest.mark.parametrize("unit", ["ns", "us"])  # nanoseconds (read_prices's): the compiled path if at midnight
@pytest.mark.parametrize("intraday", [False, True])
def test_price_matrix_equals_a_pivot_of_the_rows(intraday, unit, text):
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("1965-01-01", periods=300)  # before and after 1970: negative and positive day numbers
    rows = [(d, t) for t in ("A", "B", "C", "D") for d in dates if rng.random() < 0.8]
    frame = pd.DataFrame(rows, columns=["date", "ticker"])
    frame["close"] = rng.uniform(5, 50, len(frame))
    frame["adj_close"] = np.where(frame["ticker"] == "B", np.nan, frame["close"] * 0.9)  # B: raw closes only
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "adj_close"] = np.nan  # gaps in the adjusted closes
    frame.loc[(frame["ticker"] == "A") & (frame.index > 0), "adj_close"] = np.nan  # A: one, on its run's first row
    if intraday:  # not at midnight: the hashing path
        frame["date"] = frame["date"] + pd.Timedelta(hours=16)
    frame["date"] = frame["date"].astype(f"datetime64[{unit}]")
    shuffled = frame.iloc[100:].sample(frac=1.0, random_state=2)  # any row order
    frame = pd.concat([frame.iloc[:100], shuffled]).reset_index(drop=True)  # a run of one ticker, and single rows
    wanted = ["C", "A", "B"]
    got = price_matrix(frame if text else frame.astype({"ticker": "category"}), wanted)
    use = frame[frame["ticker"].isin(wanted)]
    has_adj = use.groupby("ticker")["adj_close"].count() > 0
    value = np.where(use["ticker"].map(has_adj).to_numpy(dtype=bool), use["adj_close"], use["close"])
    expected = use.assign(value=value).pivot(index="date", columns="ticker", values="value")[wanted]
    assert got.index.is_monotonic_increasing and list(got.columns) == wanted
    np.testing.assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_counts_equal_the_gathered_days_summed():
    rng = np.random.default_rng(6)
    grid = SessionGrid(
        sessions=np.arange(120).astype("datetime64[D]").astype("datetime64[ns]"),
        blocks=(("A", 0, 50), ("B", 50, 120)),
        tickers=("x", "y", "z"),
        returns=np.zeros((3, 120)),
        span=np.zeros((3, 120), dtype=np.int16),
        regressors=np.zeros((1, 120)),
    )
    matrix = rng.random((3, 120)) < 0.6
    block = rng.integers(0, 2, 300)
    start = np.where(block == 0, rng.integers(-40, 60, 300), rng.integers(10, 130, 300))
    start[:5] = -(2**40)  # pairs without a session
    cells = np.stack([start, rng.integers(0, 3, 300), block], axis=1)
    for days in (np.arange(0, 30), np.arange(12, 13), np.arange(5, 45)):
        expected = grid.take(matrix, cells, days, False).sum(axis=1)
        np.testing.assert_array_equal(grid.count(matrix, cells, days), expected)
    assert (grid.count(np.zeros_like(matrix), cells, np.arange(0, 30)) == 0).all()  # nothing to count


@pytest.mark.parametrize("venues", [False, True])
def test_layout_matrices_equal_each_tickers_own_returns(venues):
    """The grid's returns, spans and regressors (views of one venue's arrays, or placed venue by venue) equal each
    ticker's returns on its own venue's sessions, NaN and 0 off it; the market also a studied ticker."""
    import exchange_calendars as xc

    from eventstudy import EventStudy
    from eventstudy.engine.stages import run_pairs
    from eventstudy.prices.matrix import returns_on_sessions

    rng = np.random.default_rng(5)
    frames = []
    for venue, tickers in (("XNYS", ["MKT", "AAA", "BBB"]), ("XSHG", ["600001.SS", "000300.SS"])):
        sessions = xc.get_calendar(venue).sessions_in_range("2021-01-04", "2021-12-31")
        for ticker in tickers:
            px = pd.DataFrame({"date": sessions, "ticker": ticker})
            px["adj_close"] = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
            frames.append(px.drop(px.index[rng.choice(len(px), 9, replace=False)]))
    prices = pd.concat(frames, ignore_index=True)
    for column in ("close", "open", "high", "low"):
        prices[column] = prices["adj_close"]
    prices["volume"] = 1e6
    tickers = ["AAA", "MKT", "600001.SS", "BBB"] if venues else ["AAA", "MKT", "BBB"]
    events = pd.DataFrame({"event_id": [f"E{i}" for i in range(len(tickers))], "ticker": tickers})
    events["date"] = "2021-10-01"
    market = {"XNYS": "MKT", "XSHG": "000300.SS"} if venues else "MKT"
    study = EventStudy(
        events, prices, market=market, calendar=None if venues else "data", estimation=(-60, -6), mask="none"
    )
    stage = run_pairs(study, study.events, study.prices)
    grid = stage.grid
    assert grid.tickers == tuple(tickers) and len(grid.blocks) == (2 if venues else 1)
    wide = price_matrix(prices, sorted(set(prices["ticker"])))
    venue_of = dict(zip(stage.pairs["ticker"], stage.pairs["venue"], strict=True))
    returns, span = np.full(grid.returns.shape, np.nan), np.zeros(grid.span.shape, dtype=np.int16)
    regressors = np.full(grid.regressors.shape, np.nan)
    for venue, lo, hi in grid.blocks:
        sessions = pd.DatetimeIndex(grid.sessions[lo:hi])
        for i, ticker in enumerate(grid.tickers):
            if venue_of[ticker] == venue:
                ret, ret_span = returns_on_sessions(wide[[ticker]], sessions)
                returns[i, lo:hi], span[i, lo:hi] = ret[ticker].to_numpy(), ret_span[ticker].to_numpy()
        bench = market[venue] if venues else market
        ret, ret_span = returns_on_sessions(wide[[bench]], sessions)
        regressors[0, lo:hi] = np.where(ret_span[bench].to_numpy() == 1, ret[bench].to_numpy(), np.nan)
    assert grid.span.dtype == np.int16 and (span > 1).any()
    np.testing.assert_array_equal(grid.returns, returns)
    np.testing.assert_array_equal(grid.span, span)
    np.testing.assert_array_equal(grid.regressors, regressors)
