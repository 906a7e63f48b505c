"""Backtest-scale paths: contamination flags, masking policies, Parquet prices and tables, the benchmark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.errors import InputError, PriceDataError
from eventstudy.prices.files import read_prices
from eventstudy.results import EventStudyResults
from eventstudy.simulate import simulate_study, simulate_universe


def _crowded_study(**kwargs) -> EventStudy:
    """Four events per ticker (two inside others' estimation windows), confounders on one ticker and on all."""
    sim = simulate_study(n_events=6, n_firms=3, n_days=450, day0=400, seed=11)
    shifted = [
        sim.events.assign(event_id=sim.events["event_id"] + tag, date=sim.events["date"] + pd.offsets.BDay(k))
        for tag, k in (("", 0), ("b", -3), ("c", -40), ("d", -70))
    ]
    events = pd.concat(shifted, ignore_index=True)
    first = sim.events.iloc[0]
    confounders = pd.DataFrame(
        {
            "date": [first["date"] + pd.offsets.BDay(1), first["date"] - pd.offsets.BDay(2), first["date"]],
            "ticker": [first["ticker"], "*", first["ticker"]],
            "label": ["split", "FOMC", "split"],
        }
    )
    return EventStudy(events, sim.prices, market=sim.market, calendar="data", confounders=confounders, **kwargs)


def _labels_by_loop(study: EventStudy, result) -> dict:
    """Contamination labels written from the definition: marks of the ticker (or '*') inside the window."""
    sessions = pd.DatetimeIndex(sorted(study.prices["date"].unique()))
    day0 = result.parameters.set_index(["event_id", "ticker"])["day0_date"]
    marks = [(row.ticker, sessions.searchsorted(row.date), "", row.label) for row in study.confounders.itertuples()] + [
        (t, sessions.get_loc(d), e, f"event {e}")
        for e, t, d in zip(result.parameters["event_id"], result.parameters["ticker"], day0, strict=True)
    ]
    out = {}
    for (event_id, ticker), d in day0.items():
        at = sessions.get_loc(d)
        for a, b in study.windows.events:
            hits = [
                lab
                for tk, m, other, lab in marks
                if tk in (ticker, "*") and at + a <= m <= at + b and other != event_id
            ]
            out[(event_id, ticker, f"{a}..{b}")] = "; ".join(dict.fromkeys(hits))
    return out


def test_contamination_flags_match_the_definition():
    study = _crowded_study()
    result = study.fit()
    expected = _labels_by_loop(study, result)
    got = {(r.event_id, r.ticker, r.window): r.contaminated for r in result.car.itertuples()}
    assert got == expected and result.car["contaminated"].dtype == "str"  # the column a frame infers from strings
    assert any("; " in text for text in got.values()) and any("FOMC" in text for text in got.values())


def test_summary_warns_of_each_contaminated_event_with_its_windows_and_tickers():
    result = _crowded_study().fit()
    groups: dict = {}
    for row in result.car.itertuples():  # in table order: (event, what) groups in order of first appearance
        if row.contaminated:
            tickers, windows = groups.setdefault((row.event_id, row.contaminated), ({}, {}))
            tickers[row.ticker], windows[row.window] = None, None
    expected = [
        f"  warning: {event_id} windows {', '.join(windows)} of {', '.join(tickers)} contain: {what}"
        for (event_id, what), (tickers, windows) in groups.items()
    ]
    assert len(expected) > 3
    assert [line for line in result.summary().splitlines() if " contain: " in line] == expected


def test_mask_policies_and_the_pairs_masking_made_insufficient():
    masked = _crowded_study(min_obs=237).fit()
    unmasked = _crowded_study(min_obs=237, mask="none").fit()
    assert masked.config["mask"] == "events" and unmasked.config["mask"] == "none"
    lost = masked.parameters["status"].eq("insufficient").sum()
    assert lost > 0 and masked.config["insufficient_by_masking"] == lost
    assert unmasked.config["insufficient_by_masking"] == 0
    assert (unmasked.parameters["masked_days"] <= 1).all()  # only the confounder sessions remain masked
    assert (masked.parameters["masked_days"] > unmasked.parameters["masked_days"]).any()
    assert "pairs insufficient only because masked" in masked.summary()
    with pytest.raises(InputError, match="mask_events"):
        _crowded_study(mask="catalog")


def test_parquet_prices_read_only_the_needed_tickers_and_keep_them_as_written(tmp_path):
    universe = simulate_universe(n_tickers=6, n_sessions=30, n_events=2, tickers_per_event=2, first_day0=5, seed=3)
    long = universe.long_prices()
    long["ticker"] = long["ticker"].astype(str).str.replace("S00001", " S00001 ").str.replace("S00002", "s00002")
    long["volume"] = 1000.0
    path = tmp_path / "prices.parquet"
    long.sample(frac=1.0, random_state=0).to_parquet(path, index=False)
    frame = read_prices(path, ["S00001", "s00002", "MKT"])
    assert list(frame["ticker"].unique()) == ["MKT", "S00001", "s00002"]
    assert frame["date"].dtype == "datetime64[ns]" and frame["volume"].eq(1000.0).all()
    expected = long.assign(ticker=long["ticker"].str.strip()).query("ticker in ['S00001', 's00002', 'MKT']")
    expected = expected.sort_values(["ticker", "date"], ignore_index=True)
    np.testing.assert_array_equal(frame["adj_close"].to_numpy(), expected["adj_close"].to_numpy())
    dup = pd.concat([long, long.iloc[[40]]])
    dup.to_parquet(path, index=False)
    when = long.iloc[40]["date"].date()
    with pytest.raises(PriceDataError, match=rf"ticker S00001 has 2 rows sharing a date \(first {when}\)"):
        read_prices(path)


def test_parquet_tables_round_trip(tmp_path):
    sim = simulate_study(n_events=4, n_firms=3, same_date=False, seed=2)
    result = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data").fit()
    result.to_dir(tmp_path / "run", fmt="parquet")
    assert (tmp_path / "run" / "car.parquet").is_file() and not (tmp_path / "run" / "car.csv").exists()
    back = EventStudyResults.from_dir(tmp_path / "run")
    pd.testing.assert_frame_equal(back.car, result.car, check_dtype=False)
    pd.testing.assert_frame_equal(back.tests, result.tests, check_dtype=False)


def test_benchmark_smallest_size_runs(tmp_path, monkeypatch, capsys, repo_root):
    spec = importlib.util.spec_from_file_location("bench_run", repo_root / "benchmarks" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "TICKERS", 60)
    monkeypatch.setattr(bench, "SESSIONS", 300)
    monkeypatch.setattr(sys, "argv", ["run.py", "--max-pairs", "1000", "--data", str(tmp_path / "data")])
    child = {}

    def library(data, pairs, limit, warm):
        child.update(bench.child_library(data, pairs, warm))
        return child

    monkeypatch.setattr(bench, "measure_library", library)
    compiled = Path(importlib.util.cache_from_source(str(repo_root / "eventstudy" / "engine" / "grid.py")))
    compiled.unlink(missing_ok=True)
    bench.main()
    out = capsys.readouterr().out
    assert "no peer virtualenv" in out or "agreement with the peer" in out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["1,000"])
    assert float(row[1]) > 0
    assert "x peer warm" in out  # the pair stage's second run in the library child (the monkeypatch passes warm on)
    assert "x peer scope" in out and 0 < child["scope"] < child["fit"]  # the pair stage with the peer's one window
    # the compute floor (benchmarks/floor.py) computes the engine's CAR and t, and is printed with its agreement
    assert child["floor"] > 0 and child["floor_car_diff"] < 1e-14 and child["floor_t_diff"] < 1e-9
    assert "the compute floor against the engine" in out
    # prepared first: the package's bytecode compiled (under PYTHONDONTWRITEBYTECODE every process would compile it)
    assert "prepared in" in out and out.index("prepared in") < out.index("1,000 ")
    assert compiled.is_file()
