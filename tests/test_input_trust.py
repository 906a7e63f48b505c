"""Issue 11: inputs that used to give silently wrong numbers or unclear messages, each through the CLI."""

from __future__ import annotations

import shlex
import shutil
import sqlite3
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main

E09 = "event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n"


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def run(events: Path, prices: list[Path], out: Path, *extra: str, tickers: str = "MP"):
    flags = [x for p in prices for x in ("--prices", str(p))]
    return cli(
        "run",
        "--events",
        events,
        "--tickers",
        tickers,
        "--market",
        "SPY",
        "--window",
        "0",
        "1",
        *flags,
        "--out",
        out,
        *extra,
    )


def error_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def e09(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(E09)
    return path


@pytest.fixture(scope="module")
def wide(prices_dir: Path) -> pd.DataFrame:
    """date, MP, SPY, UUUU adjusted closes from the real data."""
    frames = [
        pd.read_csv(prices_dir / f"{t}.csv", usecols=["date", "adj_close"]).set_index("date")["adj_close"].rename(t)
        for t in ("MP", "SPY", "UUUU")
    ]
    return pd.concat(frames, axis=1, sort=True).dropna().reset_index()


def _car(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "car.csv", dtype={"event_id": str}).set_index(["ticker", "window"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prices_dir) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "events.csv").write_text(E09)
    result = run(tmp / "events.csv", [prices_dir], tmp / "out", tickers="MP,UUUU")
    assert result.exit_code == 0, result.output
    return _car(tmp / "out")


# ------------------------------------------------------------------------------------------ tickers as written
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_wide_file_keeps_ticker_case(e09, tmp_path, wide, reference, suffix):
    path = tmp_path / f"wide.{suffix}"
    wide.to_csv(path, index=False) if suffix == "csv" else wide.to_parquet(path, index=False)
    result = run(e09, [path], tmp_path / "out", tickers="MP,UUUU")
    assert result.exit_code == 0, result.output
    car = _car(tmp_path / "out")
    assert car.loc[("MP", "0..1"), "car"] == pytest.approx(reference.loc[("MP", "0..1"), "car"], rel=1e-9)


def test_wide_file_next_to_a_folder_is_used(e09, tmp_path, wide, prices_dir, reference):
    folder = tmp_path / "spy"
    folder.mkdir()
    shutil.copy(prices_dir / "SPY.csv", folder)
    wide[["date", "MP"]].to_csv(tmp_path / "mp.csv", index=False)
    result = run(e09, [folder, tmp_path / "mp.csv"], tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert _car(tmp_path / "out").loc[("MP", "0..1"), "car"] == pytest.approx(reference.loc[("MP", "0..1"), "car"])


def test_prices_import_stores_tickers_as_written_and_refuses_a_second_spelling(tmp_path, wide, prices_dir):
    store = tmp_path / "p.duckdb"
    wide.to_csv(tmp_path / "wide.csv", index=False)
    assert cli("prices", "--store", store, "import", tmp_path / "wide.csv").exit_code == 0
    from eventstudy.prices.store import PriceStore

    assert PriceStore(store).tickers() == ["MP", "SPY", "UUUU"]
    lower = wide[["date", "MP"]].rename(columns={"MP": "mp"})
    lower.to_csv(tmp_path / "lower.csv", index=False)
    error_line(cli("prices", "--store", store, "import", tmp_path / "lower.csv"), "MP also written mp")


def test_one_ticker_in_two_spellings_is_an_error(e09, tmp_path, wide, prices_dir):
    wide[["date", "MP"]].rename(columns={"MP": "mp"}).to_csv(tmp_path / "mp.csv", index=False)
    error_line(run(e09, [prices_dir, tmp_path / "mp.csv"], tmp_path / "out"), "MP also written mp")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ clock times in date
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("event_id,date,timezone", "E09,2025-10-09 21:00,America/New_York"),
        ("event_id,date", "E09,2025-10-09T21:00:00-04:00"),
    ],
)
def test_date_with_a_time_after_the_close_rolls_day0(tmp_path, prices_dir, header, value):
    events = tmp_path / "events.csv"
    events.write_text(f"{header}\n{value}\n")
    result = run(events, [prices_dir], tmp_path / "out")
    assert result.exit_code == 0, result.output
    alignment = pd.read_csv(tmp_path / "out" / "alignment.csv")
    assert alignment["day0"].tolist() == ["2025-10-10"]


