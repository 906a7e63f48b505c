"""Daily prices from Yahoo Finance through ``yfinance.download``, as a long price frame.

Downloads go in batches of tickers, with retries and exponential backoff. Raw and adjusted prices are kept
apart: with ``auto_adjust=False`` (what :func:`fetch` asks for) Yahoo returns raw ``Open High Low Close``
and a separate ``Adj Close``; a frame from ``auto_adjust=True`` only has adjusted prices, so only its
``Close`` is kept, as ``adj_close`` (its adjusted open/high/low would pass for raw ones), and the frame's
``attrs["adjusted_only"]`` says so. Dates are the session dates on the ticker's own exchange: a tz-aware
index is converted to the venue's time zone before the time is dropped, never shifted.

yfinance does not raise on failures: it logs them on the ``yfinance`` logger and returns empty columns.
:func:`fetch` listens to that logger to tell "no network" from "unknown or delisted ticker".
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from eventstudy.errors import FetchError
from eventstudy.prices.quality import VALUE_COLUMNS
from eventstudy.timing.venues import exchange_calendar, venue_of

FRAME_COLUMNS = ["date", "ticker", *VALUE_COLUMNS]
_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close"}
# No network at all: failing again in a few seconds would not help, so these fail at once.
_OFFLINE = (
    "Could not resolve host",
    "DNSError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No route to host",
)
# Worth another try after a pause.
_TRANSIENT = ("Failed to perform", "timed out", "Timeout", "Too Many Requests", "Rate limited", "Connection reset")
_OFFLINE_HINT = (
    "Yahoo Finance cannot be reached (offline?). Import price files instead: "
    "eventstudy prices import PATH... (per-ticker CSVs date,open,high,low,close,adj_close,volume, "
    "or a long/wide CSV or Parquet)"
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _first_match(messages: Sequence[str], markers: Sequence[str]) -> str | None:
    """The first message holding the earliest-listed marker (markers go from most to least telling)."""
    return next((m for marker in markers for m in messages if marker in m), None)


def to_long(raw: pd.DataFrame | None, tickers: Sequence[str], venue: Callable[[str], str] = venue_of) -> pd.DataFrame:
    """Turn a ``yfinance.download`` frame into a long price frame.

    Accepts MultiIndex columns in either order, (Price, Ticker) from ``group_by="column"`` or (Ticker, Price)
    from ``group_by="ticker"``, and flat columns from ``multi_level_index=False`` with one ticker. Tickers
    with no value at all are left out. ``attrs["adjusted_only"]`` is True when the frame had no
    ``Adj Close`` (``auto_adjust=True``).
    """
    frames, adjusted_only = [], False
    if raw is not None and len(raw):
        cols = raw.columns
        for ticker in tickers:
            if isinstance(cols, pd.MultiIndex):
                price_level = 0 if set(cols.get_level_values(0)) & set(_FIELDS) else 1
                if ticker not in cols.get_level_values(1 - price_level):
                    continue
                sub = raw.xs(ticker, axis=1, level=1 - price_level)
            elif len(tickers) == 1:
                sub = raw
            else:
                raise FetchError(f"cannot tell tickers apart in a flat yfinance frame for {', '.join(tickers)}")
            adjusted_only |= "Adj Close" not in sub.columns and "Close" in sub.columns
            frames.append(_one(sub, ticker, venue(ticker)))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FRAME_COLUMNS)
    out = out.astype({"date": "datetime64[ns]", "ticker": "str", **dict.fromkeys(VALUE_COLUMNS, "float64")})
    out = out.sort_values(["ticker", "date"]).reset_index(drop=True)
    out.attrs["adjusted_only"] = adjusted_only
    return out


def _one(sub: pd.DataFrame, ticker: str, venue: str) -> pd.DataFrame:
    index = pd.DatetimeIndex(sub.index)
    if index.tz is not None:
        index = index.tz_convert(exchange_calendar(venue).tz).tz_localize(None)
    frame = pd.DataFrame({"date": index.normalize(), "ticker": ticker})
    if "Adj Close" in sub.columns:
        for name, col in _FIELDS.items():
            frame[col] = sub[name].to_numpy(dtype="float64") if name in sub.columns else np.nan
    else:  # auto_adjust=True: every price is adjusted; only the close is kept, as adj_close
        frame[["open", "high", "low", "close"]] = np.nan
        frame["adj_close"] = sub["Close"].to_numpy(dtype="float64")
    frame["volume"] = sub["Volume"].to_numpy(dtype="float64") if "Volume" in sub.columns else np.nan
    return frame[frame[VALUE_COLUMNS].notna().any(axis=1)]


def fetch(
    tickers: Sequence[str],
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    download: Callable[..., pd.DataFrame | None] | None = None,
    chunk_size: int = 50,
    retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    on_empty: str = "raise",
) -> pd.DataFrame:
    """Download daily prices for ``tickers`` over ``[start, end]`` (both inclusive) as a long price frame.

    Parameters
    ----------
    download : callable, optional
        ``yfinance.download`` (default) or a stand-in with its signature and output shape.
    chunk_size : int
        Tickers per ``download`` call.
    retries, backoff, sleep
        A failed or network-empty batch is tried ``retries`` more times, sleeping ``backoff * 2**k`` seconds.
    on_empty : {"raise", "skip"}
        What to do with tickers that come back without data: raise :class:`FetchError` naming them, or
        leave them out of the result.

    Raises
    ------
    FetchError
        Yahoo unreachable (after the retries), or tickers unknown or delisted (``on_empty="raise"``).
    """
    if download is None:
        import yfinance

        download = yfinance.download
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    tickers = list(dict.fromkeys(t.strip().upper() for t in tickers))
    frames, empty, adjusted_only = [], [], False
    for lo in range(0, len(tickers), chunk_size):
        chunk = tickers[lo : lo + chunk_size]
        long = _download_chunk(download, chunk, start, end, retries, backoff, sleep)
        frames.append(long)
        adjusted_only |= long.attrs["adjusted_only"]
        empty += [t for t in chunk if t not in set(long["ticker"])]
    if empty and on_empty == "raise":
        raise FetchError(
            f"no prices on Yahoo for {', '.join(empty)} between {start:%Y-%m-%d} and {end:%Y-%m-%d}: "
            "unknown or delisted on Yahoo? Check the symbol (A-shares need .SS or .SZ, Toronto .TO)"
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs["adjusted_only"] = adjusted_only
    out.attrs["empty"] = empty
    return out


def _download_chunk(download, chunk, start, end, retries, backoff, sleep) -> pd.DataFrame:
    """One ``download`` call with retries: transient failures are retried, no network fails at once."""
    logger = logging.getLogger("yfinance")
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        records = _Records()
        logger.addHandler(records)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module="yfinance")  # its pandas deprecations are not the user's
                raw = download(
                    list(chunk),
                    start=f"{start:%Y-%m-%d}",
                    end=f"{end + pd.Timedelta(days=1):%Y-%m-%d}",  # yfinance's end is exclusive
                    auto_adjust=False,
                    actions=False,
                    group_by="column",
                    multi_level_index=True,
                    ignore_tz=True,
                    progress=False,
                )
        except Exception as exc:  # yfinance and its HTTP stack raise many types
            messages = [f"{type(exc).__name__}: {exc}"]
        else:
            long = to_long(raw, chunk)
            messages = records.messages
            if set(long["ticker"]) == set(chunk) or not _first_match(messages, _OFFLINE + _TRANSIENT):
                return long
        finally:
            logger.removeHandler(records)
        offline = _first_match(messages, _OFFLINE)
        if offline:
            raise FetchError(f"download of {', '.join(chunk)} failed ({offline}). {_OFFLINE_HINT}")
        last = _first_match(messages, _TRANSIENT) or messages[0]
    raise FetchError(f"download of {', '.join(chunk)} failed {retries + 1} times ({last}). {_OFFLINE_HINT}")
