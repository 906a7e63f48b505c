"""Pieces of the Dask runner that need no cluster: ticker-group partitions, price sources, the progress rule."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.cli.progress import terminal_progress
from eventstudy.events.catalog import read_events
from eventstudy.prices.dataset import write_price_dataset
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import PriceStore
from eventstudy.scale.partition import partition_by_ticker
from eventstudy.scale.sources import DatasetPrices, FolderPrices, StorePrices, price_source


def _events(tickers: list[str], per_ticker: list[int]):
    rows = [
        (f"E{j}", t, pd.Timestamp("2024-01-02") + pd.Timedelta(days=j))
        for t, k in zip(tickers, per_ticker, strict=True)
        for j in range(k)
    ]
    frame = pd.DataFrame(rows, columns=["event_id", "ticker", "date"]).sample(frac=1.0, random_state=1)
    return read_events(frame.reset_index(drop=True))


def test_partitions_keep_each_ticker_whole_and_balance_pairs():
    rng = np.random.default_rng(3)
    tickers = [f"T{i:03d}" for i in range(60)]
    counts = rng.integers(1, 40, len(tickers)).tolist()
    events = _events(tickers, counts)
    parts = partition_by_ticker(events, partitions=4)
    assert len(parts) == 4
    seen = np.concatenate([p.positions for p in parts])
    assert sorted(seen) == list(range(len(events)))  # every pair exactly once
    frame = events.frame
    for p in parts:
        assert np.all(np.diff(p.positions) > 0)  # study order kept inside a partition
        assert set(frame["ticker"].iloc[p.positions]) == set(p.tickers)
        sub = p.events(events).frame
        assert list(sub.index) == list(p.positions)
    owner = {t: p.number for p in parts for t in p.tickers}
    assert len(owner) == len(tickers)  # no ticker in two partitions
    sizes = [len(p.positions) for p in parts]
    assert max(sizes) - min(sizes) <= 2 * max(counts)
    assert len(partition_by_ticker(events, 1000)) <= len(tickers)  # capped: a ticker is never split


def test_one_ticker_with_all_events_is_one_partition():
    events = _events(["A", "B"], [50, 1])
    parts = partition_by_ticker(events, partitions=2)
    assert [p.tickers for p in parts] == [("A",), ("B",)]


def test_sources_read_only_their_tickers(prices_dir, tmp_path):
    full = read_prices(prices_dir)
    want = ["MP", "SPY"]
    expected = full[full["ticker"].isin(want)].reset_index(drop=True)
    ds = write_price_dataset(full, tmp_path / "ds")
    store = PriceStore(tmp_path / "p.duckdb")
    store.import_frame(full[full["ticker"].isin(want)], source="test")
    assert price_source(ds) == DatasetPrices(str(ds))
    assert price_source(prices_dir) == FolderPrices(str(prices_dir))
    assert price_source(store) == StorePrices(str(store.path))
    for source in (price_source(ds), price_source(prices_dir), price_source(store)):
        pd.testing.assert_frame_equal(source.load(want), expected, check_dtype=False)
    assert FolderPrices(str(prices_dir)).load(["NOPE"]).empty
    single = tmp_path / "long.csv"
    expected.assign(date=expected["date"].dt.strftime("%Y-%m-%d")).to_csv(single, index=False)
    pd.testing.assert_frame_equal(price_source(single), expected)  # a single long file is read on the driver


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal():
    term, pipe = _Terminal(), io.StringIO()
    with terminal_progress("partitions", term) as progress:
        for i in range(1, 5):
            progress(i, 4)
    assert "partitions" in term.getvalue() and "100%" in term.getvalue()
    with terminal_progress("partitions", pipe) as progress:
        assert progress is None
    assert pipe.getvalue() == ""


def test_prices_import_draws_no_bar_off_a_terminal(prices_dir, tmp_path):
    result = CliRunner().invoke(main, ["prices", "--store", str(tmp_path / "s.duckdb"), "import", str(prices_dir)])
    assert result.exit_code == 0, result.output
    assert "writing" not in result.output and "%" not in result.output.split("\n")[0]


@pytest.mark.parametrize("bad", [0, -3])
def test_partition_count_is_at_least_one(bad):
    assert len(partition_by_ticker(_events(["A", "B", "C"], [2, 2, 2]), partitions=bad)) == 1
