"""The Parquet price dataset partitioned by ticker: exact round trip, reads only the tickers asked for, refuses to
overwrite what it did not write; ``eventstudy prices dataset``; ``read_prices`` and the run read it."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.errors import PriceDataError
from eventstudy.prices.dataset import MARKER, dataset_tickers, read_price_dataset, write_price_dataset
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import PriceStore


@pytest.fixture(scope="module")
def real_prices(prices_dir) -> pd.DataFrame:
    return read_prices(prices_dir)


def test_round_trip_is_exact_and_partitioned(real_prices, tmp_path):
    out = write_price_dataset(real_prices, tmp_path / "ds")
    assert (out / MARKER).is_file()
    assert (out / "ticker=MP" / "part-0.parquet").is_file()
    assert (out / "ticker=%5EIRX" / "part-0.parquet").is_file()  # '^' is percent-encoded in the folder name
    assert dataset_tickers(out) == sorted(real_prices["ticker"].unique())
    pd.testing.assert_frame_equal(read_price_dataset(out), real_prices)
    pd.testing.assert_frame_equal(read_prices(out), real_prices)
    some = ["^IRX", "000300.SS", "MP", "NOT_THERE"]
    expected = real_prices[real_prices["ticker"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_price_dataset(out, some), expected)


def test_reads_only_the_requested_partitions(real_prices, tmp_path):
    out = write_price_dataset(real_prices[real_prices["ticker"].isin(["MP", "SPY", "LAC"])], tmp_path / "ds")
    (out / "ticker=LAC" / "part-0.parquet").write_bytes(b"not parquet")  # a damaged partition nobody asks for
    assert set(read_price_dataset(out, ["MP", "SPY"])["ticker"]) == {"MP", "SPY"}
    with pytest.raises(Exception, match="(?i)parquet"):
        read_price_dataset(out)


def test_refuses_foreign_folders_and_replaces_its_own(real_prices, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(PriceDataError, match="not a price dataset written by eventstudy"):
        write_price_dataset(real_prices, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(PriceDataError, match="not a price dataset"):
        read_price_dataset(foreign)
    ds = write_price_dataset(real_prices, tmp_path / "ds")
    write_price_dataset(real_prices[real_prices["ticker"] == "MP"], ds)
    assert dataset_tickers(ds) == ["MP"]


def test_bad_rows_are_named(real_prices, tmp_path):
    bad = real_prices[real_prices["ticker"] == "MP"].copy()
    bad.loc[bad.index[5], "adj_close"] = -1.0
    ds = write_price_dataset(bad, tmp_path / "ds")
    day = bad["date"].iloc[5].date()
    with pytest.raises(PriceDataError, match=f"ticker MP on {day} has a zero or negative price"):
        read_price_dataset(ds)
    spy = real_prices[real_prices["ticker"] == "SPY"]
    ds = write_price_dataset(pd.concat([spy, spy.iloc[[7]]], ignore_index=True), tmp_path / "ds")
    row = spy.iloc[7]
    with pytest.raises(PriceDataError, match=f"ticker {row.ticker} on {row.date.date()} has a second row"):
        read_price_dataset(ds)


def test_cli_writes_from_files_and_from_the_store(real_prices, prices_dir, tmp_path):
    store = tmp_path / "prices.duckdb"
    runner = CliRunner()
    from_files = runner.invoke(
        main, ["prices", "--store", str(store), "dataset", str(tmp_path / "a"), "--from", str(prices_dir)]
    )
    assert from_files.exit_code == 0, from_files.output
    assert f"wrote {len(real_prices)} rows of {real_prices['ticker'].nunique()} tickers" in from_files.output
    pd.testing.assert_frame_equal(read_price_dataset(tmp_path / "a"), real_prices)
    empty = runner.invoke(main, ["prices", "--store", str(store), "dataset", str(tmp_path / "b")])
    assert empty.exit_code == 2 and "no prices to write" in empty.output
    PriceStore(store).import_paths([prices_dir])
    from_store = runner.invoke(
        main, ["prices", "--store", str(store), "dataset", str(tmp_path / "b"), "--tickers", "MP,SPY"]
    )
    assert from_store.exit_code == 0, from_store.output
    expected = real_prices[real_prices["ticker"].isin(["MP", "SPY"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_price_dataset(tmp_path / "b"), expected)
