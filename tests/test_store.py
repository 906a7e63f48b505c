"""PriceStore: idempotent imports, conflicts, crash safety, locking, damage, data checks, ensure()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from eventstudy import csv_rows
from eventstudy.errors import FetchError, PriceDataError, StoreError
from eventstudy.io import neutralize_formulas
from eventstudy.prices.files import read_prices
from eventstudy.prices.quality import check_prices, sessions
from eventstudy.prices.store import PriceStore, default_path

ROOT = Path(__file__).resolve().parents[1]


def make_frame(tickers, start="2024-01-02", end="2024-06-28", venue="XNYS", seed=0) -> pd.DataFrame:
    """Long price frame on the venue's sessions, random walk prices, close == adj_close * 1.01."""
    rng = np.random.default_rng(seed)
    days = sessions(venue, pd.Timestamp(start), pd.Timestamp(end))
    parts = []
    for t in tickers:
        adj = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
        parts.append(
            pd.DataFrame(
                {
                    "date": days,
                    "ticker": t,
                    "open": adj * 1.0,
                    "high": adj * 1.02,
                    "low": adj * 0.98,
                    "close": adj * 1.01,
                    "adj_close": adj,
                    "volume": rng.integers(1_000, 100_000, len(days)).astype("float64"),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"])
    return pd.concat(parts, ignore_index=True)


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, for byte-for-byte comparisons of the store's content."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("prices", "batches", "ranges")}
    finally:
        con.close()


@pytest.fixture
def store(tmp_path) -> PriceStore:
    return PriceStore(tmp_path / "prices.duckdb", lock_timeout=0.5)


def test_default_path_follows_eventstudy_home(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSTUDY_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / "prices.duckdb"
    assert PriceStore().path == tmp_path / "home" / "prices.duckdb"
    monkeypatch.delenv("EVENTSTUDY_HOME")
    assert default_path().name == "prices.duckdb" and "eventstudy" in str(default_path())


def test_reading_a_missing_store_creates_nothing(store):
    assert store.load(["MP"]).empty
    assert store.coverage().empty
    assert store.missing(["MP"], "2024-01-02", "2024-01-05") == {
        "MP": [(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-05"))]
    }
    assert not store.path.exists()


def test_import_twice_changes_nothing(store):
    frame = make_frame(["AAA", "BBB"])
    first = store.import_frame(frame, source="test")
    assert first.changed and first.new == len(frame) and first.batch_id == 1
    before = snapshot(store.path)
    second = store.import_frame(frame.sample(frac=1, random_state=1), source="test again")
    assert not second.changed and second.new == 0 and second.unchanged == len(frame)
    assert "nothing new" in second.summary()
    assert snapshot(store.path) == before
    assert store.batches()["batch_id"].tolist() == [1]


def test_load_returns_the_imported_frame_exactly(store):
    frame = make_frame(["BBB", "AAA"])
    frame.loc[3, ["open", "volume"]] = np.nan
    store.import_frame(frame, source="test")
    expected = frame.sort_values(["ticker", "date"], ignore_index=True)
    pd.testing.assert_frame_equal(store.load(), expected, check_exact=True)
    part = store.load(["AAA"], start="2024-02-01", end="2024-02-29")
    assert part["ticker"].unique().tolist() == ["AAA"]
    assert part["date"].min() == pd.Timestamp("2024-02-01") and part["date"].max() == pd.Timestamp("2024-02-29")


def test_conflict_is_reported_and_kept_unless_replace(store):
    frame = make_frame(["AAA"])
    store.import_frame(frame, source="v1")
    changed = frame.copy()
    day = changed["date"].iloc[10]
    old = changed.loc[10, "adj_close"]
    changed.loc[10, "adj_close"] = old * 1.5
    extra = make_frame(["AAA"], start="2024-07-01", end="2024-07-31")
    report = store.import_frame(pd.concat([changed, extra]), source="v2")
    assert report.conflicts[["ticker", "date", "column"]].values.tolist() == [["AAA", day, "adj_close"]]
    assert report.conflicts[["stored", "incoming"]].values.tolist() == [[old, old * 1.5]]
    assert report.new == len(extra) and report.replaced == 0
    assert "use --replace" in report.summary()
    stored = store.load(["AAA"])
    assert stored.loc[stored["date"] == day, "adj_close"].item() == old
    assert len(stored) == len(frame) + len(extra)

    replaced = store.import_frame(changed, source="v3", replace=True)
    assert replaced.replaced == 1 and replaced.new == 0
    stored = store.load(["AAA"])
    assert stored.loc[stored["date"] == day, "adj_close"].item() == old * 1.5
    assert store.batches()["source"].tolist() == ["v1", "v2", "v3"]


def test_missing_values_are_filled_in_without_conflict(store):
    frame = make_frame(["AAA"])
    store.import_frame(frame.assign(close=np.nan, open=np.nan), source="adjusted only")
    report = store.import_frame(frame, source="full")
    assert report.filled == len(frame) and report.conflicts.empty
    pd.testing.assert_frame_equal(store.load(), frame, check_exact=True)


def test_invalid_rows_are_refused_and_nothing_is_written(store):
    frame = make_frame(["AAA"])
    store.import_frame(frame.iloc[:5], source="start")
    before = snapshot(store.path)
    bad = frame.copy()
    bad.loc[7, "close"] = 0.0
    with pytest.raises(PriceDataError, match=r"non-positive.*AAA 2024-01-11 close=0"):
        store.import_frame(bad, source="bad")
    with pytest.raises(PriceDataError, match="share a .ticker, session.: AAA 2024-01-03"):
        store.import_frame(pd.concat([frame, frame.iloc[[1]]]), source="dup")
    assert snapshot(store.path) == before


def test_quality_checks_report_each_problem():
    frame = make_frame(["AAA"], start="2024-03-01", end="2024-04-30")
    dates = frame["date"]
    frame = frame[dates != pd.Timestamp("2024-03-12")]  # a missing session
    saturday = frame.iloc[[0]].assign(date=pd.Timestamp("2024-03-16"))
    split_day = frame.index[frame["date"] == pd.Timestamp("2024-04-01")][0]
    frame.loc[split_day:, "close"] = frame.loc[split_day:, "close"] / 2  # raw close halves, adjusted not
    flat = frame["date"].between("2024-04-15", "2024-04-22")  # six sessions at the previous day's level
    frame.loc[flat, ["close", "adj_close"]] = (
        frame.loc[~flat & (frame["date"] < "2024-04-15")].iloc[-1][["close", "adj_close"]].to_numpy(dtype="float64")
    )
    rate = make_frame(["^IRX"], start="2024-03-01", end="2024-03-08").assign(close=0.0, adj_close=0.0)
    report = check_prices(pd.concat([frame, saturday, rate], ignore_index=True))
    issues = report.issues[report.issues["ticker"] == "AAA"]
    got = {(c, d.strftime("%Y-%m-%d")) for c, d in issues[["check", "date"]].itertuples(index=False)}
    assert got == {
        ("missing_session", "2024-03-12"),
        ("off_calendar", "2024-03-16"),
        ("split_suspect", "2024-04-01"),
        ("flat_run", "2024-04-12"),  # the copied day starts the run
    }
    row = report.summary.set_index("ticker").loc["AAA"]
    assert (row.missing_sessions, row.off_calendar, row.split_suspects, row.flat_runs) == (1, 1, 1, 1)
    assert "close -50." in issues.loc[issues["check"] == "split_suspect", "detail"].item()


def test_a_real_big_move_with_agreeing_close_is_not_a_split():
    frame = make_frame(["AAA"], start="2024-03-01", end="2024-03-29")
    frame.loc[10:, ["close", "adj_close"]] *= 1.9
    assert check_prices(frame).issues.empty


def test_chinese_tickers_are_checked_on_the_shanghai_calendar():
    frame = make_frame(["600111.SS", "000831.SZ"], start="2024-09-25", end="2024-10-15", venue="XSHG")
    report = check_prices(frame)
    assert report.issues.empty  # the Golden Week holiday (Oct 1-7) is not a missing session
    assert report.summary.set_index("ticker")["venue"].to_dict() == {"600111.SS": "XSHG", "000831.SZ": "XSHE"}


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    from eventstudy.prices.store import PriceStore

    path, marker, hold = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    n_tickers = int(sys.argv[4])
    days = pd.bdate_range("1990-01-01", "2019-12-31")
    frame = pd.DataFrame({
        "date": np.tile(days, n_tickers),
        "ticker": np.repeat([f"T{i:03d}" for i in range(n_tickers)], len(days)),
        "adj_close": np.linspace(1, 2, len(days) * n_tickers),
    })

    def progress(done, total):
        if not marker.exists():
            marker.write_text(f"{done}/{total}")
            time.sleep(hold)

    PriceStore(path).import_frame(frame, source="child", progress=progress)
    """
)


def _start_child(tmp_path, store, hold, n_tickers) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(store.path), str(marker), str(hold), str(n_tickers)], cwd=ROOT
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, "child import ended before reaching the write"
        assert time.monotonic() < deadline, "child import never started writing"
        time.sleep(0.05)
    return proc, marker


def test_killed_import_leaves_the_store_as_before(store, tmp_path):
    store.import_frame(make_frame(["AAA"]), source="before")
    before = snapshot(store.path)
    proc, marker = _start_child(tmp_path, store, hold=60, n_tickers=20)  # 20 x 7826 rows: several chunks
    done, total = map(int, marker.read_text().split("/"))
    assert done < total  # killed between chunks of one transaction
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(store.path) == before
    again = store.import_frame(make_frame(["BBB"]), source="after")  # still writable
    assert again.changed


def test_second_writer_fails_clearly_then_waits(store, tmp_path):
    proc, _ = _start_child(tmp_path, store, hold=2.5, n_tickers=1)
    try:
        with pytest.raises(StoreError, match=rf"locked by another eventstudy process \(pid {proc.pid}\)"):
            store.import_frame(make_frame(["AAA"]), source="second")
        patient = PriceStore(store.path, lock_timeout=30)
        report = patient.import_frame(make_frame(["AAA"]), source="second")  # waits for the child
        assert report.changed
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert set(patient.tickers()) == {"AAA", "T000"}


def test_truncated_store_file_gives_the_recovery_command(store):
    store.import_frame(make_frame([f"T{i}" for i in range(40)], start="2010-01-04", end="2024-12-31"), "big")
    size = store.path.stat().st_size
    with open(store.path, "r+b") as fh:
        fh.truncate(size // 3)
    with pytest.raises(StoreError, match="is damaged.*eventstudy prices --store .* rebuild --from") as err:
        store.load(["T1"])
    assert str(store.path) in str(err.value)
    with pytest.raises(StoreError, match="is damaged"):
        store.import_frame(make_frame(["AAA"]), source="more")


def test_rebuild_moves_the_damaged_file_aside(store, tmp_path):
    store.path.write_bytes(b"not a database" * 100)
    src = tmp_path / "src"
    src.mkdir()
    make_frame(["AAA"]).drop(columns="ticker").assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_csv(
        src / "AAA.csv", index=False
    )
    moved, report = store.rebuild([src])
    assert moved.exists() and moved.read_bytes().startswith(b"not a database")
    assert report.new == len(make_frame(["AAA"])) and store.tickers() == ["AAA"]


def test_missing_lists_gaps_outside_covered_ranges(store):
    store.import_frame(make_frame(["AAA"], start="2024-02-01", end="2024-03-28"), source="part")
    gaps = store.missing(["AAA", "ZZZ"], "2024-01-02", "2024-04-30")
    assert gaps["AAA"] == [
        (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-31")),
        (pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-30")),
    ]
    assert gaps["ZZZ"] == [(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-04-30"))]
    assert store.missing(["AAA"], "2024-02-05", "2024-03-28") == {}


class Fetcher:
    """Counts calls; returns generated prices for the tickers it knows, nothing for the others."""

    def __init__(self, known):
        self.known, self.calls = known, []

    def __call__(self, tickers, start, end):
        self.calls.append((tuple(tickers), start, end))
        return make_frame([t for t in tickers if t in self.known], start=start, end=end, seed=len(self.calls))


def test_ensure_fetches_only_the_missing_ranges(store):
    store.import_frame(make_frame(["AAA"], end="2024-06-28"), source="file")
    fetcher = Fetcher({"AAA", "BBB"})
    result = store.ensure(["AAA", "BBB"], "2024-01-02", "2024-12-31", fetcher=fetcher)
    assert sorted(fetcher.calls) == [
        (("AAA",), pd.Timestamp("2024-07-01"), pd.Timestamp("2024-12-31")),
        (("BBB",), pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31")),
    ]
    assert result.fetched.new == result.fetched.rows and result.remaining == {}
    assert store.batches()["kind"].tolist() == ["import", "fetch"]
    store.ensure(["AAA", "BBB"], "2024-03-01", "2024-12-31", fetcher=fetcher)
    assert len(fetcher.calls) == 2  # nothing fetched twice


def test_ensure_records_a_fetched_range_without_data(store):
    store.import_frame(make_frame(["AAA"], start="2024-06-03", end="2024-06-28"), source="listed in June")
    fetcher = Fetcher(set())  # Yahoo has nothing before the listing
    store.ensure(["AAA"], "2024-01-02", "2024-06-28", fetcher=fetcher)
    store.ensure(["AAA"], "2024-01-02", "2024-06-28", fetcher=fetcher)
    assert len(fetcher.calls) == 1


def test_ensure_unknown_ticker_is_a_fetch_error(store):
    with pytest.raises(FetchError, match="no prices on Yahoo for NOPE .*unknown or delisted"):
        store.ensure(["NOPE"], "2024-01-02", "2024-01-31", fetcher=Fetcher(set()))
    assert not store.tickers()


def test_ensure_offline_says_what_is_missing_and_how_to_fix_it(store):
    store.import_frame(make_frame(["AAA"], end="2024-06-28"), source="file")

    def no_network(tickers, start, end):
        raise AssertionError("offline ensure must not fetch")

    with pytest.raises(PriceDataError) as err:
        store.ensure(["AAA", "BBB"], "2024-01-02", "2024-07-31", offline=True, fetcher=no_network)
    msg = str(err.value)
    assert "AAA 2024-07-01..2024-07-31" in msg and "BBB 2024-01-02..2024-07-31" in msg
    assert "eventstudy prices import" in msg and "eventstudy prices fetch AAA BBB" in msg

    lenient = store.ensure(["AAA"], "2024-01-02", "2024-07-31", offline=True, strict=False)
    assert lenient.remaining == {"AAA": [(pd.Timestamp("2024-07-01"), pd.Timestamp("2024-07-31"))]}
    with pytest.raises(PriceDataError, match="BBB 2024-01-02"):
        store.ensure(["AAA", "BBB"], "2024-01-02", "2024-07-31", offline=True, strict=False)


def test_ensure_without_network_fails_fast_with_the_missing_list(store):
    def down(tickers, start, end):
        raise FetchError("Yahoo Finance cannot be reached (offline?)")

    with pytest.raises(FetchError, match=r"offline.*\n.*BBB 2024-01-02\.\.2024-01-31.*eventstudy prices import"):
        store.ensure(["BBB"], "2024-01-02", "2024-01-31", fetcher=down)
    store.import_frame(make_frame(["AAA"], start="2024-01-10", end="2024-01-31"), source="listed Jan 10")
    with pytest.raises(FetchError, match="AAA 2024-01-02..2024-01-09"):
        store.ensure(["AAA"], "2024-01-02", "2024-01-31", fetcher=down)
    lenient = store.ensure(["AAA"], "2024-01-02", "2024-01-31", fetcher=down, strict=False)
    assert lenient.remaining == {"AAA": [(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-09"))]}
    assert "offline" in lenient.warning and "using what is stored" in lenient.warning
    with pytest.raises(FetchError, match="BBB 2024-01-02"):
        store.ensure(["AAA", "BBB"], "2024-01-02", "2024-01-31", fetcher=down, strict=False)


def test_export_round_trips_through_read_prices(store, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_rows, "FAST_ROWS", 0)  # this small frame too on the fast CSV path
    store.import_frame(make_frame(["AAA", "BBB"]), source="test")
    for name in ("out.csv", "out.parquet"):
        n = store.export(tmp_path / name, tickers=["BBB"])
        back = read_prices(tmp_path / name)
        assert n == len(back)
        pd.testing.assert_frame_equal(back, store.load(["BBB"]), check_exact=name.endswith("parquet"))
    frame = store.load(["BBB"])  # the CSV's bytes are pandas' with the dates as text
    text = neutralize_formulas(frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d"))).to_csv(index=False)
    assert (tmp_path / "out.csv").read_bytes() == text.encode()
    with pytest.raises(StoreError, match=r"\.csv or \.parquet"):
        store.export(tmp_path / "out.xlsx")


def test_shared_data_imports_and_loads_back_exactly(store, prices_dir):
    report = store.import_paths([prices_dir])
    expected = read_prices(prices_dir)
    assert report.new == len(expected) and report.conflicts.empty
    tickers = ["MP", "USAR", "SPY", "600111.SS", "000831.SZ", "^IRX", "UUUU"]
    got = store.load(tickers)
    pd.testing.assert_frame_equal(
        got, expected[expected["ticker"].isin(tickers)].reset_index(drop=True), check_exact=True
    )
    pd.testing.assert_frame_equal(store.load(), expected, check_exact=True)
    cov = store.coverage().set_index("ticker")
    assert len(cov) == expected["ticker"].nunique()
    assert cov.loc["MP", "first"] == pd.Timestamp("2021-01-04") and cov.loc["600111.SS", "venue"] == "XSHG"
    assert cov.loc["600111.SS", "currency"] == "CNY" and cov.loc["MP", "currency"] == "USD"
    assert store.import_paths([prices_dir]).new == 0
