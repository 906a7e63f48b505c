"""read_prices sorts by (ticker, date) whatever the file's order: ticker blocks out of name order (a stable sort of
the tickers alone), date-major rows, shuffled rows (a sort by both keys); fields no file has are NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.errors import PriceDataError
from eventstudy.prices.files import LONG_COLUMNS, read_prices


def _long(seed: int = 0) -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-01", periods=40)
    tickers = ["ZZ", "MKT", "AA", "b1"]
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "date": np.tile(dates, len(tickers)),
            "ticker": np.repeat(tickers, len(dates)),
            "adj_close": rng.uniform(10, 20, len(dates) * len(tickers)),
        }
    )


@pytest.mark.parametrize("layout", ["blocks", "blocks, dates reversed", "date-major", "shuffled", "sorted"])
def test_any_row_order_gives_the_sorted_frame(tmp_path, layout):
    frame = _long()
    expected = frame.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    rows = {
        "blocks": frame,
        "blocks, dates reversed": frame.iloc[::-1].sort_values(
            "ticker", key=lambda t: t.map(["ZZ", "MKT", "AA", "b1"].index), kind="stable"
        ),
        "date-major": frame.sort_values(["date"], kind="stable"),
        "shuffled": frame.sample(frac=1.0, random_state=3),
        "sorted": expected,
    }[layout]
    rows.to_parquet(tmp_path / "p.parquet", index=False)
    got = read_prices(tmp_path / "p.parquet")
    assert list(got.columns) == list(LONG_COLUMNS)
    assert got[["open", "high", "low", "close", "volume"]].isna().all().all()
    assert got["close"].dtype == np.float64
    assert np.shares_memory(got["open"].to_numpy(), got["volume"].to_numpy())  # one NaN column for the absent
    got.loc[0, "open"] = 1.0  # a field written to gets its own copy: the others stay NaN
    got.iloc[1, list(got.columns).index("close")] = 2.0
    assert got["open"].iloc[0] == 1.0 and got["open"].iloc[1:].isna().all()
    assert np.isnan(got["close"].iloc[0]) and got["close"].iloc[1] == 2.0 and got["close"].iloc[2:].isna().all()
    assert got[["high", "low", "volume"]].isna().all().all()
    pd.testing.assert_frame_equal(
        got[["date", "ticker", "adj_close"]].astype({"ticker": object}),
        expected.astype({"ticker": object}),
        check_dtype=False,
    )


def test_a_duplicate_is_found_in_any_order(tmp_path):
    frame = _long()
    twice = pd.concat([frame, frame.iloc[[5]]]).sample(frac=1.0, random_state=1)
    twice.to_parquet(tmp_path / "p.parquet", index=False)
    with pytest.raises(PriceDataError, match="ZZ has 2 rows sharing a date"):
        read_prices(tmp_path / "p.parquet")


@pytest.mark.parametrize("layout", ["blocks", "sorted"])
def test_a_duplicate_inside_a_ticker_block_is_found(tmp_path, layout):
    frame = _long()
    frame = frame if layout == "blocks" else frame.sort_values(["ticker", "date"], kind="stable")
    twice = pd.concat([frame.iloc[:45], frame.iloc[[44]], frame.iloc[45:]])  # AA's 5th date twice, side by side
    twice.to_parquet(tmp_path / "p.parquet", index=False)
    who = twice.iloc[44]
    needle = rf"{who['ticker']} has 2 rows sharing a date \(first {who['date'].date()}\)"
    with pytest.raises(PriceDataError, match=needle):
        read_prices(tmp_path / "p.parquet")


@pytest.mark.parametrize("dictionary", [True, False])
def test_wanted_tickers_are_kept_from_every_row_group(tmp_path, dictionary):
    """The rows of the wanted tickers (matched after stripping) are kept from each row group as it is read, whether
    the ticker column is dictionary-encoded (pandas categories) or plain text; row groups without them add none."""
    frame = _long().sample(frac=1.0, random_state=5)
    frame["ticker"] = frame["ticker"].str.replace("AA", " AA ")
    frame = frame.astype({"ticker": "category" if dictionary else object})
    frame.to_parquet(tmp_path / "p.parquet", index=False, row_group_size=7)
    got = read_prices(tmp_path / "p.parquet", ["AA", "MKT", "NONE"])
    expected = frame.astype({"ticker": str}).assign(ticker=lambda f: f["ticker"].str.strip())
    expected = expected[expected["ticker"].isin(["AA", "MKT"])].sort_values(["ticker", "date"], ignore_index=True)
    assert list(got["ticker"].unique()) == ["AA", "MKT"]
    np.testing.assert_array_equal(got["adj_close"].to_numpy(), expected["adj_close"].to_numpy())
    np.testing.assert_array_equal(got["date"].to_numpy(), expected["date"].to_numpy())
