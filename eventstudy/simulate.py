"""Simulated markets with planted abnormal returns, for tests and benchmarks (never for the product's default run).

Returns follow a market model with cross-correlated noise:

    R_mt ~ N(mu_m, sigma_m^2)
    R_it = alpha_i + beta_i R_mt + e_it,   e_it = sigma_e (sqrt(rho) c_gt + sqrt(1 - rho) u_it)

where c_gt is a shock common to the firms of event group g (so firms sharing an event date are correlated with
correlation ``rho``) and u_it is idiosyncratic. The planted abnormal return ``effect`` is added to every firm of
an event on each day of ``effect_days`` (relative to that event's day 0).
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
    seed: int | None = 0,
) -> SimulatedStudy:
    """Simulate ``n_events`` events, each over its own ``n_firms`` firms, on a business-day calendar.

    With ``same_date`` every event's day 0 is session ``day0``; otherwise day 0 is drawn uniformly from the
    sessions that leave room for a 250-day estimation window and 20 days after.
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
    for d in effect_days:
        returns[np.arange(n_tickers), starts[event_of] + d - 1] += effect
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
            "date": dates[starts[event_of]],
        }
    )
    return SimulatedStudy(frame, events, "MKT", effect, tuple(effect_days))
