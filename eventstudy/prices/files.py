"""Read price files into one validated long frame, and turn prices into returns on a session grid.

The *long price frame* is the currency of the price layer: one row per (ticker, session) with columns
``date`` (datetime64[ns], tz-naive midnight = session date), ``ticker`` (str) and the float columns
``open, high, low, close, adj_close, volume`` (NaN where missing), sorted by ticker and date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.errors import PriceDataError
from eventstudy.io import read_csv_text

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
LONG_COLUMNS = ("date", "ticker", *PRICE_FIELDS)
MAX_PRICE = 1e12  # no security trades above this in any currency: a larger value is a data error
MAX_MOVE = 10.0  # default: a session's price above 10x or below 1/10 of the previous one is a data error
_ALIASES = {"adj close": "adj_close", "adjclose": "adj_close", "adj_close": "adj_close", "symbol": "ticker"}


def read_prices(source: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Read prices from files or folders into a validated long price frame.

    Parameters
    ----------
    source
        A folder of per-ticker CSVs (file stem = ticker, columns ``date,open,high,low,close,adj_close,volume``),
        a Parquet dataset partitioned by ticker (:func:`~eventstudy.prices.dataset.write_price_dataset`),
        a long CSV/Parquet (``date,ticker,adj_close`` or ``close``, ...), a wide CSV/Parquet (``date,T1,T2,...``
        holding adjusted prices), or several of these.

    Raises
    ------
    PriceDataError
        On a missing or empty file, unknown columns, unparseable dates, non-numeric, zero or negative prices,
        or duplicate (ticker, date) rows. The message names the file, ticker and date.
    """
    from eventstudy.prices.dataset import is_price_dataset, read_price_dataset  # it builds on this module

    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if not paths:
        raise PriceDataError("no price source given: pass a file or folder of prices")
    frames: list[pd.DataFrame] = []
    for path in paths:
        if is_price_dataset(path):
            frames.append(read_price_dataset(path))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
            if not files:
                raise PriceDataError(f"{path}: folder holds no .csv or .parquet price files")
            frames.extend(_read_ticker_file(p) for p in files)
        elif path.is_file():
            frames.append(_read_table_file(path))
        else:
            raise PriceDataError(f"{path}: no such price file or folder")
    combined = pd.concat(frames, ignore_index=True)
    refuse_two_spellings(combined["ticker"].unique(), f"the price data ({', '.join(str(p) for p in paths)})")
    dup = combined.duplicated(["ticker", "date"], keep=False)
    if dup.any():
        row = combined[dup].iloc[0]
        raise PriceDataError(
            f"ticker {row.ticker} has {int(dup.sum())} rows sharing a date (first {row.date.date()}) across "
            f"{', '.join(str(p) for p in paths)}: keep one row per ticker and session"
        )
    return combined.sort_values(["ticker", "date"], ignore_index=True)


def refuse_two_spellings(tickers: Iterable[str], where: str) -> None:
    """Raise :class:`PriceDataError` when one ticker is written two ways (``MP`` and ``mp``) in ``where``."""
    seen: dict[str, str] = {}
    for ticker in tickers:
        other = seen.setdefault(ticker.upper(), ticker)
        if other != ticker:
            raise PriceDataError(
                f"{where} holds ticker {other} also written {ticker}: tickers are kept exactly as written, so "
                "spell it one way everywhere (rename the file or column)"
            )


