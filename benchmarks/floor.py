"""The compute floor of the peer's scope: what the market model's AR, CAR and t cost on this machine when nothing
else is done.

One compiled pass per pair (numba, parallel over pairs) reads the stock's and the market's returns of its 261 days
from a (tickers x sessions) matrix already in memory and computes the OLS fit over the estimation window, the event
days' ARs, and each event window's CAR and its t with the market model's prediction-error variance
(Campbell, Lo & MacKinlay 1997, eq. 4.4.16; ``STATISTICS.md``):

    Var(CAR_i) = sigma_i^2 (L2 + L2^2 / L1 + (sum_w m_t - L2 mean_m)^2 / S_mm)

No layout (alignment, calendars, contamination, status), no other statistic, no stored array beyond the event
days' ARs, no table: a lower bound on the engine's pair stage, not an engine. The benchmark checks its CAR and t
against the engine's in the same run (complete data: the simulated universe has no gaps).
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pandas as pd


@numba.njit(parallel=True, cache=True)
def _floor(returns, market, ticker, day0, windows, estimation, car, t, ar):  # pragma: no cover - compiled
    first, last = estimation
    lead = windows[:, 0].min()  # the first event day: ar's column 0
    low, high = min(first, lead), windows[:, 1].max()
    for p in numba.prange(len(ticker)):
        r, z = returns[ticker[p]], day0[p]
        n, sx, sy, sxx, sxy, syy = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        if z + low >= 0 and z + high < len(market):
            for d in range(z + first, z + last + 1):
                x, y = market[d], r[d]
                if np.isfinite(x) and np.isfinite(y):
                    n += 1
                    sx, sy, sxx, sxy, syy = sx + x, sy + y, sxx + x * x, sxy + x * y, syy + y * y
        if n < 3:
            car[p], t[p] = np.nan, np.nan
            continue
        mx, my = sx / n, sy / n
        smm, smy, syy = sxx - n * mx * mx, sxy - n * mx * my, syy - n * my * my
        beta = smy / smm
        alpha = my - beta * mx
        s2 = (syy - beta * smy) / (n - 2)
        for k in range(ar.shape[1]):
            d = z + lead + k
            ar[p, k] = r[d] - alpha - beta * market[d]
        for w in range(len(windows)):
            total, xm, days = 0.0, 0.0, windows[w, 1] - windows[w, 0] + 1
            for k in range(windows[w, 0], windows[w, 1] + 1):
                total += ar[p, k - lead]
                xm += market[z + k]
            var = s2 * (days + days * days / n + (xm - days * mx) ** 2 / smm)
            car[p, w], t[p, w] = total, total / np.sqrt(var)


def measure_floor(prices: pd.DataFrame, events: pd.DataFrame, market: str, windows, repeats: int = 3) -> dict:
    """Pairs per second of the floor on ``events`` (event_id, ticker, date) over ``prices`` (long: date, ticker,
    adj_close), best of ``repeats`` timed passes after a first (compiling or loading) one, and its (P, W) CARs and
    t's (W: ``windows.events``, in order) for the check against the engine."""
    wide = prices.pivot(index="date", columns="ticker", values="adj_close")
    returns = (wide / wide.shift(1) - 1).iloc[1:]  # simple returns on the sessions of the data
    names = pd.Index(wide.columns)
    matrix = np.ascontiguousarray(returns.to_numpy().T)  # each ticker's returns in a row
    ticker = names.get_indexer(events["ticker"]).astype(np.int64)
    day0 = returns.index.searchsorted(pd.to_datetime(events["date"]).to_numpy()).astype(np.int64)
    bounds = np.array(windows.events, dtype=np.int64)
    estimation = (int(windows.estimation[0]), int(windows.estimation[1]))
    car, t = np.empty((len(ticker), len(bounds))), np.empty((len(ticker), len(bounds)))
    ar = np.empty((len(ticker), int(bounds[:, 1].max() - bounds[:, 0].min() + 1)))
    args = (matrix, matrix[names.get_loc(market)])
    best = np.inf
    for run in range(repeats + 1):
        clock = time.perf_counter()
        _floor(*args, ticker, day0, bounds, estimation, car, t, ar)
        best = best if run == 0 else min(best, time.perf_counter() - clock)
    return {"rate": len(ticker) / best, "car": car, "t": t}
