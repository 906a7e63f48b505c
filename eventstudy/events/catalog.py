"""Events: dated, time-zoned announcements and the tickers they concern, read from CSV and validated.

An :class:`EventSet` wraps one tidy frame with a row per (event, ticker) pair. Columns: ``event_id``,
``ticker``, ``date`` (datetime64, the announcement's local date), ``time`` (``HH:MM`` or empty: a date without
a time means "before the open"), ``timezone`` (IANA name; required when a time is given), and any optional
columns the file carries (``label``, ``kind``, ``instrument``, ``summary``, ``source_url``...). ``explicit`` is
True when the file itself named the ticker, False when it came from ``tickers=`` applied to every event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from eventstudy.errors import EventError, InputError
from eventstudy.io import read_csv_text

KINDS = ("tightening", "easing", "confounder")


@dataclass(frozen=True)
class EventSet:
    """Validated (event, ticker) pairs; see the module docstring for the columns of :attr:`frame`."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def tickers(self) -> list[str]:
        return self.frame["ticker"].unique().tolist()  # in order of first appearance (hashing, no per-row objects)

    @property
    def event_ids(self) -> list[str]:
        return self.frame["event_id"].unique().tolist()

    def select(self, kind: str | Iterable[str] | None = None, event_ids: Iterable[str] | None = None) -> EventSet:
        """The subset of events of the given kind(s) and/or ids."""
        keep = pd.Series(True, index=self.frame.index)
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            if "kind" not in self.frame.columns:
                raise EventError("these events have no 'kind' column, so --kind cannot select among them")
            keep &= self.frame["kind"].isin(kinds)
        if event_ids is not None:
            keep &= self.frame["event_id"].isin(list(event_ids))
        if not keep.any():
            raise EventError(f"no event matches kind={kind!r} ids={event_ids!r}")
        return EventSet(self.frame[keep].reset_index(drop=True))


def read_events(source: str | Path | pd.DataFrame, tickers: Iterable[str] | None = None) -> EventSet:
    """Read and validate an events file.

    Parameters
    ----------
    source
        CSV path (or a DataFrame) with ``event_id,ticker,date`` (one row per pair) or ``event_id,date``
        (one row per event, with ``tickers`` applied to each). Optional: ``time, timezone, label, kind, ...``.
    tickers
        Tickers applied to every event; required when the file has no ``ticker`` column. With a ticker column,
        they restrict the file to those tickers.

    Raises
    ------
    EventError
        On a missing column, an unparseable or missing date, a time without a time zone, an unknown time zone,
        an unknown kind, or duplicate rows. The message names the file and row.
    """
    name = "<frame>" if isinstance(source, pd.DataFrame) else str(source)
    frame = source.copy() if isinstance(source, pd.DataFrame) else _read_csv(Path(source))
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in ("event_id", "date"):
        if col not in frame.columns:
            raise EventError(f"{name}: no '{col}' column (columns are {', '.join(frame.columns)})")
    frame = frame.astype({c: str for c in frame.columns if c != "date"}).fillna("")
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # file lines, for messages naming rows
    frame["event_id"] = frame["event_id"].str.strip()
    if (frame["event_id"] == "").any():
        raise EventError(f"{name}: row {_row(frame, frame['event_id'] == '')}: empty event_id")
    _split_clock_times(frame, name)
    frame["date"] = _parse_dates(frame["date"], name)
    _check_times(frame, name)
    if "kind" in frame.columns:
        bad = ~frame["kind"].isin(("", *KINDS))
        if bad.any():
            raise EventError(
                f"{name}: row {_row(frame, bad)}: kind {frame['kind'][bad].iloc[0]!r} is not one of {KINDS}"
            )
    tickers = None if tickers is None else [t.strip() for t in tickers if t.strip()]
    twice = [t for t in dict.fromkeys(tickers or []) if (tickers or []).count(t) > 1]
    if twice:
        raise EventError(f"the tickers given (--tickers) name {', '.join(twice)} twice: list each ticker once")
    if "ticker" in frame.columns:
        frame["ticker"] = frame["ticker"].str.strip()
        if (frame["ticker"] == "").any():
            raise EventError(f"{name}: row {_row(frame, frame['ticker'] == '')}: empty ticker")
        frame["explicit"] = True
        if tickers:
            frame = frame[frame["ticker"].isin(tickers)]
            if frame.empty:
                raise EventError(f"{name}: no row concerns the tickers {', '.join(tickers)}")
    else:
        _refuse_duplicates(frame, ["event_id"], name, "event ids must be unique in a file without a ticker column")
        if not tickers:
            raise EventError(f"{name} has no 'ticker' column: name the tickers (--tickers T1,T2)")
        frame = frame.merge(pd.DataFrame({"ticker": tickers}), how="cross")
        frame["explicit"] = False
    _refuse_duplicates(frame, ["event_id", "ticker"], name, "one row per event and ticker")
    if "time" not in frame.columns:
        frame["time"] = ""
    if "timezone" not in frame.columns:
        frame["timezone"] = ""
    first = ["event_id", "ticker", "date", "time", "timezone"]
    return EventSet(frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True))


