"""The AR table is built when it is used: ``fit()`` keeps its compact source (not the frame, not the pair stage's
(pairs x days) arrays), ``results.ar`` builds exactly the table on first read, and a run writes it slice by slice
with the bytes of the whole frame; a write that fails half-way leaves nothing behind."""

from __future__ import annotations

import errno
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import eventstudy.io as eio
from eventstudy import EventStudy
from eventstudy.engine.ar_table import ArSource
from eventstudy.engine.stages import finish, run_pairs
from eventstudy.errors import OutputError
from eventstudy.simulate import simulate_study

ROWS = 10  # rows per slice in these tests: slices start and end inside a pair's 21 report-span days


@pytest.fixture(scope="module")
def study() -> EventStudy:
    """A small study with one pair left unstudied (its ticker has no prices over most of the estimation window)."""
    sim = simulate_study(n_events=4, n_firms=3, effect=0.01, rho=0.2, same_date=False, seed=3)
    first = sim.events.iloc[0]
    gap = (sim.prices["ticker"] == first["ticker"]) & (sim.prices["date"] < first["date"] - pd.Timedelta(days=60))
    prices = sim.prices[~gap.to_numpy()]
    return EventStudy(sim.events, prices, market=sim.market, calendar="data", placebo_draws=0, bootstrap_draws=0)


def _expected_ar(stage, lo: int, hi: int) -> pd.DataFrame:
    """The AR table pair by pair from the pair stage's (pairs x days) arrays (studied pairs, days lo..hi)."""
    cols = np.flatnonzero((stage.days >= lo) & (stage.days <= hi))
    rows = []
    for i in np.flatnonzero(stage.active):
        pair = stage.pairs.iloc[i]
        rows.append(
            pd.DataFrame(
                {
                    "event_id": pair["event_id"],
                    "ticker": pair["ticker"],
                    "day": stage.days[cols],
                    "date": np.asarray(stage.dates[i])[cols],
                    "return": np.asarray(stage.returns[i])[cols],
                    "normal_return": stage.normal[i, cols],
                    "ar": stage.ar[i, cols],
                    "sar": stage.sar[i, cols],
                    "span": np.asarray(stage.span[i])[cols],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("estimation", [(-250, -11), (-200, -30)])  # report span: the event days; a part of them
def test_fit_keeps_the_report_span_source_and_builds_the_frame_on_first_read(study, estimation):
    study = EventStudy(
        study.events.frame, study.prices, market=study.market, calendar="data", estimation=estimation, placebo_draws=0
    )
    stage = run_pairs(study, study.events, study.prices)
    results = finish(study, stage)
    source = vars(results)["ar"]
    assert isinstance(source, ArSource) and not stage.active.all()
    lo, hi = study.windows.report_span
    shape = (int(stage.active.sum()), hi - lo + 1)
    exact = estimation[1] == lo - 1  # the stage holds normal returns and SARs of the report days only
    assert (source.held.get("sar") is stage.event_sar) == exact
    assert (source.held.get("normal_return") is stage.event_normal) == exact
    for name, values in source.values.items():
        if values is not None:
            assert values.shape == shape and not np.shares_memory(values, stage.ar), name
    frame = results.ar
    assert results.ar is frame and vars(results)["ar"] is frame  # built once, then kept
    pd.testing.assert_frame_equal(frame, _expected_ar(stage, lo, hi), check_exact=True)
    assert len(frame) == len(source) == shape[0] * shape[1]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_run_writes_the_source_in_slices_with_the_whole_frames_bytes(study, fmt, tmp_path, monkeypatch):
    monkeypatch.setattr(eio, "ROW_GROUP_ROWS", ROWS)
    results = study.fit()
    results.to_dir(tmp_path / "run", fmt=fmt)
    assert isinstance(vars(results)["ar"], ArSource)  # written without building the frame
    frame = results.ar
    written = (tmp_path / "run" / f"ar.{fmt}").read_bytes()
    if fmt == "csv":
        assert written == frame.to_csv(index=False, date_format="%Y-%m-%d").encode()
    else:
        whole = io.BytesIO()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, whole, use_dictionary=["event_id", "ticker"], row_group_size=ROWS)
        assert written == whole.getvalue()
        assert pq.ParquetFile(tmp_path / "run" / "ar.parquet").metadata.num_row_groups == -(-len(frame) // ROWS)


def test_a_write_failing_half_way_leaves_nothing(study, tmp_path, monkeypatch):
    monkeypatch.setattr(eio, "ROW_GROUP_ROWS", ROWS)
    results = study.fit()
    results.to_dir(tmp_path / "previous")
    before = {p.name: p.read_bytes() for p in (tmp_path / "previous").iterdir()}
    built = []
    frame = ArSource.frame

    def full_disk_after_three_slices(self, pairs=slice(None)):
        built.append(pairs)
        if len(built) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return frame(self, pairs)

    monkeypatch.setattr(ArSource, "frame", full_disk_after_three_slices)
    for out in (tmp_path / "new", tmp_path / "previous"):
        built.clear()
        with pytest.raises(OutputError, match="No space left on device"):
            results.to_dir(out, fmt="parquet")
        assert len(built) == 4
    assert not (tmp_path / "new").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "previous").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["previous"]
