"""Venues and their trading sessions.

A ticker's venue comes from its Yahoo suffix (``600111.SS`` -> XSHG, ``000831.SZ`` -> XSHE, ``LYC.AX`` ->
XASX, ...); a plain symbol is a US listing on XNYS (NYSE and Nasdaq share one session calendar). Sessions come
from exchange_calendars; the pseudo-venue ``"data"`` takes the dates present in the price data instead (for
simulated data or venues without a calendar).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eventstudy.errors import EventError

if TYPE_CHECKING:
    import exchange_calendars as xcals

DATA_VENUE = "data"

SUFFIX_VENUES: dict[str, str] = {
    "SS": "XSHG",
    "SZ": "XSHE",
    "AX": "XASX",
    "HK": "XHKG",
    "TO": "XTSE",
    "V": "XTSE",
    "L": "XLON",
    "BR": "XBRU",
    "AS": "XAMS",
    "MI": "XMIL",
    "T": "XTKS",
    "PA": "XPAR",
    "DE": "XETR",
}
US_VENUE = "XNYS"
# Venues that keep another exchange's sessions and hours (exchange_calendars has no separate calendar for them).
CALENDAR_OF = {"XSHE": "XSHG", "XNAS": "XNYS"}


def venue_of(ticker: str, overrides: Mapping[str, str] | None = None, default: str = US_VENUE) -> str:
    """The venue (exchange_calendars code, or ``"data"``) whose sessions a ticker trades on.

    ``overrides`` (ticker -> venue) wins; then the Yahoo suffix; a symbol without suffix (or an index such as
    ``^IRX``) gets ``default``.

    Raises
    ------
    EventError
        For a suffix with no known venue: pass the venue explicitly (``--venue TICKER=XCODE``).
    """
    if overrides and ticker in overrides:
        return overrides[ticker]
    if "." not in ticker or ticker.startswith("^"):
        return default
    suffix = ticker.rsplit(".", 1)[1].upper()
    if suffix not in SUFFIX_VENUES:
        raise EventError(
            f"ticker {ticker}: no known venue for the exchange suffix .{suffix}; name it with "
            f"--venue {ticker}=<exchange_calendars code> (e.g. XNYS, XSHG)"
        )
    return SUFFIX_VENUES[suffix]


@dataclass(frozen=True)
class Venue:
    """A venue's sessions (tz-naive session dates) and, for real exchanges, their UTC open and close instants."""

    name: str
    sessions: pd.DatetimeIndex
    opens: pd.DatetimeIndex | None = None
    closes: pd.DatetimeIndex | None = None
    tz: str | None = None

    @classmethod
    def from_calendar(cls, name: str, start: pd.Timestamp, end: pd.Timestamp) -> Venue:
        """Sessions of an exchange_calendars calendar between ``start`` and ``end`` (inclusive)."""
        cal = exchange_calendar(name)
        found = sessions(name, start, end)
        schedule = cal.schedule.loc[found]
        return cls(
            name=name,
            sessions=found,
            opens=pd.DatetimeIndex(schedule["open"]),
            closes=pd.DatetimeIndex(schedule["close"]),
            tz=str(cal.tz),
        )

    @classmethod
    def from_dates(cls, dates: Iterable[pd.Timestamp]) -> Venue:
        """The pseudo-venue ``"data"``: the distinct dates present in the price data are the sessions."""
        return cls(name=DATA_VENUE, sessions=pd.DatetimeIndex(np.unique(np.asarray(dates, dtype="datetime64[ns]"))))


@lru_cache(maxsize=32)
def exchange_calendar(venue: str) -> xcals.ExchangeCalendar:
    """The exchange_calendars calendar of a venue (XSHE -> XSHG's), from 1990 or its first recorded year."""
    import exchange_calendars as xcals  # 0.05 s to import: only when a venue's calendar is used (not for "data")

    name = CALENDAR_OF.get(venue, venue)
    try:
        try:
            return xcals.get_calendar(name, start="1990-01-01")
        except ValueError:  # holidays recorded from a later year (XSHG: 1991, XTKS: 1997)
            return xcals.get_calendar(name)
    except xcals.errors.InvalidCalendarName:
        raise EventError(
            f"unknown exchange calendar {venue!r}: use an exchange_calendars code such as XNYS, XSHG, XSHE, "
            "XASX, or 'data' to take the sessions from the price data"
        ) from None


def sessions(venue: str, start: pd.Timestamp | str, end: pd.Timestamp | str) -> pd.DatetimeIndex:
    """Sessions of ``venue`` in ``[start, end]`` (tz-naive midnight, ns), clipped to the calendar's bounds."""
    cal = exchange_calendar(venue)
    lo, hi = max(pd.Timestamp(start), cal.first_session), min(pd.Timestamp(end), cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return pd.DatetimeIndex(cal.sessions_in_range(lo, hi)).as_unit("ns")
