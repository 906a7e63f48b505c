"""Data checks on prices before they enter the store: refuse what is wrong, report what is suspicious.

Refused (:class:`~eventstudy.errors.PriceDataError`): non-positive, infinite or implausible prices (above
``MAX_PRICE``) and duplicate sessions.
Reported per ticker, never silently fixed: sessions missing against the venue calendar, dates that are not
sessions, one-day moves above 50% where ``close`` and ``adj_close`` disagree (a likely split or adjustment
problem), and stale runs of identical closes.

The listing venue of a ticker comes from its Yahoo suffix (:func:`venue_of`); sessions come from
exchange_calendars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.errors import PriceDataError
from eventstudy.prices.files import MAX_PRICE
from eventstudy.timing.venues import sessions, venue_of

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
VALUE_COLUMNS = [*PRICE_COLUMNS, "volume"]

_VENUE_CURRENCY = {"XNYS": "USD", "XSHG": "CNY", "XSHE": "CNY", "XASX": "AUD", "XTSE": "CAD", "XHKG": "HKD"}


def currency_of(ticker: str, venue: Callable[[str], str] = venue_of) -> str | None:
    """Trading currency implied by the venue; None for Yahoo indices and rates (``^...``)."""
    if ticker.startswith("^"):
        return None
    return _VENUE_CURRENCY.get(venue(ticker))


@dataclass(frozen=True)
class QualityReport:
    """What the checks found.

    Attributes
    ----------
    summary : DataFrame
        One row per ticker: ``ticker, venue, rows, first, last, missing_sessions, off_calendar,
        split_suspects, flat_runs``.
    issues : DataFrame
        One row per finding: ``ticker, check, date, detail``; ``check`` is one of ``missing_session``,
        ``off_calendar``, ``split_suspect``, ``flat_run``.
    """

    summary: pd.DataFrame
    issues: pd.DataFrame

    def ok(self) -> bool:
        return self.issues.empty


def refuse_invalid(frame: pd.DataFrame) -> None:
    """Raise :class:`PriceDataError` for duplicate (ticker, date) rows or non-positive prices.

    Yahoo indices and rates (``^IRX`` is a yield in percent) may legitimately be zero or negative and are
    exempt from the sign check.
    """
    dup = frame.duplicated(["ticker", "date"], keep=False)
    if dup.any():
        rows = frame.loc[dup, ["ticker", "date"]].drop_duplicates().head(5)
        where = ", ".join(f"{t} {d:%Y-%m-%d}" for t, d in rows.itertuples(index=False))
        raise PriceDataError(
            f"{int(dup.sum())} rows share a (ticker, session): {where}; keep one row per ticker and date"
        )
    values = frame[VALUE_COLUMNS].to_numpy(dtype="float64")
    unreal = np.isinf(values) | (np.abs(np.nan_to_num(values)) > MAX_PRICE) & (
        np.arange(len(VALUE_COLUMNS)) < len(PRICE_COLUMNS)
    )
    if unreal.any():
        i, j = np.argwhere(unreal)[0]
        raise PriceDataError(
            f"{int(unreal.any(axis=1).sum())} rows have infinite or implausible values, first "
            f"{frame['ticker'].iloc[i]} {frame['date'].iloc[i]:%Y-%m-%d} {VALUE_COLUMNS[j]}={values[i, j]:g}; "
            "fix or drop them before importing"
        )
    prices = values[:, : len(PRICE_COLUMNS)]
    bad = (prices <= 0) & ~frame["ticker"].str.startswith("^").to_numpy()[:, None]
    if bad.any():
        i, j = np.argwhere(bad)[0]
        t, d = frame["ticker"].iloc[i], frame["date"].iloc[i]
        raise PriceDataError(
            f"{int(bad.any(axis=1).sum())} rows have non-positive prices, first {t} {d:%Y-%m-%d} "
            f"{PRICE_COLUMNS[j]}={prices[i, j]}; fix or drop them before importing"
        )


def _runs(values: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """(start, stop) positions of runs of >= min_len equal non-NaN consecutive values."""
    out, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start] or np.isnan(values[i]):
            if i - start >= min_len and not np.isnan(values[start]):
                out.append((start, i))
            start = i
    return out


def check_prices(
    frame: pd.DataFrame,
    venue: Callable[[str], str] = venue_of,
    big_move: float = 0.5,
    flat_run: int = 5,
) -> QualityReport:
    """Check a long price frame (see :func:`eventstudy.prices.read_prices`) ticker by ticker.

    Calls :func:`refuse_invalid` first. ``big_move`` is the one-day simple return above which a move is
    suspect when ``close`` and ``adj_close`` returns differ by more than a tenth of it; ``flat_run`` is the
    number of identical consecutive closes (``adj_close``, else ``close``) that counts as stale.
    """
    refuse_invalid(frame)
    summary, issues = [], []
    for ticker, g in frame.sort_values(["ticker", "date"]).groupby("ticker", sort=True):
        dates = pd.DatetimeIndex(g["date"])
        v = venue(ticker)
        cal = sessions(v, dates[0], dates[-1])
        missing, off = cal.difference(dates), dates.difference(cal)
        issues += [(ticker, "missing_session", d, "no row on a session of " + v) for d in missing]
        issues += [(ticker, "off_calendar", d, "not a session of " + v) for d in off]

        r_close = g["close"].pct_change(fill_method=None).to_numpy()
        r_adj = g["adj_close"].pct_change(fill_method=None).to_numpy()
        big = (np.fmax(np.abs(r_close), np.abs(r_adj)) > big_move) & (np.abs(r_close - r_adj) > big_move / 10)
        splits = [
            (ticker, "split_suspect", dates[i], f"close {r_close[i]:+.1%} vs adj_close {r_adj[i]:+.1%}")
            for i in np.flatnonzero(big)
        ]
        level = g["adj_close"].where(g["adj_close"].notna(), g["close"]).to_numpy(dtype="float64")
        flats = [
            (
                ticker,
                "flat_run",
                dates[a],
                f"{b - a} identical closes {level[a]:g} to {dates[b - 1]:%Y-%m-%d}",
            )
            for a, b in _runs(level, flat_run)
        ]
        issues += splits + flats
        summary.append((ticker, v, len(g), dates[0], dates[-1], len(missing), len(off), len(splits), len(flats)))
    cols = ["ticker", "venue", "rows", "first", "last", "missing_sessions", "off_calendar"]
    return QualityReport(
        summary=pd.DataFrame(summary, columns=[*cols, "split_suspects", "flat_runs"]),
        issues=pd.DataFrame(issues, columns=["ticker", "check", "date", "detail"]),
    )