def test_date_with_a_time_but_no_zone_is_refused(tmp_path, prices_dir):
    events = tmp_path / "events.csv"
    events.write_text("event_id,date\nE09,2025-10-09 21:00\n")
    error_line(run(events, [prices_dir], tmp_path / "out"), "row 2", "no time zone")


# ------------------------------------------------------------------------------------------ implausible prices
def _mp_with(tmp_path: Path, prices_dir: Path, date: str, value: str) -> Path:
    folder = tmp_path / "prices"
    folder.mkdir(exist_ok=True)
    shutil.copy(prices_dir / "SPY.csv", folder)
    mp = pd.read_csv(prices_dir / "MP.csv", dtype=str)
    mp.loc[mp["date"] == date, "adj_close"] = value
    mp.to_csv(folder / "MP.csv", index=False)
    return folder


@pytest.mark.parametrize(("value", "needle"), [("inf", "not a finite number"), ("1e308", "above 1e+12")])
def test_infinite_and_absurd_prices_are_refused_in_files_and_store(e09, tmp_path, prices_dir, value, needle):
    folder = _mp_with(tmp_path, prices_dir, "2025-10-10", value)
    error_line(run(e09, [folder], tmp_path / "out"), "MP.csv", "2025-10-10", needle)
    frame = pd.DataFrame({"date": ["2025-10-09", "2025-10-10"], "ticker": "MP", "adj_close": [72.29, float(value)]})
    frame.to_parquet(tmp_path / "long.parquet", index=False)
    error_line(cli("prices", "--store", tmp_path / "s.duckdb", "import", tmp_path / "long.parquet"), needle.split()[0])


def test_implausible_one_day_move_is_a_data_error_with_a_settable_factor(e09, tmp_path, prices_dir):
    folder = _mp_with(tmp_path, prices_dir, "2025-10-10", "7834")  # 78.34 written without its decimal point
    error_line(run(e09, [folder], tmp_path / "out"), "MP", "2025-10-10", "--max-move")
    result = run(e09, [folder], tmp_path / "out", "--max-move", "1000")
    assert result.exit_code == 0, result.output


