"""Simulated markets with planted abnormal returns, for tests and benchmarks (never for the product's default run).

Returns follow a market model with cross-correlated noise:

    R_mt ~ N(mu_m, sigma_m^2)
    R_it = alpha_i + beta_i R_mt + e_it,   e_it = sigma_e (sqrt(rho) c_gt + sqrt(1 - rho) u_it)

where c_gt is a shock common to the firms of event group g (so firms sharing an event date are correlated with
correlation ``rho``) and u_it is idiosyncratic. The planted abnormal return ``effect`` is added to every firm of
an event on each day of ``effect_days`` (relative to that firm's day 0). With ``spread`` > 1 the firms of an event
are staggered: each firm's day 0 is drawn over ``spread`` consecutive sessions, so their event windows overlap in
calendar time while the common shock keeps them correlated day by day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SimulatedStudy:
    """A simulated price panel (long price frame), its events (event_id, ticker, date) and the truth."""

    prices: pd.DataFrame
    events: pd.DataFrame
    market: str
    effect: float
    effect_days: tuple[int, ...]


def simulate_study(
    n_events: int = 50,
    n_firms: int = 20,
    *,
    effect: float = 0.0,
    effect_days: tuple[int, ...] = (0,),
    rho: float = 0.0,
    sigma_e: float = 0.02,
    sigma_m: float = 0.01,
    n_days: int = 300,
    day0: int = 270,
    same_date: bool = True,
    spread: int = 1,
    seed: int | None = 0,
) -> SimulatedStudy:
    """Simulate ``n_events`` events, each over its own ``n_firms`` firms, on a business-day calendar.

    With ``same_date`` every event's day 0 is session ``day0``; otherwise day 0 is drawn uniformly from the
    sessions that leave room for a 250-day estimation window and 20 days after. ``spread``: each firm's day 0 is
    its event's day 0 plus a uniform draw from 0 .. spread - 1 sessions (``n_days`` must leave room for it).
    """
    rng = np.random.default_rng(seed)
    n_tickers = n_events * n_firms
    dates = pd.bdate_range("2015-01-02", periods=n_days + 1)
    market = rng.normal(0.0003, sigma_m, n_days)
    alpha = rng.normal(0.0, 0.0005, n_tickers)
    beta = rng.uniform(0.5, 1.5, n_tickers)
    common = np.repeat(rng.normal(0.0, 1.0, (n_events, n_days)), n_firms, axis=0)
    noise = sigma_e * (np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(0.0, 1.0, (n_tickers, n_days)))
    returns = alpha[:, None] + beta[:, None] * market[None, :] + noise
    if same_date:
        starts = np.full(n_events, day0)
    else:
        starts = rng.integers(252, n_days - 20, n_events)
    event_of = np.repeat(np.arange(n_events), n_firms)
    firm_day0 = starts[event_of] + (rng.integers(0, spread, n_tickers) if spread > 1 else 0)
    if firm_day0.max() + max(effect_days, default=0) > n_days:
        raise ValueError(f"n_days={n_days} leaves no room for day 0 + spread + effect days")
    for d in effect_days:
        returns[np.arange(n_tickers), firm_day0 + d - 1] += effect
    tickers = [f"S{i:05d}" for i in range(n_tickers)]
    prices = 100.0 * np.cumprod(np.hstack([np.ones((n_tickers, 1)), 1 + returns]), axis=1)
    market_px = 100.0 * np.cumprod(np.r_[1.0, 1 + market])
    all_px = np.vstack([prices, market_px])
    names = [*tickers, "MKT"]
    frame = pd.DataFrame(
        {
            "date": np.tile(dates.values, len(names)),
            "ticker": np.repeat(names, len(dates)),
            "adj_close": all_px.ravel(),
        }
    )
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = np.nan
    frame = frame[["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"]]
    frame["ticker"] = frame["ticker"].astype(str)
    events = pd.DataFrame(
        {
            "event_id": [f"EV{e:04d}" for e in event_of],
            "ticker": tickers,
            "date": dates[firm_day0],
        }
    )
    return SimulatedStudy(frame, events, "MKT", effect, tuple(effect_days))


@dataclass(frozen=True)
class SimulatedUniverse:
    """A (sessions x tickers) price matrix with a market column, and events of ``tickers_per_event`` tickers."""

    dates: pd.DatetimeIndex
    tickers: list[str]  # stock tickers; the market is ``market`` (last column of ``prices``)
    prices: np.ndarray  # (sessions + 1, tickers + 1) adjusted prices, market last
    market: str
    events: pd.DataFrame  # event_id, ticker, date
    effect: float

    def long_prices(self) -> pd.DataFrame:
        """The prices as a long frame ``date, ticker, adj_close`` (ticker-major)."""
        names = [*self.tickers, self.market]
        return pd.DataFrame(
            {
                "date": np.tile(self.dates.values, len(names)),
                "ticker": pd.Categorical.from_codes(np.repeat(np.arange(len(names)), len(self.dates)), names),
                "adj_close": self.prices.T.ravel(),
            }
        )


def simulate_universe(
    n_tickers: int = 2000,
    n_sessions: int = 2000,
    n_events: int = 100,
    tickers_per_event: int = 10,
    *,
    effect: float = 0.01,
    n_sectors: int = 20,
    rho: float = 0.2,
    sigma_e: float = 0.02,
    sigma_m: float = 0.01,
    first_day0: int = 260,
    seed: int | None = 0,
) -> SimulatedUniverse:
    """A backtest universe: market model returns with sector-correlated noise and planted effects.

    R_it = alpha_i + beta_i R_mt + sigma_e (sqrt(rho) s_{g(i)t} + sqrt(1 - rho) u_it), with s_gt a shock common to
    sector g (``n_sectors`` sectors, so residuals of a sector are correlated ``rho``). Each event has a day 0 drawn
    from the sessions leaving ``first_day0`` sessions before and 20 after, and ``tickers_per_event`` distinct
    tickers, each of which gets ``effect`` added to its return on day 0.
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2010-01-04", periods=n_sessions + 1)
    market = rng.normal(0.0003, sigma_m, n_sessions)
    sector = rng.integers(0, n_sectors, n_tickers)
    shocks = rng.normal(0.0, 1.0, (n_sessions, n_sectors)).astype(np.float64)
    noise = rng.standard_normal((n_sessions, n_tickers))
    noise *= np.sqrt(1 - rho)
    noise += np.sqrt(rho) * shocks[:, sector]
    noise *= sigma_e
    returns = noise
    returns += rng.normal(0.0, 0.0005, n_tickers)[None, :]
    returns += rng.uniform(0.5, 1.5, n_tickers)[None, :] * market[:, None]
    day0 = rng.integers(first_day0, n_sessions - 20, n_events)
    k = min(tickers_per_event, n_tickers)
    stride = n_tickers // k
    offsets = np.arange(k) * stride + rng.integers(0, stride, (n_events, 1))
    members = (rng.integers(0, n_tickers, (n_events, 1)) + offsets) % n_tickers  # k distinct tickers per event
    np.add.at(returns, (np.repeat(day0, k) - 1, members.ravel()), effect)
    prices = np.empty((n_sessions + 1, n_tickers + 1))
    prices[0] = 100.0
    np.cumprod(1 + returns, axis=0, out=prices[1:, :n_tickers])
    prices[1:, :n_tickers] *= 100.0
    prices[1:, n_tickers] = 100.0 * np.cumprod(1 + market)
    tickers = [f"S{i:05d}" for i in range(n_tickers)]
    events = pd.DataFrame(
        {
            "event_id": np.repeat(np.char.add("E", np.char.zfill(np.arange(n_events).astype(str), 7)), k).astype(
                object
            ),
            "ticker": np.asarray(tickers, dtype=object)[members.ravel()],
            "date": np.repeat(dates.values[day0], k),
        }
    )
    return SimulatedUniverse(dates, tickers, prices, "MKT", events, effect)
