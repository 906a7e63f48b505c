"""Calendar-time portfolio (by hand on real prices) and its Newey-West alpha (by hand), and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from eventstudy import read_events, read_prices
from eventstudy.cli import main
from eventstudy.engine.calendar_time import calendar_alpha, calendar_portfolio
from eventstudy.errors import InputError

EVENTS = pd.DataFrame(
    {"event_id": ["A", "B", "C"], "ticker": ["MP", "UUUU", "MP"], "date": ["2025-10-09", "2025-10-13", "2025-06-02"]}
)


@pytest.fixture(scope="module")
def prices(prices_dir):
    return read_prices([prices_dir / f"{t}.csv" for t in ("MP", "UUUU", "SPY")])


def test_portfolio_by_hand(prices):
    port = calendar_portfolio(read_events(EVENTS), prices, 5).set_index("date")
    wide = prices.pivot(index="date", columns="ticker", values="adj_close")
    returns = wide.pct_change(fill_method=None)
    sessions = wide["SPY"].dropna().index
    held: dict[pd.Timestamp, list[float]] = {}
    for row in EVENTS.itertuples():
        start = sessions.get_loc(pd.Timestamp(row.date))
        for d in sessions[start : start + 6]:
            held.setdefault(d, []).append(returns.loc[d, row.ticker])
    assert list(port.index) == sorted(held)
    for d, values in held.items():
        assert port.loc[d, "n"] == len(values)
        np.testing.assert_allclose(port.loc[d, "return"], np.mean(values), rtol=1e-12)
    assert port["n"].max() == 2  # the A and B windows overlap


def test_newey_west_alpha_by_hand(prices):
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2024-01-01", periods=300)
    market = pd.Series(rng.normal(0.0005, 0.01, 300), index=dates)
    e = np.convolve(rng.normal(0, 0.01, 302), [1, 0.5, 0.3], mode="valid")  # MA(2) errors
    port = pd.DataFrame({"date": dates, "n": 3, "return": 0.001 + 1.2 * market.to_numpy() + e})
    fake = pd.DataFrame({"date": dates, "ticker": "M", "adj_close": 100 * np.cumprod(1 + market.to_numpy())})
    fake = fake.assign(**{c: np.nan for c in ("open", "high", "low", "close", "volume")})
    out = calendar_alpha(port.iloc[1:], model="market", prices=fake, market="M", lags=4).set_index("term")
    y = port["return"].to_numpy()[1:]
    x = np.column_stack([np.ones(299), market.to_numpy()[1:]])
    xtx_inv = np.linalg.inv(x.T @ x)
    b = xtx_inv @ x.T @ y
    u = y - x @ b
    g = x * u[:, None]
    s = g.T @ g
    for lag in range(1, 5):
        gamma = g[lag:].T @ g[:-lag]
        s += (1 - lag / 5) * (gamma + gamma.T)
    se = np.sqrt(np.diag(xtx_inv @ s @ xtx_inv))
    np.testing.assert_allclose(out["coef"], b, rtol=1e-8)
    np.testing.assert_allclose(out["se"], se, rtol=1e-8)
    np.testing.assert_allclose(out["p_value"], 2 * stats.t.sf(np.abs(b / se), 297), rtol=1e-6)
    assert (out["cov_type"] == "newey-west(4)").all()
    with pytest.raises(InputError, match="needs --factors-file"):
        calendar_alpha(port, model="ff3")


def test_calendar_time_cli(tmp_path, prices_dir):
    events = tmp_path / "events.csv"
    EVENTS.to_csv(events, index=False)
    out = tmp_path / "cal"
    args = ["calendar-time", "--events", str(events), "--prices", str(prices_dir), "--horizon", "10"]
    result = CliRunner().invoke(main, [*args, "--market", "SPY", "--out", str(out)])
    assert result.exit_code == 0, result.output
    alpha = pd.read_csv(out / "calendar_alpha.csv")
    assert (
        list(alpha["term"]) == ["const", "market"]
        and (alpha["n"] == len(pd.read_csv(out / "calendar_portfolio.csv"))).all()
    )