def test_constant_prices_make_the_pair_insufficient_without_a_warning(e09, tmp_path, prices_dir):
    folder = tmp_path / "prices"
    folder.mkdir()
    shutil.copy(prices_dir / "SPY.csv", folder)
    spy = pd.read_csv(prices_dir / "SPY.csv", usecols=["date"])
    spy.assign(adj_close=10.0).to_csv(folder / "FLAT.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run(e09, [folder], tmp_path / "out", tickers="FLAT")
    assert result.exit_code == 0, result.output
    row = pd.read_csv(tmp_path / "out" / "parameters.csv").iloc[0]
    assert row["status"] == "insufficient" and "never moves" in row["reason"] and pd.isna(row["sigma"])
    assert "FLAT: insufficient: its price never moves" in result.output


# ------------------------------------------------------------------------------------------ duplicate keys
def test_listings_with_two_dates_for_one_ticker_name_both_rows(e09, tmp_path, prices_dir):
    listings = tmp_path / "listings.csv"
    listings.write_text("ticker,first_valid_date\nUSAR,2025-03-14\nMP,2020-01-01\nUSAR,2025-03-17\n")
    error_line(run(e09, [prices_dir], tmp_path / "out", "--listings", listings), "rows 2 and 4", "USAR")


def test_events_and_confounders_duplicates_name_both_rows(tmp_path, prices_dir, e09):
    events = tmp_path / "dup.csv"
    events.write_text("event_id,ticker,date\nA,MP,2025-10-09\nB,MP,2025-04-04\nA,MP,2025-10-09\n")
    error_line(run(events, [prices_dir], tmp_path / "out"), "rows 2 and 4", "event_id A, ticker MP")
    confounders = tmp_path / "conf.csv"
    confounders.write_text("date,ticker,label\n2025-10-10,*,tariff\n2025-04-02,*,liberation\n2025-10-10,*,again\n")
    error_line(run(e09, [prices_dir], tmp_path / "out", "--confounders", confounders), "rows 2 and 4")


def test_a_ticker_given_twice_is_named_not_the_catalog(tmp_path, prices_dir, repo_root):
    result = cli(
        "run",
        "--catalog",
        repo_root / "seeds" / "events.csv",
        "--event",
        "E09",
        "--tickers",
        "MP,MP",
        "--market",
        "SPY",
        "--prices",
        prices_dir,
        "--out",
        tmp_path / "out",
    )
    line = error_line(result, "--tickers", "MP twice")
    assert "events.csv" not in line


# ------------------------------------------------------------------------------------------ unclear messages
def test_semicolon_and_ragged_files_are_named_for_what_they_are(e09, tmp_path, prices_dir):
    (tmp_path / "semi.csv").write_text("date;MP;SPY\n2025-10-09;72,29;671,16\n")
    error_line(run(e09, [tmp_path / "semi.csv"], tmp_path / "out"), "semicolons")
    (tmp_path / "semi_events.csv").write_text("event_id;date\nE09;2025-10-09\n")
    error_line(run(tmp_path / "semi_events.csv", [prices_dir], tmp_path / "out"), "semicolons")
    (tmp_path / "ragged.csv").write_text("date,MP\n2025-10-08,70.6\n2025-10-09,72,29\n")
    error_line(run(e09, [tmp_path / "ragged.csv"], tmp_path / "out"), "line 3 has 3 fields", "header has 2")


def test_a_sqlite_file_as_the_store_is_refused_before_duckdb_opens_it(tmp_path, monkeypatch):
    path = tmp_path / "prices.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE prices (date TEXT, ticker TEXT, close REAL)")

    def no_duckdb(*args, **kwargs):
        raise AssertionError("duckdb.connect must not be reached (it would download the sqlite extension)")

    monkeypatch.setattr("duckdb.connect", no_duckdb)
    error_line(cli("prices", "--store", path, "list"), "SQLite database", str(path))


def test_top_level_help_example_runs(tmp_path, repo_root, monkeypatch):
    text = cli("--help").output
    lines = text[text.index("eventstudy run") :].splitlines()
    command = []
    for line in lines:
        command.append(line.strip().rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    args = shlex.split(" ".join(command))[1:]
    args[args.index("--out") + 1] = str(tmp_path / "e09")
    monkeypatch.chdir(repo_root)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert cli("report", tmp_path / "e09", "--format", "md").exit_code == 0


def test_store_ensure_reaches_yahoo_fetch_by_default(tmp_path, monkeypatch, prices_dir):
    from eventstudy.prices.files import read_prices
    from eventstudy.prices.store import PriceStore

    calls = []
    data = read_prices(prices_dir / "MP.csv")

    def fake_fetch(tickers, start, end, on_empty="raise"):
        calls.append((list(tickers), on_empty))
        return data[data["date"].between(start, end)]

    monkeypatch.setattr("eventstudy.prices.yahoo.fetch", fake_fetch)
    store = PriceStore(tmp_path / "s.duckdb")
    store.ensure(["MP"], pd.Timestamp("2025-01-02"), pd.Timestamp("2025-03-31"))
    assert calls and calls[0][0] == ["MP"] and calls[0][1] == "skip"
    assert len(store.load(["MP"])) > 50
