"""The panel layout's vectorised parts against direct calculations: the price table placed by day number, and each
pair's counts of days from running counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.engine.grid import SessionGrid
from eventstudy.prices.files import price_matrix


@pytest.mark.parametrize("intraday", [False, True])
def test_price_matrix_equals_a_pivot_of_the_rows(intraday):
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("1965-01-01", periods=300)  # before and after 1970: negative and positive day numbers
    rows = [(d, t) for t in ("A", "B", "C", "D") for d in dates if rng.random() < 0.8]
    frame = pd.DataFrame(rows, columns=["date", "ticker"])
    frame["close"] = rng.uniform(5, 50, len(frame))
    frame["adj_close"] = np.where(frame["ticker"] == "B", np.nan, frame["close"] * 0.9)  # B: raw closes only
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "adj_close"] = np.nan  # gaps in the adjusted closes
    if intraday:  # not at midnight: the hashing path
        frame["date"] = frame["date"] + pd.Timedelta(hours=16)
    frame = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)  # any row order
    wanted = ["C", "A", "B"]
    got = price_matrix(frame, wanted)
    use = frame[frame["ticker"].isin(wanted)]
    has_adj = use.groupby("ticker")["adj_close"].count() > 0
    value = np.where(use["ticker"].map(has_adj).to_numpy(dtype=bool), use["adj_close"], use["close"])
    expected = use.assign(value=value).pivot(index="date", columns="ticker", values="value")[wanted]
    assert got.index.is_monotonic_increasing and list(got.columns) == wanted
    np.testing.assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_counts_equal_the_gathered_days_summed():
    rng = np.random.default_rng(6)
    grid = SessionGrid(
        sessions=np.arange(120).astype("datetime64[D]").astype("datetime64[ns]"),
        blocks=(("A", 0, 50), ("B", 50, 120)),
        tickers=("x", "y", "z"),
        returns=np.zeros((3, 120)),
        span=np.zeros((3, 120), dtype=np.int16),
        regressors=np.zeros((1, 120)),
    )
    matrix = rng.random((3, 120)) < 0.6
    block = rng.integers(0, 2, 300)
    start = np.where(block == 0, rng.integers(-40, 60, 300), rng.integers(10, 130, 300))
    start[:5] = -(2**40)  # pairs without a session
    cells = np.stack([start, rng.integers(0, 3, 300), block], axis=1)
    for days in (np.arange(0, 30), np.arange(12, 13), np.arange(5, 45)):
        expected = grid.take(matrix, cells, days, False).sum(axis=1)
        np.testing.assert_array_equal(grid.count(matrix, cells, days), expected)
