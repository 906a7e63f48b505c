"""Day 0 on each ticker's own venue, from the shipped catalog's timestamps (issue 4's required cases)."""

from __future__ import annotations

import pandas as pd
import pytest

from eventstudy.events.catalog import read_events
from eventstudy.timing.align import align_events
from eventstudy.timing.venues import Venue, venue_of


@pytest.fixture(scope="module")
def alignment(repo_root):
    events = read_events(repo_root / "seeds" / "events.csv", tickers=["MP", "600111.SS", "000831.SZ"])
    venue_map = {t: venue_of(t) for t in events.tickers}
    venues = {v: Venue.from_calendar(v, "2021-01-04", "2026-07-13") for v in set(venue_map.values())}
    table = align_events(events.frame, venue_map, venues)
    return table.set_index(["event_id", "ticker"])


@pytest.mark.parametrize(
    ("event", "us", "shanghai"),
    [
        ("E09", "2025-10-09", "2025-10-09"),  # morning Beijing: before both opens
        ("E07", "2025-04-04", "2025-04-07"),  # evening Beijing on a Chinese holiday
        ("E11", "2025-11-07", "2025-11-10"),  # Friday evening Beijing: before the US open, after the SSE close
        ("E12", "2025-11-10", "2025-11-10"),  # Sunday, date only
        ("E10", "2025-10-30", "2025-10-30"),  # during the Shanghai session: that session's close reflects it
    ],
)
def test_required_day0(alignment, event, us, shanghai):
    assert alignment.loc[(event, "MP"), "day0"] == pd.Timestamp(us)
    assert alignment.loc[(event, "600111.SS"), "day0"] == pd.Timestamp(shanghai)
    assert alignment.loc[(event, "000831.SZ"), "day0"] == pd.Timestamp(shanghai)  # Shenzhen keeps SSE sessions
    assert alignment.loc[(event, "MP"), "venue"] == "XNYS"
    assert alignment.loc[(event, "000831.SZ"), "venue"] == "XSHE"


def test_alignment_explains_itself(alignment):
    row = alignment.loc[("E07", "600111.SS")]
    assert row["announced_at_utc"] == "2025-04-04 10:40 UTC"
    assert row["announced_at_local"] == "2025-04-04 18:40 Asia/Shanghai"
    assert "next session opens 2025-04-07" in row["reason"]
    us = alignment.loc[("E07", "MP")]
    assert us["announced_at_local"] == "2025-04-04 06:40 America/New_York"
    assert "before the 09:30 open" in us["reason"]
    assert "date only" in alignment.loc[("E12", "MP"), "reason"]


def test_release_at_the_close_rolls_to_the_next_session():
    frame = pd.DataFrame(
        {
            "event_id": ["A", "B", "C"],
            "date": ["2025-10-08"] * 3,
            "time": ["15:59", "16:00", "16:01"],
            "timezone": ["America/New_York"] * 3,
        }
    )
    events = read_events(frame, tickers=["MP"])
    venue = Venue.from_calendar("XNYS", "2025-01-01", "2025-12-31")
    table = align_events(events.frame, {"MP": "XNYS"}, {"XNYS": venue}).set_index("event_id")
    assert table.loc["A", "day0"] == pd.Timestamp("2025-10-08")
    assert table.loc["B", "day0"] == pd.Timestamp("2025-10-09")
    assert table.loc["C", "day0"] == pd.Timestamp("2025-10-09")


def test_half_day_close_and_dst():
    """2023-07-03 is an NYSE half day (close 13:00 ET); summer time shifts the UTC instant."""
    frame = pd.DataFrame(
        {
            "event_id": ["half", "late"],
            "date": ["2023-07-03"] * 2,
            "time": ["12:30", "13:30"],
            "timezone": ["America/New_York"] * 2,
        }
    )
    events = read_events(frame, tickers=["MP"])
    venue = Venue.from_calendar("XNYS", "2023-01-01", "2023-12-31")
    table = align_events(events.frame, {"MP": "XNYS"}, {"XNYS": venue}).set_index("event_id")
    assert table.loc["half", "day0"] == pd.Timestamp("2023-07-03")
    assert table.loc["late", "day0"] == pd.Timestamp("2023-07-05")  # 07-04 closed
    assert table.loc["half", "announced_at_utc"] == "2023-07-03 16:30 UTC"


def test_reasons_of_many_announcements_equal_the_per_row_reasons():
    """Reasons are built once per distinct announcement and gathered: the same text as row by row."""
    from eventstudy.timing.align import _reason, announcement_instants

    venue = Venue.from_calendar("XNYS", "2024-01-02", "2024-03-28")
    days = pd.date_range("2024-01-01", "2024-03-31", freq="D")
    times = ["", "08:00", "12:30", "16:00", "21:15"]
    frame = pd.DataFrame(
        {
            "event_id": [f"E{i}" for i in range(600)],
            "ticker": "MP",
            "date": [days[(5 * i) % len(days)] for i in range(600)],
            "time": [times[i % 5] for i in range(600)],
            "timezone": ["America/New_York" if i % 3 else "Asia/Shanghai" for i in range(600)],
        }
    )
    table = align_events(frame, {"MP": "XNYS"}, {"XNYS": venue})
    rows = frame.assign(venue="XNYS", instant=announcement_instants(frame))
    rows["day0_index"], rows["day0"] = table["day0_index"].to_numpy(), table["day0"].to_numpy()
    expected = [_reason(row, venue, row.time != "") for row in rows.itertuples()]
    assert len(set(expected)) > 50 and (table["day0_index"] < 0).any()  # timed, date-only, past the calendar
    assert list(table["reason"]) == expected
