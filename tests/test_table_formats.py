"""--format csv|parquet for every table (run, regress, robustness, calendar-time), and the robustness grid added to a
run folder and shown by its report; stale added tables go when the run is rerun."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.io import read_manifest
from eventstudy.results import EventStudyResults

EVENTS = "event_id,ticker,date\nE1,MP,2025-10-09\nE1,UUUU,2025-10-09\nE1,ALB,2025-10-09\nE1,LAC,2025-10-09\n"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal tables: the numbers to 1e-12, everything else as text."""
    assert list(left.columns) == list(right.columns) and len(left) == len(right)
    for col in left.columns:
        a, b = left[col], right[col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, equal_nan=True)
        else:
            assert list(a.astype(str)) == list(b.astype(str)), col


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prices_dir):
    """The same study written as CSV and as Parquet, with abnormal volume (av, cav) and firm characteristics."""
    root = tmp_path_factory.mktemp("formats")
    (root / "events.csv").write_text(EVENTS)
    (root / "chars.csv").write_text("ticker,runup\nMP,0.5\nUUUU,0.2\nALB,-0.1\nLAC,0.3\n")
    base = ["run", "--events", root / "events.csv", "--prices", prices_dir, "--market", "SPY", "--volume", "market"]
    for fmt in ("csv", "parquet"):
        _invoke(*base, "--window", "0", "1", "--format", fmt, "--out", root / fmt)
    return root


def test_every_run_table_round_trips_through_parquet(runs):
    assert (runs / "parquet" / "av.parquet").is_file() and (runs / "parquet" / "cav.parquet").is_file()
    assert not list((runs / "parquet").glob("*.csv"))
    csv, parquet = EventStudyResults.from_dir(runs / "csv"), EventStudyResults.from_dir(runs / "parquet")
    for name in ("ar", "car", "parameters", "aar", "tests", "av", "cav"):
        _same(getattr(parquet, name), getattr(csv, name))


def test_regress_writes_the_runs_format_and_a_rerun_drops_it(runs, prices_dir):
    chars = runs / "chars.csv"
    for fmt in ("csv", "parquet"):
        _invoke("regress", runs / fmt, "--characteristics", chars, "--window", "0", "1")
        assert f"regression.{fmt}" in read_manifest(runs / fmt)
    table = pd.read_parquet(runs / "parquet" / "regression.parquet")
    _same(table, pd.read_csv(runs / "csv" / "regression.csv"))
    assert table.loc[1, "term"] == "runup" and np.isfinite(table.loc[1, "coef"])
    _invoke("regress", runs / "csv", "--characteristics", chars, "--window", "0", "1", "--format", "parquet")
    assert (runs / "csv" / "regression.parquet").is_file() and not (runs / "csv" / "regression.csv").exists()
    _same(pd.read_parquet(runs / "csv" / "regression.parquet"), table)
    other = runs / "elsewhere.parquet"
    _invoke("regress", runs / "csv", "--characteristics", chars, "--window", "0", "1", "--out", other)
    _same(pd.read_parquet(other), table)
    clash = CliRunner().invoke(
        main,
        ["regress", str(runs / "csv"), "--characteristics", str(chars), "--window", "0", "1"]
        + ["--out", str(runs / "x.csv"), "--format", "parquet"],
    )
    assert clash.exit_code == 2 and "make them agree" in clash.output
    # a rerun of the study replaces the run's files: the regression of the old run's CARs is stale and goes
    _invoke(
        "run",
        "--events",
        runs / "events.csv",
        "--prices",
        prices_dir,
        "--market",
        "SPY",
        "--window",
        "0",
        "1",
        "--format",
        "csv",
        "--out",
        runs / "csv",
    )
    assert not (runs / "csv" / "regression.parquet").exists() and (runs / "csv" / "car.csv").is_file()


def test_calendar_time_writes_parquet(runs, prices_dir):
    base = ["calendar-time", "--events", runs / "events.csv", "--prices", prices_dir, "--horizon", "10"]
    for fmt in ("csv", "parquet"):
        _invoke(*base, "--market", "SPY", "--format", fmt, "--out", runs / f"cal-{fmt}")
    for name in ("calendar_portfolio", "calendar_alpha"):
        parquet = pd.read_parquet(runs / "cal-parquet" / f"{name}.parquet")
        csv = pd.read_csv(runs / "cal-csv" / f"{name}.csv")
        if "date" in csv:
            csv["date"] = pd.to_datetime(csv["date"])
        _same(parquet, csv)
    assert not list((runs / "cal-parquet").glob("*.csv"))


def test_robustness_grid_joins_the_run_and_its_report(tmp_path, prices_dir):
    (tmp_path / "events.csv").write_text(EVENTS)
    run = tmp_path / "run"
    study = ["--events", tmp_path / "events.csv", "--prices", prices_dir]
    _invoke("run", *study, "--market", "SPY", "--window", "0", "1", "--out", run)
    (run / "mine.txt").write_text("the user's own notes")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".eventstudy-outputs"}
    grid = [*study, "--models", "market,market-adjusted", "--benchmarks", "SPY", "--estimation", "-250", "-11"]
    _invoke("robustness", *grid, "--window", "0", "1", "--format", "parquet", "--out", run)
    assert all((run / name).read_bytes() == data for name, data in before.items())  # nothing else touched
    assert {"robustness.parquet", "robustness.png"} <= set(read_manifest(run))
    _invoke("robustness", *grid, "--window", "0", "1", "--out", run)  # csv replaces the parquet grid
    assert (run / "robustness.csv").is_file() and not (run / "robustness.parquet").exists()
    results = EventStudyResults.from_dir(run)
    assert len(results.robustness) == 2 * 4 and set(results.robustness["estimation"]) == {"-250..-11"}
    market = results.robustness.query("model == 'market'").set_index("ticker")["car"]
    np.testing.assert_allclose(
        market, results.car.query("window == '0..1'").set_index("ticker")["car"].loc[market.index]
    )

    _invoke("report", run)
    md, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    assert "## Robustness: models, benchmarks and estimation windows" in md
    assert "figures/robustness.png" in md and (run / "figures" / "robustness.png").stat().st_size > 10_000
    assert 'id="robustness"' in page and page.count("data:image/png;base64,") >= 4
    assert "market-adjusted" in page and "sign holds under every specification" in page

    table = pd.read_csv(run / "robustness.csv")
    table.loc[table["model"] == "market", "model"] = "<script>alert(1)</script>|x"
    table.to_csv(run / "robustness.csv", index=False)
    _invoke("report", run)
    md, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;|x" in page
    assert "| &lt;script&gt;alert(1)&lt;/script&gt;\\|x | SPY |" in md

    _invoke("run", *study, "--market", "SPY", "--window", "0", "1", "--report", "--out", run)  # rerun: grid is stale
    assert not (run / "robustness.csv").exists() and not (run / "robustness.png").exists()
    assert (run / "mine.txt").is_file() and "Robustness:" not in (run / "report.md").read_text()
