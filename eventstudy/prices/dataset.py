"""A Parquet dataset of prices partitioned by ticker: each ticker's rows in their own folder, so a reader that
needs a few tickers (a Dask task, a study of four names in a universe of thousands) opens only their files.

Layout (Hive partitioning, the ticker percent-encoded where it has characters a path cannot hold)::

    DIR/_eventstudy_dataset.json       marker: what wrote the folder, the columns, tickers and rows
    DIR/ticker=MP/part-0.parquet       date, open, high, low, close, adj_close, volume (sorted by date)
    DIR/ticker=%5EIRX/part-0.parquet   ^IRX

Written with pyarrow's ``write_dataset`` and read with ``pyarrow.dataset`` and a filter on the partition key, so
unread tickers cost nothing but a directory listing. Any pyarrow-, DuckDB- or Spark-style reader of Hive datasets
reads it too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from eventstudy.errors import PriceDataError
from eventstudy.io import atomic_directory
from eventstudy.prices.files import LONG_COLUMNS, PRICE_FIELDS

MARKER = "_eventstudy_dataset.json"
_PARTITIONING = pads.partitioning(pa.schema([("ticker", pa.string())]), flavor="hive")
_SCHEMA = pa.schema([("date", pa.timestamp("ns")), *((c, pa.float64()) for c in PRICE_FIELDS), ("ticker", pa.string())])


def is_price_dataset(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :func:`write_price_dataset`."""
    return (Path(path) / MARKER).is_file()


def write_price_dataset(prices: pd.DataFrame, directory: str | Path) -> Path:
    """Write a long price frame (:func:`~eventstudy.prices.read_prices`) as a Parquet dataset partitioned by ticker.

    The folder appears complete or not at all. An existing folder is replaced only when it is itself such a
    dataset (it holds the marker file); any other existing, non-empty folder is refused, so nothing the toolkit
    did not write is deleted.

    Raises
    ------
    PriceDataError
        When ``directory`` is a non-empty folder that is not a price dataset, or the frame lacks long columns.
    """
    directory = Path(directory)
    missing = set(LONG_COLUMNS) - set(prices.columns)
    if missing:
        raise PriceDataError(f"the price frame lacks columns {sorted(missing)}: build it with read_prices()")
    if directory.exists() and (
        not directory.is_dir() or (any(directory.iterdir()) and not is_price_dataset(directory))
    ):
        raise PriceDataError(
            f"{directory} exists and is not a price dataset written by eventstudy: choose a new or empty folder"
        )
    frame = prices[list(LONG_COLUMNS)].sort_values(["ticker", "date"], kind="stable")
    table = pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False)
    marker = {
        "format": "eventstudy price dataset",
        "version": 1,
        "partitioning": "hive: ticker",
        "columns": list(LONG_COLUMNS),
        "tickers": int(frame["ticker"].nunique()),
        "rows": len(frame),
    }
    with atomic_directory(directory, marker=MARKER) as tmp:
        pads.write_dataset(
            table,
            tmp,
            format="parquet",
            partitioning=_PARTITIONING,
            basename_template="part-{i}.parquet",
            existing_data_behavior="overwrite_or_ignore",
        )
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return directory


def dataset_tickers(directory: str | Path) -> list[str]:
    """The tickers a price dataset holds (from its partition folders), sorted."""
    fragments = _open(directory).get_fragments()
    return sorted({pads.get_partition_keys(f.partition_expression)["ticker"] for f in fragments})


def read_price_dataset(directory: str | Path, tickers: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a price dataset (all tickers, or only ``tickers``) into a long price frame sorted by ticker and date.

    Only the partitions of the requested tickers are opened. Tickers the dataset does not hold are absent from
    the result (the study then names them).

    Raises
    ------
    PriceDataError
        When the folder is not a price dataset, or a file holds a duplicate date or a non-positive price.
    """
    data = _open(directory)
    flt = None if tickers is None else pads.field("ticker").isin(list(dict.fromkeys(tickers)))
    table = data.to_table(columns=list(LONG_COLUMNS), filter=flt)
    table = table.sort_by([("ticker", "ascending"), ("date", "ascending")])  # UTF-8 byte order = str order
    _check(table, Path(directory))
    frame = table.to_pandas().astype({c: "float64" for c in PRICE_FIELDS})
    frame["date"] = frame["date"].astype("datetime64[ns]")
    frame["ticker"] = frame["ticker"].astype(str)
    return frame


def _open(directory: str | Path) -> pads.Dataset:
    directory = Path(directory)
    if not is_price_dataset(directory):
        raise PriceDataError(
            f"{directory} is not a price dataset (no {MARKER}): write one with `eventstudy prices dataset` "
            "or eventstudy.prices.dataset.write_price_dataset"
        )
    return pads.dataset(directory, schema=_SCHEMA, format="parquet", partitioning=_PARTITIONING)


def _check(table: pa.Table, directory: Path) -> None:
    """Duplicate (ticker, date) rows and non-positive prices are refused, naming the ticker and date.

    ``table`` is sorted by ticker and date, so a duplicate is a row equal to the one before it.
    """
    codes = pc.dictionary_encode(table["ticker"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    dates = table["date"].to_numpy()
    dup = np.r_[False, (codes[1:] == codes[:-1]) & (dates[1:] == dates[:-1])]
    bad = np.zeros(table.num_rows, dtype=bool)
    for col in PRICE_FIELDS:
        if col != "volume":
            bad |= table[col].to_numpy(zero_copy_only=False) <= 0
    for mask, what in ((dup, "a second row for the same date"), (bad, "a zero or negative price")):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise PriceDataError(
                f"{directory}: ticker {table['ticker'][i]} on {pd.Timestamp(dates[i]).date()} has {what}: rewrite "
                "the dataset from clean prices (eventstudy prices dataset)"
            )
