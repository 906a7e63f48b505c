"""Where a Dask task reads its prices: only its own tickers (plus the market and factors), never the universe.

A source is a small, picklable description that travels to the workers and is opened there:

* :class:`DatasetPrices`: a Parquet dataset partitioned by ticker
  (:func:`~eventstudy.prices.dataset.write_price_dataset`); a task opens its tickers' folders only.
* :class:`FolderPrices`: a folder of per-ticker CSV/Parquet files (``../shared/data/prices``); a task reads its
  tickers' files only.
* :class:`StorePrices`: the DuckDB price store, opened read-only (any number of workers may read it at once).
* an in-memory long price frame: the driver cuts each task's rows and ships them with the task.

Workers must see the same paths as the driver (a shared or replicated file system) for the first three.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eventstudy.prices.batches import empty_frame
from eventstudy.prices.dataset import is_price_dataset, read_price_dataset
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import PriceStore


@dataclass(frozen=True)
class DatasetPrices:
    """A price dataset partitioned by ticker."""

    path: str

    def load(self, tickers: Sequence[str]) -> pd.DataFrame:
        return read_price_dataset(self.path, tickers)


@dataclass(frozen=True)
class FolderPrices:
    """A folder of per-ticker price files (file stem = ticker), as :func:`~eventstudy.prices.read_prices` reads.

    Tickers without a file are absent from what it loads (the study then names them)."""

    path: str

    def load(self, tickers: Sequence[str]) -> pd.DataFrame:
        files = {p.stem: p for p in Path(self.path).iterdir() if p.suffix.lower() in (".csv", ".parquet")}
        chosen = [files[t] for t in dict.fromkeys(tickers) if t in files]
        return read_prices(chosen) if chosen else empty_frame()


@dataclass(frozen=True)
class StorePrices:
    """The DuckDB price store at ``path``, between ``start`` and ``end`` (None: everything stored)."""

    path: str
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    def load(self, tickers: Sequence[str]) -> pd.DataFrame:
        return PriceStore(self.path).load(tickers, self.start, self.end)


PriceSource = DatasetPrices | FolderPrices | StorePrices


def price_source(
    prices: pd.DataFrame | PriceSource | str | Path | PriceStore | Iterable[str | Path],
) -> PriceSource | pd.DataFrame:
    """What the tasks read: a source for a dataset, a per-ticker folder or a store; a frame for anything else.

    Single long or wide files (and several sources given together) cannot be read by ticker: they are read once
    on the driver into a long price frame, and each task receives its rows.
    """
    if isinstance(prices, pd.DataFrame | DatasetPrices | FolderPrices | StorePrices):
        return prices
    if isinstance(prices, PriceStore):
        return StorePrices(str(prices.path))
    paths = [Path(prices)] if isinstance(prices, str | Path) else [Path(p) for p in prices]
    if len(paths) == 1:
        path = paths[0]
        if is_price_dataset(path):
            return DatasetPrices(str(path))
        if path.is_dir():
            return FolderPrices(str(path))
        if path.suffix.lower() == ".duckdb":
            return StorePrices(str(path))
    return read_prices(paths)
