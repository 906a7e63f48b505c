"""`eventstudy run` end to end on the real shared prices, and every bad input of issue 3 and 4."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main

SEED_TICKERS = "MP,USAR,CRML,UUUU"
LISTED = ["--listed", "USAR=2025-03-14", "--listed", "CRML=2024-02-28"]
STUDY = ["--tickers", SEED_TICKERS, "--market", "SPY", *LISTED, "--window", "0", "1", "--window", "-1", "1"]


def _run(args: list[str]):
    return CliRunner().invoke(main, ["run", *args], catch_exceptions=False)


@pytest.fixture
def e09(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("event_id,date,time,timezone,label\nE09,2025-10-09,09:00,Asia/Shanghai,MOFCOM Nos. 61/62\n")
    return path


@pytest.fixture(scope="module")
def e09_run(tmp_path_factory, prices_dir) -> Path:
    tmp = tmp_path_factory.mktemp("e09")
    events = tmp / "events.csv"
    events.write_text("event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n")
    out = tmp / "out"
    result = _run(
        [
            "--events",
            str(events),
            *STUDY,
            "--prices",
            str(prices_dir),
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_the_five_files_with_the_public_columns(e09_run: Path):
    columns = {
        "ar": ["event_id", "ticker", "day", "date", "return", "normal_return", "ar", "sar"],
        "car": ["event_id", "ticker", "window", "car", "car_se", "car_t", "car_p", "bhar"],
        "parameters": [
            "event_id",
            "ticker",
            "model",
            "status",
            "reason",
            "n_obs",
            "alpha",
            "beta",
            "sigma",
            "r2",
            "estimation_start",
            "estimation_end",
            "day0_date",
        ],
        "aar": ["group", "window", "day", "n", "aar", "caar"],
        "tests": ["measure", "group", "window", "test", "family", "statistic", "p_value", "n", "rbar"],
        "alignment": ["event_id", "ticker", "venue", "announced_at_utc", "announced_at_local", "day0", "reason"],
    }
    for name, cols in columns.items():
        frame = pd.read_csv(e09_run / f"{name}.csv")
        assert list(frame.columns[: len(cols)]) == cols, name
    tests = pd.read_csv(e09_run / "tests.csv")
    assert set(tests.loc[tests["measure"] == "volatility", "test"]) == {"variance_ratio", "csect_variance"}
    tests = tests[tests["measure"] == "return"]
    assert set(tests["test"]) == {
        "csect_t",
        "time_series_t",
        "patell_z",
        "bmp_t",
        "kp_bmp_t",
        "corrado_rank",
        "grank",
        "sign",
        "generalized_sign",
        "wilcoxon",
        "calendar_time_z",
        "calendar_time_nw",
        "binder_wald",
        "binder_caar_z",
        "bhar_skew_t",
        "wild_bootstrap",
        "placebo_caar",
    }
    assert {"p_holm", "p_bh", "p_placebo"} <= set(tests.columns)
    family = tests.drop_duplicates("test").set_index("test")["family"]
    assert family["kp_bmp_t"] == "robust" and family["generalized_sign"] == "naive" and family["csect_t"] == "naive"
    assert set(family) == {"naive", "robust"}
    assert set(tests["group"]) == {"all", "E09"}
    assert json.loads((e09_run / "run.json").read_text())["model"] == "market"


def test_e09_numbers_match_the_published_moves(e09_run: Path):
    ar = pd.read_csv(e09_run / "ar.csv").set_index(["ticker", "day"])
    assert ar.loc[("MP", 0), "date"] == "2025-10-09"
    assert ar.loc[("MP", 0), "return"] == pytest.approx(72.290001 / 70.589996 - 1)  # MP $72.29, +2.4%
    assert ar.loc[("USAR", 0), "return"] == pytest.approx(0.150, abs=0.001)  # USAR +15.0%
    params = pd.read_csv(e09_run / "parameters.csv").set_index("ticker")
    assert (params["status"] == "ok").all()
    assert params.loc["USAR", "estimation_start"] == "2025-03-17"  # first return after the de-SPAC listing
    assert params.loc["MP", "n_obs"] == 240
    car = pd.read_csv(e09_run / "car.csv").set_index(["ticker", "window"])
    day0, day1 = ar.loc[("CRML", 0), "ar"], ar.loc[("CRML", 1), "ar"]
    assert car.loc[("CRML", "0..1"), "car"] == pytest.approx(day0 + day1)


def test_run_is_deterministic_and_replaces_its_own_files(e09, prices_dir, tmp_path):
    out = tmp_path / "out"
    args = [
        "--events",
        str(e09),
        "--tickers",
        SEED_TICKERS,
        "--market",
        "SPY",
        "--prices",
        str(prices_dir),
        *LISTED,
        "--out",
        str(out),
    ]
    assert _run(args).exit_code == 0
    first = (out / "car.csv").read_bytes()
    (out / "notes.csv").write_text("mine")
    assert _run(args).exit_code == 0
    assert (out / "car.csv").read_bytes() == first
    assert (out / "notes.csv").read_text() == "mine"  # a rerun replaces its own files, never the user's (issue 11)


@pytest.fixture
def bad(tmp_path, prices_dir):
    """Run with one thing broken; check exit 2, one line naming the fault, and no output folder."""

    def check(args: list[str], expect: str, events_text: str | None = None, prices: Path | None = None):
        events = tmp_path / "events.csv"
        events.write_text(events_text or "event_id,ticker,date\nE09,MP,2025-10-09\nE09,UUUU,2025-10-09\n")
        out = tmp_path / "out"
        result = _run(
            [
                "--events",
                str(events),
                "--prices",
                str(prices or prices_dir),
                "--market",
                "SPY",
                "--out",
                str(out),
                *args,
            ]
        )
        assert result.exit_code == 2, result.output
        message = result.output.strip().splitlines()
        assert len(message) == 1 and message[0].startswith("error: "), result.output
        assert expect in message[0], message[0]
        assert "Traceback" not in result.output
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]

    return check


def test_unknown_event_ticker(bad):
    bad([], "NOPE", events_text="event_id,ticker,date\nE09,NOPE,2025-10-09\n")


def test_missing_market(bad):
    bad(["--market", "XNYS=NOTAMARKET"], "NOTAMARKET")


def test_event_outside_history(bad):
    bad([], "outside the price history", events_text="event_id,ticker,date\nE99,MP,2030-01-02\n")


def test_estimation_longer_than_history(bad, tmp_path, prices_dir):
    short = tmp_path / "short"
    short.mkdir()
    for t in ("MP", "SPY"):
        frame = pd.read_csv(prices_dir / f"{t}.csv")
        frame[frame["date"] >= "2025-06-01"].to_csv(short / f"{t}.csv", index=False)
    bad([], "estimation window", events_text="event_id,ticker,date\nE09,MP,2025-10-09\n", prices=short)


def test_duplicate_event_rows(bad):
    bad([], "E09", events_text="event_id,ticker,date\nE09,MP,2025-10-09\nE09,MP,2025-10-09\n")


def test_duplicate_price_rows(bad, tmp_path, prices_dir):
    folder = tmp_path / "dup"
    folder.mkdir()
    for t in ("MP", "UUUU", "SPY"):
        shutil.copy(prices_dir / f"{t}.csv", folder / f"{t}.csv")
    with open(folder / "MP.csv", "a") as fh:
        fh.write("2025-10-09,,,,,72.29,\n")
    bad([], "MP", prices=folder)


def test_unparseable_event_date(bad):
    bad([], "unparseable date '2025-13-45'", events_text="event_id,ticker,date\nE09,MP,2025-13-45\n")


@pytest.mark.parametrize("value", ["abc", "0", "-3.5"])
def test_bad_price_values(bad, tmp_path, prices_dir, value):
    folder = tmp_path / "badpx"
    folder.mkdir()
    for t in ("UUUU", "SPY"):
        shutil.copy(prices_dir / f"{t}.csv", folder / f"{t}.csv")
    text = (
        (prices_dir / "MP.csv")
        .read_text()
        .replace(
            "2025-10-09,73.650002,78.320000,71.519997,72.290001,72.290001",
            f"2025-10-09,73.650002,78.320000,71.519997,72.290001,{value}",
        )
    )
    (folder / "MP.csv").write_text(text)
    bad([], "2025-10-09", prices=folder)


def test_empty_and_malformed_files(bad, tmp_path):
    bad([], "no rows", events_text="event_id,ticker,date\n")
    bad([], "no 'date' column", events_text="event_id,ticker,day\nE09,MP,2025-10-09\n")
    bad([], "not a readable CSV", events_text='event_id,ticker,date\nE09,"MP,2025-10-09\n')
    empty = tmp_path / "empty_prices"
    empty.mkdir()
    (empty / "MP.csv").write_text("")
    bad([], "MP.csv", prices=empty)


def test_window_start_after_end(bad):
    bad(["--window", "3", "1"], "starts after it ends")


def test_estimation_overlapping_event_window(bad):
    bad(["--estimation", "-100", "0", "--window", "-1", "1"], "overlaps the estimation window")


def test_time_without_zone_and_unknown_zone(bad):
    bad([], "has no time zone", events_text="event_id,ticker,date,time\nE09,MP,2025-10-09,09:00\n")
    bad(
        [],
        "unknown time zone 'Mars/Olympus'",
        events_text="event_id,ticker,date,time,timezone\nE09,MP,2025-10-09,09:00,Mars/Olympus\n",
    )


def test_event_before_listing(bad):
    bad(
        ["--listed", "MP=2025-11-01"], "listed from 2025-11-01", events_text="event_id,ticker,date\nE09,MP,2025-10-09\n"
    )


def test_ticker_without_known_venue(bad):
    bad([], "--venue", events_text="event_id,ticker,date\nE09,ABC.ZZ,2025-10-09\n")


def test_catalog_without_date_and_duplicate_ids(tmp_path, prices_dir):
    for text, expect in [
        ("event_id,date,kind\nE1,2025-10-09,tightening\nE2,,tightening\n", "missing date"),
        ("event_id,date,kind\nE1,2025-10-09,tightening\nE1,2025-10-10,tightening\n", "rows 2 and 3 repeat event_id E1"),
    ]:
        catalog = tmp_path / "catalog.csv"
        catalog.write_text(text)
        result = _run(
            [
                "--catalog",
                str(catalog),
                "--tickers",
                "MP",
                "--market",
                "SPY",
                "--prices",
                str(prices_dir),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        assert result.exit_code == 2 and expect in result.output, result.output
        assert not (tmp_path / "o").exists()


def test_run_from_the_store_reproduces_the_file_run(e09_run, prices_dir, tmp_path):
    """Issue 5: `prices import` then `run` without --prices gives the same files, to the last digit."""
    store = tmp_path / "prices.duckdb"
    imported = CliRunner().invoke(main, ["prices", "--store", str(store), "import", str(prices_dir)])
    assert imported.exit_code == 0, imported.output
    events = e09_run.parent / "events.csv"
    out = tmp_path / "from_store"
    result = _run(
        [
            "--events",
            str(events),
            *STUDY,
            "--store",
            str(store),
            "--offline",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    for name in ("ar", "car", "parameters", "aar", "alignment"):
        assert (out / f"{name}.csv").read_bytes() == (e09_run / f"{name}.csv").read_bytes(), name
    # the store loads only the history around the event, and placebo dates are drawn from the history loaded
    tests = [pd.read_csv(d / "tests.csv") for d in (out, e09_run)]
    tests = [t[t["test"] != "placebo_caar"].drop(columns="p_placebo") for t in tests]
    pd.testing.assert_frame_equal(*tests, check_exact=True)


def test_offline_run_names_what_the_store_lacks(tmp_path, e09):
    store = tmp_path / "empty.duckdb"
    result = _run(
        [
            "--events",
            str(e09),
            "--tickers",
            "MP",
            "--market",
            "SPY",
            "--store",
            str(store),
            "--offline",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert result.exit_code == 2
    assert "MP" in result.output and "eventstudy prices import" in result.output
    assert not (tmp_path / "o").exists()


def test_every_run_option_is_declared_once():
    from eventstudy.cli.run import run

    flags = [flag for param in run.params for flag in getattr(param, "opts", [])]
    assert len(flags) == len(set(flags)), sorted({f for f in flags if flags.count(f) > 1})
