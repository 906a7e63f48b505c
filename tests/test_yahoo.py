"""The yfinance adapter on frames of yfinance 1.x's real ``download()`` shape; no network.

``yf_frame`` rebuilds what ``yfinance.multi.download`` returns: one ``Ticker.history`` frame per ticker
(columns Open, High, Low, Close, [Adj Close,] Volume; index ``Date`` at midnight in the exchange's time zone),
tz dropped with ``ignore_tz=True`` (the daily default) or converted to the most common time zone with
``ignore_tz=False``, reindexed to the union of dates, concatenated with keys under names (Ticker, Price),
levels swapped to (Price, Ticker) and sorted for ``group_by="column"``, and flattened for
``multi_level_index=False`` with one ticker.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from eventstudy.errors import FetchError
from eventstudy.prices.yahoo import fetch, to_long

TZ = {"MP": "America/New_York", "SPY": "America/New_York", "600111.SS": "Asia/Shanghai"}
DAYS = {
    "MP": ["2025-10-07", "2025-10-08", "2025-10-09", "2025-10-10"],
    "SPY": ["2025-10-07", "2025-10-08", "2025-10-09", "2025-10-10"],
    "600111.SS": ["2025-10-09", "2025-10-10", "2025-10-13"],  # Golden Week until Oct 8
}


def history(ticker: str, auto_adjust: bool) -> pd.DataFrame:
    """One ticker's ``Ticker.history(interval="1d", actions=False)`` frame."""
    days = DAYS[ticker]
    index = pd.DatetimeIndex(pd.to_datetime(days)).tz_localize(TZ[ticker]).rename("Date")
    close = np.linspace(70, 78, len(days))
    cols = {"Open": close - 1, "High": close + 2, "Low": close - 2, "Close": close}
    if auto_adjust:
        cols = {k: v * 0.99 for k, v in cols.items()}
    else:
        cols["Adj Close"] = close * 0.99
    cols["Volume"] = np.arange(1, len(days) + 1) * 1_000_000
    return pd.DataFrame(cols, index=index)