def _read_raw(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise PriceDataError(f"{path}: cannot be read as a Parquet price table ({exc})") from exc
        if frame.empty:
            raise PriceDataError(f"{path}: empty price file (expected at least one row)")
    else:
        frame = read_csv_text(path, PriceDataError)
    if len(frame.columns) < 2:
        raise PriceDataError(f"{path}: one column only ({frame.columns[0]!r}): expected date and prices")
    frame.columns = [_column_name(c) for c in frame.columns]
    if "date" not in frame.columns:
        raise PriceDataError(f"{path}: no 'date' column (columns are {', '.join(frame.columns)})")
    return frame


def _column_name(column: object) -> str:
    """Known column names case-insensitively (``Date``, ``Adj Close``); any other (a ticker) exactly as written."""
    name = str(column).strip()
    key = name.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    return key if key in ("date", "ticker", *PRICE_FIELDS) else name


def _read_ticker_file(path: Path) -> pd.DataFrame:
    frame = _read_raw(path)
    price_cols = [c for c in frame.columns if c in PRICE_FIELDS]
    if not {"adj_close", "close"} & set(price_cols):
        raise PriceDataError(f"{path}: needs an 'adj_close' or 'close' column (columns are {list(frame.columns)})")
    return _finish(frame[["date", *price_cols]].assign(ticker=path.stem), path)


def _read_table_file(path: Path) -> pd.DataFrame:
    frame = _read_raw(path)
    if "ticker" in frame.columns:
        keep = ["date", "ticker", *(c for c in frame.columns if c in PRICE_FIELDS)]
        if not {"adj_close", "close"} & set(keep):
            raise PriceDataError(f"{path}: a long price file needs 'adj_close' or 'close' beside 'date,ticker'")
        return _finish(frame[keep], path)
    unknown = [c for c in frame.columns if c in PRICE_FIELDS]
    if unknown:
        return _read_ticker_file(path)
    wide = frame.set_index("date")
    wide.columns = [str(c).strip() for c in frame.columns if c != "date"]
    long = wide.reset_index().melt(id_vars="date", var_name="ticker", value_name="adj_close")
    long = long[long["adj_close"].astype(str).str.strip() != ""]
    return _finish(long, path)


def _finish(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Parse dates and numbers, check positivity, return the frame with every long column."""
    frame = frame.copy()
    raw_dates = frame["date"].astype(str).str.strip()
    dates = pd.to_datetime(raw_dates, format="ISO8601", errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise PriceDataError(f"{path}: row {i + 2}: unparseable date {raw_dates.iloc[i]!r} (use YYYY-MM-DD)")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    frame["date"] = dates.dt.normalize().astype("datetime64[ns]")
    frame["ticker"] = frame["ticker"].astype(str).str.strip()
    for col in PRICE_FIELDS:
        if col not in frame.columns:
            frame[col] = np.nan
            continue
        text = frame[col].astype(str).str.strip().replace({"": None, "nan": None, "NaN": None, "None": None})
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() & text.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PriceDataError(
                f"{path}: row {i + 2} ({frame['ticker'].iloc[i]} {frame['date'].iloc[i].date()}): "
                f"non-numeric {col} {text.iloc[i]!r}"
            )
        frame[col] = values.astype("float64")
        checks = [(~np.isfinite(values) & values.notna(), "is not a finite number")]
        if col != "volume":
            checks += [(values <= 0, "must be positive"), (values > MAX_PRICE, f"is above {MAX_PRICE:g}, not a price")]
        for wrong, what in checks:
            if wrong.any():
                i = int(np.flatnonzero(wrong.to_numpy())[0])
                raise PriceDataError(
                    f"{path}: row {i + 2} ({frame['ticker'].iloc[i]} {frame['date'].iloc[i].date()}): "
                    f"{col} {values.iloc[i]:g} {what}: fix or drop the row"
                )
    return frame[list(LONG_COLUMNS)]


def price_matrix(frame: pd.DataFrame, tickers: Iterable[str]) -> pd.DataFrame:
    """Prices as a (date x ticker) table: ``adj_close`` for a ticker that has any, else its raw ``close``.

    Raises
    ------
    PriceDataError
        If a ticker is absent from the frame.
    """
    tickers = list(dict.fromkeys(tickers))
    missing = sorted(set(tickers) - set(frame["ticker"].unique()))
    if missing:
        raise PriceDataError(
            f"ticker(s) {', '.join(missing)} not in the price data: add their prices (file or `eventstudy prices "
            "import`) or remove them from the study"
        )
    rows = frame[frame["ticker"].isin(tickers)]
    has_adj = rows["adj_close"].notna().groupby(rows["ticker"]).transform("any")
    value = rows["adj_close"].where(has_adj, rows["close"])
    wide = pd.DataFrame({"date": rows["date"], "ticker": rows["ticker"], "price": value}).pivot(
        index="date", columns="ticker", values="price"
    )
    return wide.reindex(columns=tickers)


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
    if kind not in ("simple", "log"):
        raise PriceDataError(f"unknown return kind {kind!r}: use 'simple' or 'log'")
    on_grid = prices.reindex(sessions)
    for ticker, first in (listed or {}).items():
        if ticker in on_grid.columns:
            on_grid.loc[on_grid.index < pd.Timestamp(first), ticker] = np.nan
    values = on_grid.to_numpy(dtype="float64")
    n_sessions = len(values)
    have = ~np.isnan(values)
    position = np.where(have, np.arange(n_sessions)[:, None], -1)
    last = np.maximum.accumulate(position, axis=0) if n_sessions else position
    previous = np.vstack([np.full((1, values.shape[1]), -1), last[:-1]])
    valid = have & (previous >= 0)
    before = np.take_along_axis(values, np.maximum(previous, 0), axis=0)
    ratio = np.where(valid, values / np.where(valid, before, 1.0), np.nan)
    jump = valid & ((ratio > max_move) | (ratio * max_move < 1))
    if jump.any():
        s, t = np.argwhere(jump)[0]
        p = previous[s, t]
        raise PriceDataError(
            f"{on_grid.columns[t]}: price {values[s, t]:g} on {on_grid.index[s]:%Y-%m-%d} is {ratio[s, t]:.3g} times "
            f"{values[p, t]:g} on {on_grid.index[p]:%Y-%m-%d}, beyond the plausible one-day move of {max_move:g}x: "
            "fix the data (a bad print or a missed split), or allow it with --max-move"
        )
    span = np.where(valid, np.arange(n_sessions)[:, None] - previous, 0)
    out = np.log(ratio) if kind == "log" else ratio - 1.0
    frame = partial(pd.DataFrame, index=on_grid.index, columns=on_grid.columns)
    return frame(out), frame(span.astype(np.int64))
