"""Read price files into one validated long frame (:mod:`eventstudy.prices.matrix` turns it into returns on a
session grid).

The *long price frame* is the currency of the price layer: one row per (ticker, session) with columns
``date`` (datetime64[ns], tz-naive midnight = session date), ``ticker`` (str) and the float columns
``open, high, low, close, adj_close, volume`` (NaN where missing), sorted by ticker and date.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.errors import PriceDataError
from eventstudy.io import read_csv_text

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
LONG_COLUMNS = ("date", "ticker", *PRICE_FIELDS)
MAX_PRICE = 1e12  # no security trades above this in any currency: a larger value is a data error
MAX_MOVE = 10.0  # default: a session's price above 10x or below 1/10 of the previous one is a data error
_ALIASES = {"adj close": "adj_close", "adjclose": "adj_close", "adj_close": "adj_close", "symbol": "ticker"}


def read_prices(source: str | Path | Iterable[str | Path], tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """Read prices from files or folders into a validated long price frame.

    Parameters
    ----------
    source
        A folder of per-ticker CSVs (file stem = ticker, columns ``date,open,high,low,close,adj_close,volume``),
        a Parquet dataset partitioned by ticker (:func:`~eventstudy.prices.dataset.write_price_dataset`),
        a long CSV/Parquet (``date,ticker,adj_close`` or ``close``, ...), a wide CSV/Parquet (``date,T1,T2,...``
        holding adjusted prices), or several of these.
    tickers
        Only these tickers (None: all). A long Parquet file then keeps only their rows, row group by row group as
        it is read, and only its date, ticker and price columns are read. Parquet numbers and timestamps go straight
        into numpy.

    Raises
    ------
    PriceDataError
        On a missing or empty file, unknown columns, unparseable dates, non-numeric, zero or negative prices,
        or duplicate (ticker, date) rows. The message names the file, ticker and date.
    """
    from eventstudy.prices.dataset import is_price_dataset, read_price_dataset  # it builds on this module

    eventstudy.kernel_cache.warm_up()  # numba's set-up overlaps the reading
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if not paths:
        raise PriceDataError("no price source given: pass a file or folder of prices")
    wanted = None if tickers is None else list(dict.fromkeys(tickers))
    frames: list[pd.DataFrame] = []
    for path in paths:
        if is_price_dataset(path):
            frames.append(read_price_dataset(path, wanted))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
            if not files:
                raise PriceDataError(f"{path}: folder holds no .csv or .parquet price files")
            frames.extend(_read_ticker_file(p) for p in files if wanted is None or p.stem in wanted)
        elif path.is_file():
            frames.append(_read_table_file(path, wanted))
        else:
            raise PriceDataError(f"{path}: no such price file or folder")
    ticker = union_categoricals([_ticker_codes(f["ticker"]) for f in frames])
    refuse_two_spellings(ticker.categories, f"the price data ({', '.join(str(p) for p in paths)})")
    rest = frames[0] if len(frames) == 1 else pd.concat([f.drop(columns="ticker") for f in frames], ignore_index=True)
    rows = None  # the rows of the result, in its order (None: every row as it is)
    if wanted is not None:
        keep = np.r_[ticker.categories.isin(wanted), False][ticker.codes]  # code -1 (no ticker): last entry
        if not keep.all():
            rows = np.flatnonzero(keep)
            ticker = ticker.take(rows)
    dates = rest["date"].to_numpy() if rows is None else rest["date"].to_numpy()[rows]
    order, dup = _order_and_duplicates(ticker, dates)
    if dup is not None:
        raise PriceDataError(
            f"ticker {ticker[dup[0]]} has {len(dup)} rows sharing a date (first {pd.Timestamp(dates[dup[0]]).date()}) "
            f"across {', '.join(str(p) for p in paths)}: keep one row per ticker and session"
        )
    if order is not None:
        ticker, dates, rows = ticker.take(order), dates[order], order if rows is None else rows[order]
    columns = {"date": dates, "ticker": _as_text(ticker)}
    # the fields no source has are views of one NaN column, made after the sort (pandas' copy-on-write gives a
    # field its own copy when it is first written to; a 4M-row frame: 32 MB instead of 160 MB)
    absent = pd.Series(np.full(len(ticker), np.nan)) if any(col not in rest for col in PRICE_FIELDS) else None
    for col in PRICE_FIELDS:
        values = absent if col not in rest else rest[col].to_numpy()
        columns[col] = values if rows is None or col not in rest else values[rows]
    return pd.DataFrame(columns, copy=False)  # each column its own block: no copy into 2D blocks


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


def _order_and_duplicates(ticker: pd.Categorical, dates: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (ticker, date) sort order (None when already sorted) and the rows sharing a (ticker, date) (or None).

    Works on integer codes: the rank of each ticker among the sorted tickers, and the dates as integers. When each
    ticker's rows are one block in date order (a file written ticker by ticker), the order puts the blocks in ticker
    order (no sort of the rows); when every ticker's rows come in date order (a date-major file), a stable sort of
    the ticker ranks alone is the order (a radix sort for up to 32,767 tickers); otherwise a sort by both keys.
    """
    if not len(ticker):
        return None, None
    rank = np.argsort(np.argsort(ticker.categories.to_numpy(dtype=object), kind="stable"))
    key_t = rank.astype(np.int16 if len(rank) < 2**15 else np.int64)[ticker.codes]
    key_d = dates.astype("datetime64[ns]", copy=False).view(np.int64)
    change = key_t[1:] != key_t[:-1]  # row i + 1 starts a block of another ticker's rows
    starts = np.r_[0, np.flatnonzero(change) + 1]
    blocks = key_t[starts]
    if len(blocks) <= len(rank) and len(np.unique(blocks)) == len(blocks):  # each ticker one block of rows
        later = np.flatnonzero(key_d[1:] <= key_d[:-1])  # rows not dated after the row before (few in a sorted file)
        later = later[~change[later]]  # those inside a block
        if not (key_d[later + 1] < key_d[later]).any():  # every block in date order: the blocks in ticker order
            order = None
            if (np.diff(blocks) < 0).any():
                by_rank = np.argsort(blocks)
                length = np.diff(np.r_[starts, len(key_t)])[by_rank]
                order = np.arange(len(key_t)) - np.repeat(np.cumsum(length) - length - starts[by_rank], length)
            return order, np.unique(np.r_[later, later + 1]) if len(later) else None  # rows sharing a date
    order = np.argsort(key_t, kind="stable")
    step_t, step_d = np.diff(key_t[order]), np.diff(key_d[order])
    if ((step_t == 0) & (step_d < 0)).any():  # some ticker's rows out of date order
        order = np.lexsort((key_d, key_t))
        step_t, step_d = np.diff(key_t[order]), np.diff(key_d[order])
    same = (step_t == 0) & (step_d == 0)
    if not same.any():
        return order, None
    return order, np.sort(order[np.r_[same, False] | np.r_[False, same]])