def read_listings(source: str | Path | Mapping[str, str]) -> dict[str, pd.Timestamp]:
    """First valid trading date per ticker, from ``{ticker: date}`` or a CSV ``ticker,first_valid_date``."""
    if isinstance(source, Mapping):
        items = source.items()
        name = "--listed"
    else:
        frame = _read_csv(Path(source))
        name = str(source)
        cols = [c.strip().lower() for c in frame.columns]
        frame.columns = cols
        date_col = next((c for c in ("first_valid_date", "listed", "date") if c in cols), None)
        if "ticker" not in cols or date_col is None:
            raise InputError(f"{name}: a listings file needs columns 'ticker,first_valid_date'")
        items = zip(frame["ticker"].astype(str).str.strip(), frame[date_col].astype(str), strict=True)
    out: dict[str, pd.Timestamp] = {}
    rows: dict[str, int] = {}
    for line, (ticker, value) in enumerate(items, start=2):
        ticker = str(ticker).strip()
        date = pd.to_datetime(str(value).strip(), format="ISO8601", errors="coerce")
        if pd.isna(date):
            raise InputError(f"{name}: ticker {ticker}: unparseable listing date {value!r} (use YYYY-MM-DD)")
        if ticker in out:
            raise InputError(
                f"{name}: ticker {ticker} appears on rows {rows[ticker]} and {line} ({out[ticker].date()}, "
                f"{pd.Timestamp(date).date()}): keep one listing date per ticker"
            )
        out[ticker], rows[ticker] = pd.Timestamp(date).normalize(), line
    return out