def yf_frame(tickers, auto_adjust=False, ignore_tz=True, group_by="column", multi_level_index=True, empty=()):
    dfs = {}
    for t in tickers:
        dfs[t] = history(t, auto_adjust).iloc[0:0] if t in empty else history(t, auto_adjust)
    if ignore_tz:
        for df in dfs.values():
            df.index = df.index.tz_localize(None)
    else:
        tzs = pd.Series([str(df.index.tz) for df in dfs.values() if len(df)]).mode()
        for df in dfs.values():
            df.index = df.index.tz_convert(tzs.iloc[0])
    idx = None
    for df in dfs.values():
        idx = df.index if idx is None else idx.union(df.index)
    dfs = {t: df.reindex(idx) for t, df in dfs.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(tickers) == 1:
        data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
    return data


class Download:
    """Stands in for ``yfinance.download``: records calls, answers from ``yf_frame``."""

    def __init__(self, **shape):
        self.shape, self.calls = shape, []

    def __call__(self, tickers, **kwargs):
        self.calls.append((list(tickers), kwargs))
        return yf_frame(list(tickers), **self.shape)


def test_test_frames_have_yfinance_shape():
    frame = yf_frame(["MP", "SPY"])
    assert frame.columns.names == ["Price", "Ticker"]
    assert frame.columns.get_level_values(0).unique().tolist() == [
        "Adj Close",
        "Close",
        "High",
        "Low",
        "Open",
        "Volume",
    ]
    assert isinstance(yf_frame(["MP"]).columns, pd.MultiIndex)
    assert frame.index.tz is None


def test_single_ticker_keeps_raw_and_adjusted_apart():
    download = Download()
    long = fetch(["mp"], "2025-10-07", "2025-10-10", download=download)
    assert list(long.columns) == ["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"]
    assert long["ticker"].unique().tolist() == ["MP"]
    assert long["date"].dt.strftime("%Y-%m-%d").tolist() == DAYS["MP"]
    np.testing.assert_allclose(long["adj_close"], long["close"] * 0.99)
    assert long["date"].dtype == "datetime64[ns]" and long["volume"].dtype == "float64"
    assert not long.attrs["adjusted_only"]
    ((tickers, kwargs),) = download.calls
    assert tickers == ["MP"]
    assert kwargs["auto_adjust"] is False and kwargs["start"] == "2025-10-07"
    assert kwargs["end"] == "2025-10-11"  # yfinance's end is exclusive


def test_many_tickers_on_different_calendars_drop_the_union_padding():
    long = fetch(["MP", "600111.SS"], "2025-10-07", "2025-10-13", download=Download())
    got = long.groupby("ticker")["date"].apply(lambda d: d.dt.strftime("%Y-%m-%d").tolist()).to_dict()
    assert got == {"600111.SS": DAYS["600111.SS"], "MP": DAYS["MP"]}
    assert long[["close", "adj_close"]].notna().all().all()


def test_auto_adjust_frames_keep_only_the_adjusted_close():
    long = fetch(["MP", "SPY"], "2025-10-07", "2025-10-10", download=Download(auto_adjust=True))
    assert long.attrs["adjusted_only"]
    assert long[["open", "high", "low", "close"]].isna().all().all()
    np.testing.assert_allclose(long.loc[long["ticker"] == "MP", "adj_close"], np.linspace(70, 78, 4) * 0.99)
    assert long["volume"].notna().all()


def test_tz_aware_index_gives_each_ticker_its_own_session_date():
    # ignore_tz=False converts every ticker to the most common zone (New York): Shanghai's midnight of
    # Oct 9 becomes Oct 8 noon in New York; it must come back as Oct 9, not shift a day.
    raw = yf_frame(["MP", "SPY", "600111.SS"], ignore_tz=False)
    assert str(raw.index.tz) == "America/New_York"
    long = to_long(raw, ["MP", "SPY", "600111.SS"])
    shanghai = long.loc[long["ticker"] == "600111.SS", "date"].dt.strftime("%Y-%m-%d").tolist()
    assert shanghai == DAYS["600111.SS"]
    assert long.loc[long["ticker"] == "MP", "date"].dt.strftime("%Y-%m-%d").tolist() == DAYS["MP"]


@pytest.mark.parametrize("shape", [{"group_by": "ticker"}, {"multi_level_index": False}])
def test_other_column_layouts(shape):
    long = to_long(yf_frame(["MP"], **shape), ["MP"])
    expected = to_long(yf_frame(["MP"]), ["MP"])
    pd.testing.assert_frame_equal(long, expected)


def test_empty_frame_names_the_unknown_ticker():
    def download(tickers, **kwargs):
        return yf_frame(tickers, empty=tickers)

    with pytest.raises(FetchError, match="no prices on Yahoo for NOPE between 2025-10-07 and 2025-10-10: unknown"):
        fetch(["NOPE"], "2025-10-07", "2025-10-10", download=lambda t, **k: pd.DataFrame())
    with pytest.raises(FetchError, match="for MP, SPY .*delisted"):
        fetch(["MP", "SPY"], "2025-10-07", "2025-10-10", download=download)


def test_all_nan_ticker_is_named_or_skipped():
    def download(tickers, **kwargs):
        return yf_frame(tickers, empty={"SPY"})

    with pytest.raises(FetchError, match="no prices on Yahoo for SPY between"):
        fetch(["MP", "SPY"], "2025-10-07", "2025-10-10", download=download)
    long = fetch(["MP", "SPY"], "2025-10-07", "2025-10-10", download=download, on_empty="skip")
    assert long["ticker"].unique().tolist() == ["MP"] and long.attrs["empty"] == ["SPY"]


def test_batches_of_tickers():
    download = Download()
    tickers = ["MP", "SPY", "600111.SS"]
    long = fetch(tickers, "2025-10-07", "2025-10-13", download=download, chunk_size=2)
    assert [c[0] for c in download.calls] == [["MP", "SPY"], ["600111.SS"]]
    assert sorted(long["ticker"].unique()) == sorted(tickers)


def logging_download(message, calls):
    """What yfinance does on a failed request: log on the "yfinance" logger, return empty columns."""

    def download(tickers, **kwargs):
        calls.append(tickers)
        logging.getLogger("yfinance").error(message)
        return yf_frame(tickers, empty=tickers)

    return download


def test_no_network_fails_at_once_saying_offline():
    sleeps, calls = [], []
    download = logging_download(
        "Failed to get ticker 'MP' reason: Failed to perform, curl: (6) Could not resolve host: "
        "query2.finance.yahoo.com.",
        calls,
    )
    with pytest.raises(FetchError, match=r"failed \(.*Could not resolve host.*offline.*eventstudy prices import"):
        fetch(["MP"], "2025-10-07", "2025-10-10", download=download, sleep=sleeps.append)
    assert len(calls) == 1 and sleeps == []


def test_rate_limit_is_retried_with_exponential_backoff():
    sleeps, calls = [], []
    download = logging_download(
        "['MP']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')", calls
    )
    with pytest.raises(FetchError, match=r"failed 4 times \(.*Too Many Requests"):
        fetch(["MP"], "2025-10-07", "2025-10-10", download=download, retries=3, backoff=1.5, sleep=sleeps.append)
    assert len(calls) == 4 and sleeps == [1.5, 3.0, 6.0]


def test_transient_exception_is_retried():
    sleeps, attempts = [], []

    def download(tickers, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("connection reset by peer")
        return yf_frame(tickers)

    long = fetch(["SPY"], "2025-10-07", "2025-10-10", download=download, sleep=sleeps.append)
    assert len(long) == 4 and sleeps == [2.0]


def test_persistent_exception_is_a_fetch_error():
    sleeps = []

    def download(tickers, **kwargs):
        raise ConnectionError("Network is unreachable")

    with pytest.raises(FetchError, match="ConnectionError: Network is unreachable.*offline"):
        fetch(["SPY"], "2025-10-07", "2025-10-10", download=download, sleep=sleeps.append)
    assert sleeps == []  # no network: no point waiting

    def flaky(tickers, **kwargs):
        raise RuntimeError("HTTP 502 Bad Gateway")

    with pytest.raises(FetchError, match="failed 2 times .RuntimeError: HTTP 502"):
        fetch(["SPY"], "2025-10-07", "2025-10-10", download=flaky, retries=1, sleep=sleeps.append)
    assert sleeps == [2.0]