def _as_text(ticker: pd.Categorical) -> pd.api.extensions.ExtensionArray:
    """A categorical ticker column as the frame's text column (one take from the categories, no per-row work)."""
    return ticker.categories.astype(str).array.take(ticker.codes)


def _read_raw(path: Path, tickers: list[str] | None = None) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        try:
            frame = _read_parquet(path, tickers)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise PriceDataError(f"{path}: cannot be read as a Parquet price table ({exc})") from exc
        if frame.empty and tickers is None:
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


def _read_parquet(path: Path, tickers: list[str] | None) -> pd.DataFrame:
    """A Parquet price table with pyarrow: for a long table only its date, ticker and price columns (and the rows
    of ``tickers``, matched after stripping, dropped row group by row group as it is read); numbers and timestamps
    stay typed (no text round trip)."""
    file = pq.ParquetFile(path)
    known = {_column_name(n): n for n in file.schema_arrow.names}
    if "ticker" not in known:
        return file.read().to_pandas(ignore_metadata=True)
    names = [known[c] for c in ("date", "ticker", *PRICE_FIELDS) if c in known]
    parts = [
        _rows_of(file.read_row_group(i, columns=names), known["ticker"], tickers) for i in range(file.num_row_groups)
    ]
    table = pa.concat_tables(parts) if parts else file.schema_arrow.empty_table().select(names)
    return table.to_pandas(ignore_metadata=True)


def _rows_of(table: pa.Table, column: str, tickers: list[str] | None) -> pa.Table:
    """The rows of ``table`` whose ``column`` is one of ``tickers`` once stripped (all rows for None), decided on
    the column's distinct values (its dictionary)."""
    if tickers is None:
        return table
    values = table.column(column).combine_chunks()
    values = values if pa.types.is_dictionary(values.type) else values.dictionary_encode()
    wanted = set(tickers)
    chosen = np.array([v is not None and str(v).strip() in wanted for v in values.dictionary.to_pylist()] + [False])
    keep = chosen[values.indices.fill_null(-1).to_numpy(zero_copy_only=False)]  # a missing ticker: -1, not kept
    return table if keep.all() else table.filter(pa.array(keep))


def _read_ticker_file(path: Path) -> pd.DataFrame:
    frame = _read_raw(path)
    price_cols = [c for c in frame.columns if c in PRICE_FIELDS]
    if not {"adj_close", "close"} & set(price_cols):
        raise PriceDataError(f"{path}: needs an 'adj_close' or 'close' column (columns are {list(frame.columns)})")
    return _finish(frame[["date", *price_cols]].assign(ticker=path.stem), path)


