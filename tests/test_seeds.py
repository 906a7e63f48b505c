"""The event catalog in seeds/: schema, sources, article mapping, and day 0 on each venue's own calendar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd
import pytest

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
ARTICLES = sorted(p.name for p in SEEDS.glob("*.txt"))
KINDS = {"tightening", "easing", "confounder"}


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(SEEDS / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    return _csv("events.csv")


def test_the_five_articles_are_copied_unchanged():
    assert len(ARTICLES) == 5
    shared = SEEDS.parents[1] / "shared" / "seeds"
    for name in ARTICLES:
        assert (SEEDS / name).read_bytes() == (shared / name).read_bytes()


def test_catalog_schema_and_values(catalog):
    assert list(catalog.columns) == [
        "event_id", "date", "time", "timezone", "time_note", "kind", "label", "instrument", "summary", "source_url",
    ]  # fmt: skip
    assert catalog["event_id"].is_unique
    assert set(catalog["kind"]) <= KINDS
    assert pd.to_datetime(catalog["date"], format="%Y-%m-%d").notna().all()
    timed = catalog[catalog["time"] != ""]
    assert pd.to_datetime(timed["time"], format="%H:%M").notna().all()
    for zone in catalog["timezone"]:
        ZoneInfo(zone)
    for col in ("label", "instrument", "summary", "source_url", "time_note"):
        assert (catalog[col].str.strip() != "").all(), col
    for urls in catalog["source_url"]:
        assert all(u.strip().startswith("http") for u in urls.split(" ; "))


def test_catalog_keeps_every_shared_row_and_its_sources(catalog):
    shared = pd.read_csv(SEEDS.parents[1] / "shared" / "data" / "events" / "export_controls.csv", dtype=str)
    assert list(catalog["event_id"]) == list(shared["event_id"])
    merged = catalog.merge(shared, on="event_id", suffixes=("", "_shared"))
    assert (merged["date"] == merged["date_shared"]).all()
    assert (merged["kind"] == merged["kind_shared"]).all()
    assert (merged["source_url"] == merged["source_url_shared"]).all()


def test_us_side_rows_use_new_york_time(catalog):
    zones = dict(zip(catalog["event_id"], catalog["timezone"], strict=True))
    assert zones.pop("C01") == zones.pop("E10a") == "America/New_York"
    assert set(zones.values()) == {"Asia/Shanghai"}


# "first US session / first A-share session" from ../shared/data/events/export_controls.md
EXPECTED_DAY0 = {
    "E01": ("2023-07-03", "2023-07-04"),
    "E02": ("2023-10-20", "2023-10-23"),
    "E03": ("2023-12-21", "2023-12-22"),
    "E04": ("2024-08-15", "2024-08-16"),
    "E05": ("2024-12-03", "2024-12-04"),
    "E06": ("2025-02-04", "2025-02-05"),
    "E07": ("2025-04-04", "2025-04-07"),
    "E07b": ("2025-05-09", "2025-05-12"),
    "E08a": ("2025-06-09", "2025-06-09"),
    "E08b": ("2025-06-11", "2025-06-11"),
    "E08c": ("2025-06-12", "2025-06-13"),
    "E09": ("2025-10-09", "2025-10-09"),
    "C01": ("2025-10-10", None),
    "E10a": ("2025-10-27", None),
    "E10": ("2025-10-30", "2025-10-30"),
    "E11": ("2025-11-07", "2025-11-10"),
    "E12": ("2025-11-10", "2025-11-10"),
    "E13": ("2025-12-04", "2025-12-04"),
}


def _day0(row: pd.Series, calendar: xcals.ExchangeCalendar) -> str:
    """The engine's convention, computed independently: the first session whose close comes after the
    release instant; a date without a time means before the open of the first session on or after it."""
    date = pd.Timestamp(row["date"])
    if not row["time"]:
        return calendar.date_to_session(date, direction="next").strftime("%Y-%m-%d")
    local = dt.datetime.combine(date.date(), dt.time.fromisoformat(row["time"]), ZoneInfo(row["timezone"]))
    instant = pd.Timestamp(local).tz_convert("UTC")
    sessions = calendar.sessions_in_range(date - pd.Timedelta(days=3), date + pd.Timedelta(days=10))
    closes = calendar.closes[sessions]
    return closes[closes > instant].index[0].strftime("%Y-%m-%d")


@pytest.mark.parametrize("event_id", list(EXPECTED_DAY0))
def test_day0_matches_the_catalog_table(catalog, event_id):
    row = catalog.set_index("event_id").loc[event_id]
    us, cn = EXPECTED_DAY0[event_id]
    assert _day0(row, xcals.get_calendar("XNYS")) == us
    if cn is not None:
        assert _day0(row, xcals.get_calendar("XSHG")) == cn


def test_every_catalog_row_has_an_expected_day0(catalog):
    assert set(catalog["event_id"]) == set(EXPECTED_DAY0)


def test_confounders_schema_and_required_shocks():
    conf = _csv("confounders.csv")
    assert list(conf.columns) == ["confounder_id", "date", "ticker", "label", "source"]
    assert conf["confounder_id"].is_unique
    assert pd.to_datetime(conf["date"], format="%Y-%m-%d").notna().all()
    assert (conf["label"].str.strip() != "").all() and (conf["source"].str.strip() != "").all()
    pairs = set(zip(conf["date"], conf["ticker"], strict=True))
    required = {
        *((f"2025-04-0{d}", "*") for d in (2, 3, 4, 7, 8, 9)),
        ("2025-10-10", "*"),
        ("2025-10-13", "*"),
        ("2025-07-10", "MP"),
        ("2025-07-10", "600111.SS"),
        ("2025-07-11", "600111.SS"),
        ("2025-07-10", "000831.SZ"),
        ("2025-07-11", "000831.SZ"),
        ("2025-09-24", "LAC"),
        ("2025-10-07", "TMQ"),
        ("2023-07-03", "TMC"),
        ("2023-07-05", "TMC"),
        ("2025-12-04", "USAR"),
        ("2025-12-04", "CRML"),
    }
    assert required <= pairs


def test_every_large_one_day_move_of_a_seed_ticker_is_a_confounder(prices_dir):
    """|return| > 40% on one day (and USAR/CRML > 20% in the E13 week) must be declared, not hidden."""
    conf = _csv("confounders.csv")
    declared = set(zip(conf["date"], conf["ticker"], strict=True))
    for ticker in ("MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"):
        prices = pd.read_csv(prices_dir / f"{ticker}.csv", usecols=["date", "adj_close"]).dropna()
        returns = prices.set_index("date")["adj_close"].pct_change()
        big = set(returns[returns.abs() > 0.4].index)
        if ticker in ("USAR", "CRML"):
            week = returns.loc["2025-12-01":"2025-12-05"]
            big |= set(week[week.abs() > 0.2].index)
        assert {(d, ticker) for d in big} <= declared, ticker


def test_listings():
    listings = _csv("listings.csv")
    assert list(listings.columns) == ["ticker", "first_valid_date", "reason"]
    assert dict(zip(listings["ticker"], listings["first_valid_date"], strict=True)) == {
        "USAR": "2025-03-14",
        "CRML": "2024-02-28",
        "LAC": "2023-10-02",
    }
    assert (listings["reason"].str.strip() != "").all()


def test_articles_map_every_seed_to_a_catalog_event(catalog):
    articles = _csv("articles.csv")
    assert list(articles.columns) == [
        "article", "title", "event_id", "mapping_confidence", "company", "ticker", "exchange", "ticker_note",
    ]  # fmt: skip
    assert sorted(set(articles["article"])) == ARTICLES
    assert set(articles["event_id"]) <= set(catalog["event_id"])
    assert set(articles["mapping_confidence"]) <= {"high", "medium", "low"}
    assert not articles.duplicated(["article", "company"]).any()
    by_article = articles.groupby("article")["ticker"].apply(set).to_dict()
    assert by_article["000_731229d5f8524b38.txt"] == {"MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"}
    assert by_article["002_9d64106f5cc828b2.txt"] == {"600111.SS", "000831.SZ", "600259.SS"}
    assert by_article["004_d02d29da8d1bbeb2.txt"] == {"MP", "USAR"}
