"""Day 0: the first session of a ticker's own venue that could react to an announcement.

Convention (DESIGN.md, "Event time"; see the note on intraday releases below):

* An announcement with a time is an instant (its time zone converts it to UTC). Day 0 is the first session of
  the venue whose **close** comes after that instant: a release before the open is day 0 that day; a release
  during the session is also day 0 that day, because the session's closing price, from which the daily return
  is computed, already reflects it; a release at or after the close rolls to the next session.
* A date without a time means "before the open": day 0 is the session on that date, or the next session if the
  venue is closed then (weekend, holiday).
* On the pseudo-venue ``"data"`` (no session hours) the date rule applies to every event.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import numpy as np
import pandas as pd

from eventstudy.timing.venues import Venue

ALIGNMENT_COLUMNS = (
    "event_id",
    "ticker",
    "venue",
    "announced_at_utc",
    "announced_at_local",
    "day0",
    "reason",
)


def announcement_instants(events: pd.DataFrame) -> pd.Series:
    """UTC instant of each row with a time (NaT for date-only rows)."""
    out = pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns, UTC]")
    timed = events["time"] != ""
    for zone, rows in events[timed].groupby("timezone"):
        local = pd.to_datetime(rows["date"].dt.strftime("%Y-%m-%d") + " " + rows["time"], format="%Y-%m-%d %H:%M")
        out.loc[rows.index] = local.dt.tz_localize(zone, ambiguous="raise", nonexistent="shift_forward").dt.tz_convert(
            "UTC"
        )
    return out


def align_events(events: pd.DataFrame, venue_of_ticker: Mapping[str, str], venues: Mapping[str, Venue]) -> pd.DataFrame:
    """Day 0 for every (event, ticker) row of ``events`` on the ticker's venue.

    Returns the alignment table (``ALIGNMENT_COLUMNS`` plus ``day0_index``, the position of day 0 in the venue's
    sessions; -1 when the event lies after the last known session).
    """
    rows = events[["event_id", "ticker", "date", "time", "timezone"]].copy()
    codes, tickers = pd.factorize(rows["ticker"])  # each distinct ticker's venue looked up once
    rows["venue"] = pd.array([venue_of_ticker.get(t, np.nan) for t in tickers], dtype="str").take(codes)  # Arrow
    rows["instant"] = announcement_instants(rows)
    parts = []
    for name, part in rows.groupby("venue", sort=False):
        parts.append(_align_on_venue(part, venues[name]))
    out = parts[0] if len(parts) == 1 else pd.concat(parts).loc[rows.index]  # one venue: already in row order
    return out[[*ALIGNMENT_COLUMNS, "day0_index"]].reset_index(drop=True)


def _align_on_venue(part: pd.DataFrame, venue: Venue) -> pd.DataFrame:
    sessions = venue.sessions
    timed = part["instant"].notna().to_numpy() & (venue.closes is not None)
    idx = np.searchsorted(sessions.values, part["date"].values, side="left")
    if timed.any():
        closes = venue.closes.tz_convert(None).to_numpy().astype("datetime64[ns]")
        instants = part["instant"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
        idx[timed] = np.searchsorted(closes, instants[timed], side="right")
    idx = np.where(idx >= len(sessions), -1, idx)
    out = part.copy()
    out["day0_index"] = idx
    out["day0"] = pd.DatetimeIndex(np.where(idx >= 0, sessions.values[np.maximum(idx, 0)], np.datetime64("NaT")))
    local_tz = venue.tz or "UTC"
    out["announced_at_utc"] = ""
    out["announced_at_local"] = _format_dates(part["date"], "%Y-%m-%d (date only)")
    has_instant = part["instant"].notna().to_numpy()
    if has_instant.any():
        instant = part["instant"][has_instant]
        out.loc[has_instant, "announced_at_utc"] = instant.dt.strftime("%Y-%m-%d %H:%M UTC")
        out.loc[has_instant, "announced_at_local"] = instant.dt.tz_convert(local_tz).dt.strftime("%Y-%m-%d %H:%M ") + (
            local_tz
        )
    texts = [_reason(SimpleNamespace(day0_index=-1), venue, False)]  # no session
    code = np.zeros(len(out), dtype=np.int64)  # each row's reason: a position in ``texts``
    for rows, reasons in ((~timed & (idx >= 0), _date_only_reasons), (timed & (idx >= 0), _timed_reasons)):
        if rows.any():
            distinct, key = reasons(out[rows], venue)
            code[rows] = len(texts) + key
            texts += distinct
    out["reason"] = _gathered_text(texts, code)
    return out


def _gathered_text(texts: list[str], code: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The text column ``texts[code]`` taken by Arrow from the distinct texts (an object array of the rows' strings
    would be converted to Arrow string by string: 0.3 s and more per million rows)."""
    return pd.array(texts, dtype="str").take(code)