def _read_table_file(path: Path, tickers: list[str] | None = None) -> pd.DataFrame:
    frame = _read_raw(path, tickers)
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
    """Parse dates and numbers, check them, return the frame with the long columns it has (ticker categorical).

    Typed columns (Parquet timestamps and floats) are taken as they are; text is parsed.
    """
    if pd.api.types.is_datetime64_any_dtype(frame["date"]):
        dates = frame["date"]
        if dates.isna().any():
            i = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise PriceDataError(f"{path}: row {i + 2}: missing date")
    else:
        raw_dates = frame["date"].astype(str).str.strip()
        dates = pd.to_datetime(raw_dates, format="ISO8601", errors="coerce")
        if dates.isna().any():
            i = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise PriceDataError(f"{path}: row {i + 2}: unparseable date {raw_dates.iloc[i]!r} (use YYYY-MM-DD)")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    day = dates.astype("datetime64[ns]").to_numpy()
    if (day.view(np.int64) % 86_400_000_000_000).any():  # a time of day: keep the session date only
        day = dates.dt.normalize().astype("datetime64[ns]").to_numpy()
    out = {"date": day, "ticker": _ticker_codes(frame["ticker"])}
    for col in (c for c in PRICE_FIELDS if c in frame.columns):
        if pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            values = frame[col].to_numpy(dtype="float64", na_value=np.nan)
        else:
            values = _parse_numbers(frame[col], out, col, path)
        out[col] = values
        with np.errstate(invalid="ignore"):
            if col == "volume" and not np.isinf(values).any():
                continue
            if col != "volume" and ((values > 0) & (values <= MAX_PRICE)).all():  # every price plausible
                continue
            checks = [(~np.isfinite(values) & ~np.isnan(values), "is not a finite number")]
            if col != "volume":
                checks += [
                    (values <= 0, "must be positive"),
                    (values > MAX_PRICE, f"is above {MAX_PRICE:g}, not a price"),
                ]
        for wrong, what in checks:
            if wrong.any():
                i = int(np.flatnonzero(wrong)[0])
                raise PriceDataError(
                    f"{path}: row {i + 2} ({out['ticker'][i]} {pd.Timestamp(out['date'][i]).date()}): "
                    f"{col} {values[i]:g} {what}: fix or drop the row"
                )
    return pd.DataFrame(out, copy=False)  # each column its own block (no copy into 2D blocks)


def _ticker_codes(ticker: pd.Series) -> pd.Categorical:
    """Tickers as a categorical of their stripped text (hashing with Arrow; per-ticker, not per-row, string work)."""
    if isinstance(ticker.dtype, pd.CategoricalDtype):
        codes, names = _stripped(ticker.cat.codes.to_numpy(), ticker.cat.categories.astype(str))
        return pd.Categorical.from_codes(codes, categories=names)
    starts, runs, names = ticker_runs(ticker)
    return pd.Categorical.from_codes(np.repeat(runs, np.diff(starts)), categories=names)


def ticker_runs(ticker: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """The tickers' runs of equal text: ``(starts, codes, names)``, run ``r`` the rows ``starts[r]:starts[r + 1]``
    (``starts`` ends with the row count), its ticker ``names[codes[r]]`` (-1: missing); ``names`` the distinct
    stripped texts. A sorted frame has one run per ticker: each ticker's text is hashed once."""
    if isinstance(ticker.dtype, pd.CategoricalDtype):
        codes = ticker.cat.codes.to_numpy()
        starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1, len(codes)] if len(codes) else np.zeros(1)
        runs, names = _stripped(codes[starts[:-1].astype(np.int64)], ticker.cat.categories.astype(str))
        return starts.astype(np.int64), runs.astype(np.int64), names
    text = ticker if pd.api.types.is_string_dtype(ticker) else ticker.astype(str)
    values = pa.chunked_array([pa.array(text, from_pandas=True)]).combine_chunks()
    if len(values) > 1:  # one row per run of equal tickers (a sorted frame: one per ticker)
        change = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1)).fill_null(True)  # null: a run
        starts = np.r_[0, pc.indices_nonzero(change).to_numpy() + 1, len(values)]
    else:
        starts = np.arange(len(values) + 1)
    encoded = values.take(pa.array(starts[:-1])).dictionary_encode()
    runs = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    runs, names = _stripped(runs, pd.Index(encoded.dictionary.to_pylist(), dtype=object).astype(str))
    return starts.astype(np.int64), runs, names


def _stripped(codes: np.ndarray, names: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """``codes`` into ``names`` (-1: missing) onto the distinct stripped texts of ``names``."""
    stripped = names.str.strip()
    if not stripped.is_unique:
        remap, stripped = pd.factorize(stripped)
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return codes, pd.Index(stripped, dtype=object)


def _parse_numbers(column: pd.Series, out: dict, col: str, path: Path) -> np.ndarray:
    """A text column of prices as float64 (empty, 'nan', 'None' are missing); the first non-number is an error."""
    text = column.astype(str).str.strip().replace({"": None, "nan": None, "NaN": None, "None": None})
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise PriceDataError(
            f"{path}: row {i + 2} ({out['ticker'][i]} {pd.Timestamp(out['date'][i]).date()}): "
            f"non-numeric {col} {text.iloc[i]!r}"
        )
    return values.to_numpy(dtype="float64", na_value=np.nan)
