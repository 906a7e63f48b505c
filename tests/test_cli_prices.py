"""``eventstudy prices``: import, list, export, fetch, conflicts and the one-line errors (exit 2)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yfinance
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import PriceStore


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "store" / "prices.duckdb"


def run(store_path, *args):
    result = CliRunner().invoke(main, ["prices", "--store", str(store_path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def write_ticker_csv(folder, ticker, adj_close, start="2025-01-02"):
    folder.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range(start, periods=len(adj_close))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "adj_close": adj_close}).to_csv(
        folder / f"{ticker}.csv", index=False
    )


def test_import_list_reimport_export(store_path, prices_dir, tmp_path):
    first = run(store_path, "import", str(prices_dir))
    assert first.exit_code == 0
    assert f"{len(read_prices(prices_dir))} new" in first.output
    assert "flat_run" in first.output  # USAR's and CRML's SPAC shells sit flat near $10
    listing = run(store_path, "list")
    assert listing.exit_code == 0
    mp = next(line for line in listing.output.splitlines() if line.split()[:1] == ["MP"])
    assert mp.split()[1:5] == ["XNYS", "USD", "2021-01-04", "2026-07-13"]
    again = run(store_path, "import", str(prices_dir))
    assert again.exit_code == 0 and "nothing new" in again.output
    out = tmp_path / "mp.csv"
    exported = run(store_path, "export", str(out), "--tickers", "MP,SPY")
    assert exported.exit_code == 0
    back = read_prices(out)
    expected = read_prices(prices_dir)
    pd.testing.assert_frame_equal(back, expected[expected["ticker"].isin(["MP", "SPY"])].reset_index(drop=True))


def test_conflict_exits_1_and_replace_overwrites(store_path, tmp_path):
    write_ticker_csv(tmp_path / "v1", "AAA", [10.0, 11.0, 12.0])
    write_ticker_csv(tmp_path / "v2", "AAA", [10.0, 11.5, 12.0])
    assert run(store_path, "import", str(tmp_path / "v1")).exit_code == 0
    kept = run(store_path, "import", str(tmp_path / "v2"))
    assert kept.exit_code == 1
    assert re.search(r"AAA 2025-01-03 adj_close +11\.0 +11\.5", kept.output) and "--replace" in kept.output
    assert PriceStore(store_path).load()["adj_close"].tolist() == [10.0, 11.0, 12.0]
    replaced = run(store_path, "import", "--replace", str(tmp_path / "v2"))
    assert replaced.exit_code == 0 and "1 replaced" in replaced.output
    assert PriceStore(store_path).load()["adj_close"].tolist() == [10.0, 11.5, 12.0]


def test_user_errors_exit_2_with_one_line(store_path, tmp_path):
    write_ticker_csv(tmp_path / "bad", "AAA", [10.0, -1.0])
    bad = run(store_path, "import", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "must be positive" in bad.output
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_bytes(b"\0" * 5000)
    damaged = run(store_path, "list")
    assert damaged.exit_code == 2 and damaged.output.startswith("error: store ")
    assert "rebuild --from" in damaged.output and damaged.output.count("\n") == 1
    write_ticker_csv(tmp_path / "good", "AAA", [10.0, 11.0])
    rebuilt = run(store_path, "rebuild", "--from", str(tmp_path / "good"))
    assert rebuilt.exit_code == 0 and "moved the old store to" in rebuilt.output
    assert run(store_path, "list").exit_code == 0


def test_empty_store_list_says_how_to_fill_it(store_path):
    result = run(store_path, "list")
    assert result.exit_code == 0 and "is empty: eventstudy prices import" in result.output


def fake_download(tickers, start, end, **kwargs):
    """yfinance.download's (Price, Ticker) frame for business days in [start, end)."""
    days = pd.bdate_range(start, pd.Timestamp(end) - pd.Timedelta(days=1), name="Date")
    per = {}
    for t in tickers:
        close = np.linspace(10, 20, len(days))
        per[t] = pd.DataFrame(
            {"Open": close, "High": close, "Low": close, "Close": close, "Adj Close": close, "Volume": 1e6},
            index=days,
        )
    data = pd.concat(per.values(), axis=1, keys=per.keys(), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    return data.sort_index(level=0, axis=1)


def test_fetch_downloads_only_what_is_missing(store_path, tmp_path, monkeypatch):
    calls = []

    def download(tickers, **kwargs):
        calls.append((list(tickers), kwargs["start"], kwargs["end"]))
        return fake_download(tickers, **kwargs)

    monkeypatch.setattr(yfinance, "download", download)
    write_ticker_csv(tmp_path / "files", "MP", list(np.linspace(10, 11, 21)), start="2025-01-02")
    assert run(store_path, "import", str(tmp_path / "files")).exit_code == 0
    result = run(store_path, "fetch", "mp", "spy", "--start", "2025-01-02", "--end", "2025-02-28")
    assert result.exit_code == 0, result.output
    assert sorted(calls) == [(["MP"], "2025-01-31", "2025-03-01"), (["SPY"], "2025-01-02", "2025-03-01")]
    again = run(store_path, "fetch", "MP", "SPY", "--start", "2025-01-02", "--end", "2025-02-28")
    assert "nothing to fetch" in again.output and len(calls) == 2


def test_fetch_offline_exits_2_with_the_fix(store_path, monkeypatch):
    def offline(tickers, **kwargs):
        raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")

    monkeypatch.setattr(yfinance, "download", offline)
    result = run(store_path, "fetch", "MP", "--start", "2025-01-02", "--end", "2025-01-31")
    assert result.exit_code == 2
    assert "offline" in result.output and "MP 2025-01-02..2025-01-31" in result.output
    assert "eventstudy prices import" in result.output