def read_confounders(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Dated shocks that are not the event: ``date, ticker ('*' = every ticker), label``.

    Their sessions are masked out of estimation windows, and event windows containing them are flagged.
    """
    name = "<frame>" if isinstance(source, pd.DataFrame) else str(source)
    frame = source.copy() if isinstance(source, pd.DataFrame) else _read_csv(Path(source))
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "date" not in frame.columns:
        raise InputError(f"{name}: a confounders file needs a 'date' column")
    frame = frame.astype({c: str for c in frame.columns if c != "date"})
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame["date"] = _parse_dates(frame["date"], name)
    frame["ticker"] = frame["ticker"].str.strip().replace("", "*") if "ticker" in frame.columns else "*"
    if "confounder_id" in frame.columns:
        _refuse_duplicates(frame, ["confounder_id"], name, "confounder ids must be unique", InputError)
    _refuse_duplicates(frame, ["date", "ticker"], name, "put both labels in one row", InputError)
    if "label" not in frame.columns:
        ids = frame["confounder_id"] if "confounder_id" in frame.columns else pd.Series("confounder", frame.index)
        frame["label"] = ids
    frame["label"] = frame["label"].where(frame["label"].str.strip() != "", "confounder")
    return frame[["date", "ticker", "label"]].reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    return read_csv_text(path, InputError, skip_initial_space=True)


def _row(frame: pd.DataFrame, mask: pd.Series) -> int:
    """File line of the first row where ``mask`` holds (the frame's index holds file lines; header is line 1)."""
    return int(frame.index[np.flatnonzero(np.asarray(mask))[0]])


def _refuse_duplicates(
    frame: pd.DataFrame, key: list[str], name: str, rule: str, error: type[InputError] = EventError
) -> None:
    """Raise ``error`` naming the file lines of the first two rows that share ``key``."""
    dup = frame.duplicated(key, keep=False)
    if not dup.any():
        return
    first = frame[dup].iloc[0]
    same = frame[dup & (frame[key] == first[key]).all(axis=1)]
    what = ", ".join(f"{k} {first[k].date() if k == 'date' else first[k]}" for k in key)
    raise error(f"{name}: rows {same.index[0]} and {same.index[1]} repeat {what}: {rule}")


def _parse_dates(values: pd.Series, name: str) -> pd.Series:
    text = values.astype(str).str.strip()
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if dates.isna().any():
        bad = dates.isna()
        what = "missing date" if text[bad].iloc[0] in ("", "nan") else f"unparseable date {text[bad].iloc[0]!r}"
        raise EventError(f"{name}: row {_row(values, bad)}: {what} (use YYYY-MM-DD)")
    return dates.dt.normalize().astype("datetime64[ns]")


_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


def _split_clock_times(frame: pd.DataFrame, name: str) -> None:
    """Move a clock time written in ``date`` (``2025-10-09 21:00``, ``2025-10-09T21:00:00-04:00``) into ``time``.

    A value with a UTC offset is converted to the row's ``timezone`` (UTC when none is given); a value without an
    offset needs the row's ``timezone``. A row with a time in both ``date`` and ``time`` is refused. The time is
    kept to the minute (a venue's close is on a whole minute, so day 0 does not change).
    """
    text = frame["date"].astype(str).str.strip()
    if not (text.str.len() > 10).any():  # a date alone, YYYY-MM-DD: no clock time anywhere
        return
    timed = text.str.match(r"\d{4}-\d{2}-\d{2}[ T]\d")
    if not timed.any():
        return
    for col in ("time", "timezone"):
        if col not in frame.columns:
            frame[col] = ""
    both = timed & (frame["time"].str.strip() != "")
    if both.any():
        raise EventError(
            f"{name}: row {_row(frame, both)}: date {text[both].iloc[0]!r} carries a time and the 'time' column "
            "another: give the time once"
        )
    zones = frame["timezone"].str.strip()
    aware = timed & text.str.contains(_OFFSET)
    unplaced = timed & ~aware & (zones == "")
    if unplaced.any():
        raise EventError(
            f"{name}: row {_row(frame, unplaced)}: date {text[unplaced].iloc[0]!r} has a clock time but no time "
            "zone: add a 'timezone' column (IANA name such as America/New_York) or write the UTC offset "
            "(2025-10-09T21:00-04:00)"
        )
    stamps = pd.to_datetime(text.where(timed), format="ISO8601", errors="coerce", utc=True)
    naive = pd.to_datetime(text.where(timed & ~aware), format="ISO8601", errors="coerce")
    bad = timed & (stamps.isna() | (naive.isna() & ~aware))
    if bad.any():
        raise EventError(f"{name}: row {_row(frame, bad)}: unparseable date {text[bad].iloc[0]!r} (use YYYY-MM-DD)")
    frame.loc[aware & (zones == ""), "timezone"] = "UTC"
    for zone in frame.loc[aware, "timezone"].unique():
        rows = aware & (frame["timezone"] == zone)
        try:
            naive[rows] = stamps[rows].dt.tz_convert(ZoneInfo(zone)).dt.tz_localize(None)
        except (ZoneInfoNotFoundError, ValueError):
            raise EventError(
                f"{name}: row {_row(frame, rows)}: unknown time zone {zone!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
    frame.loc[timed, "date"] = naive[timed].dt.strftime("%Y-%m-%d")
    frame.loc[timed, "time"] = naive[timed].dt.strftime("%H:%M")


def _check_times(frame: pd.DataFrame, name: str) -> None:
    times = frame["time"].str.strip() if "time" in frame.columns else pd.Series("", index=frame.index)
    zones = frame["timezone"].str.strip() if "timezone" in frame.columns else pd.Series("", index=frame.index)
    given = times != ""
    bad = given & pd.to_datetime(times.where(given), format="%H:%M", errors="coerce").isna() if given.any() else given
    if bad.any():
        raise EventError(f"{name}: row {_row(frame, bad)}: time {times[bad].iloc[0]!r} is not HH:MM (24-hour)")
    no_zone = (times != "") & (zones == "")
    if no_zone.any():
        raise EventError(
            f"{name}: row {_row(frame, no_zone)}: time {times[no_zone].iloc[0]} has no time zone: add a "
            "'timezone' column with an IANA name such as Asia/Shanghai or America/New_York"
        )
    for zone in set(zones.unique()) - {""}:  # the distinct zones only (no Python string per row)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise EventError(
                f"{name}: row {_row(frame, zones == zone)}: unknown time zone {zone!r} (use an IANA name such as "
                "Asia/Shanghai)"
            ) from None
    frame["time"] = times
    frame["timezone"] = zones