def _format_dates(dates: pd.Series, fmt: str) -> pd.api.extensions.ExtensionArray:
    """``dates`` formatted with ``fmt``, each distinct date formatted once."""
    codes, uniques = pd.factorize(dates)
    return _gathered_text(list(pd.DatetimeIndex(uniques).strftime(fmt)), codes)


def _date_only_reasons(rows: pd.DataFrame, venue: Venue) -> tuple[list[str], np.ndarray]:
    """:func:`_reason` of date-only rows with a day 0, built per distinct (date, day 0, time): the distinct texts
    and each row's position in them."""
    first, key = _first_rows(rows, ("date", "day0", "time"))
    texts = [
        _reason(SimpleNamespace(day0_index=0, date=d, day0=d0, time=t), venue, False)
        for d, d0, t in zip(*(rows[c].iloc[first] for c in ("date", "day0", "time")), strict=True)
    ]
    return texts, key


def _timed_reasons(rows: pd.DataFrame, venue: Venue) -> tuple[list[str], np.ndarray]:
    """:func:`_reason` of rows with a time and a day 0, built per distinct announcement: the distinct texts and
    each row's position in them."""
    columns = ("instant", "time", "timezone", "day0_index", "day0")
    first, key = _first_rows(rows, columns)
    texts = [_reason(row, venue, True) for row in rows[list(columns)].iloc[first].itertuples(index=False)]
    return texts, key


def _first_rows(rows: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct combination of ``columns`` (in order of first appearance) and each row's
    combination (an index into them): one integer per combination, hashing integers, not tuples."""
    key = np.zeros(len(rows), dtype=np.int64)
    for col in columns:
        part, values = pd.factorize(rows[col])
        key = key * (len(values) + 1) + part + 1
        if len(columns) > 3:  # keep the key small
            key = pd.factorize(key)[0] + 1
    codes, keys = pd.factorize(key)
    first = np.empty(len(keys), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return first, codes


def _reason(row, venue: Venue, timed: bool) -> str:
    if row.day0_index < 0:
        return f"no {venue.name} session on or after the announcement in the calendar's range"
    day0 = row.day0.date()
    if not timed:
        why = "date only, taken as before the open" if row.time == "" else f"{venue.name} has no session hours"
        if row.date == row.day0:
            return f"{why} -> day 0 is that session"
        return f"{why}; {row.date.date()} is not a {venue.name} session -> next session {day0}"
    i = row.day0_index
    tz = venue.tz
    local = row.instant.tz_convert(tz)
    opens, closes = venue.opens[i].tz_convert(tz), venue.closes[i].tz_convert(tz)
    said = f"{row.time} {row.timezone} = {local:%Y-%m-%d %H:%M} {tz}"
    if local.normalize().tz_localize(None) == row.day0:
        if local < opens:
            return f"{said}, before the {opens:%H:%M} open -> day 0 is that session"
        return f"{said}, during the session (close {closes:%H:%M}) -> day 0 is that session"
    return f"{said}, outside {venue.name} hours; the next session opens {opens:%Y-%m-%d %H:%M} -> day 0 {day0}"
