"""The group stage on int session positions (no (pairs x days) datetime arrays): the calendar positions of a study's
days, and rbar and the calendar-time tests computed on them, equal the datetime-based references, with two venues
on different sessions, missing prices and event windows past the end of the data."""

from __future__ import annotations

from unittest import mock

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine import tables
from eventstudy.engine.grid import SessionGrid
from eventstudy.engine.group_tests import group_battery_groups
from eventstudy.engine.stages import run_pairs
from eventstudy.inference import correlation as cr
from eventstudy.inference import correlation_packing as ck
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.groups import Groups
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.rows import factorize_hashed, factorize_rows

CALENDAR_TESTS = ("calendar_time_z", "calendar_time_nw", "wild_bootstrap")


def test_grid_positions_order_the_dates_across_venues():
    """Two venues with staggered sessions and their own holidays; pairs starting before a block, crossing its end
    and lying wholly outside it: each valid position names the pair's date on the sorted dates, -1 marks NaT."""
    days = pd.bdate_range("2024-01-01", periods=60)
    a, b = days[:50].delete([7, 20]), days[5:].delete([12, 30])  # A's and B's holidays differ
    sessions = np.concatenate([a.values, b.values]).astype("datetime64[ns]")
    blocks = (("A", 0, len(a)), ("B", len(a), len(sessions)))
    grid = SessionGrid(
        sessions,
        blocks,
        ("x", "y"),
        np.zeros((2, len(sessions))),
        np.ones((2, len(sessions)), np.int16),
        np.zeros((1, len(sessions))),
    )
    start = np.array([-4, 0, 40, len(a) + 2, len(a) - 9, len(sessions) - 6, len(sessions) + 3, -20])
    block = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cells = np.column_stack([start, block, block])
    calendar, rows = grid.calendar_rows(cells, 12)
    positions = rows.dense()
    dates = grid.dates(cells, np.arange(12))
    assert positions.dtype == np.int16  # fewer than 32,767 dates
    assert np.array_equal(calendar, np.unique(sessions))
    assert np.array_equal(positions < 0, np.isnat(dates))
    assert np.array_equal(calendar[positions[positions >= 0]], dates[positions >= 0])
    assert np.isnat(dates).any(axis=1)[[0, 2, 3, 5, 6, 7]].all()  # the grid's ends are crossed or missed
    assert (positions[6] == -1).all() and (positions[7] == -1).all()
    b_in_a = calendar[positions[4][positions[4] >= 0]]
    assert np.isin(b_in_a, a.values).any() and not np.isin(b_in_a, a.values).all()  # shared and own dates
    many = np.arange("1900-01-01", "2010-01-01", dtype="datetime64[D]").astype("datetime64[ns]")  # 40,177 dates
    big = SessionGrid(
        many,
        (("C", 0, len(many)),),
        ("z",),
        np.zeros((1, len(many))),
        np.ones((1, len(many)), np.int16),
        np.zeros((1, len(many))),
    )
    calendar, rows = big.calendar_rows(np.array([[40_000, 0, 0], [5, 0, 0]]), 300)
    positions = rows.dense()
    assert positions.dtype == np.int32 and positions.max() == len(many) - 1 and (positions[0, 177:] == -1).all()
    assert np.array_equal(calendar[positions[1]], many[5:305])


@pytest.fixture(scope="module")
def two_venues():
    """US and Shanghai tickers, each on its own venue's sessions (calendar=None), events on nearby dates so that
    windows share calendar dates across venues, 5% of two tickers' prices missing, one event at the data's end."""
    rng = np.random.default_rng(4)
    frames = []
    for venue, tickers in (("XNYS", ["MKT", "AAA", "BBB", "CCC"]), ("XSHG", ["600001.SS", "600002.SS", "000300.SS"])):
        sessions = xc.get_calendar(venue).sessions_in_range("2021-01-04", "2021-12-31")
        common = rng.normal(0, 0.01, len(sessions))
        for ticker in tickers:
            r = common * rng.uniform(0.5, 1.5) + rng.normal(0, 0.01, len(sessions))
            px = pd.DataFrame({"date": sessions, "ticker": ticker, "adj_close": 10 * np.exp(np.cumsum(r))})
            if ticker in ("BBB", "600002.SS"):
                px = px.drop(px.index[rng.choice(len(px), 12, replace=False)])
            frames.append(px)
    prices = pd.concat(frames, ignore_index=True)
    for column in ("close", "open", "high", "low"):
        prices[column] = prices["adj_close"]
    prices["volume"] = 1e6
    events = pd.DataFrame(
        {
            "event_id": ["E1", "E1", "E1", "E2", "E2", "E3", "E3", "E4", "E4"],
            "ticker": ["AAA", "600001.SS", "BBB", "600002.SS", "CCC", "AAA", "600001.SS", "BBB", "600002.SS"],
            "date": ["2021-10-01"] * 3 + ["2021-10-04"] * 2 + ["2021-12-28"] * 2 + ["2021-04-06"] * 2,
        }
    )
    study = EventStudy(
        events,
        prices,
        market={"XNYS": "MKT", "XSHG": "000300.SS"},
        estimation=(-60, -6),
        windows=[(-2, 2), (0, 5)],
        min_obs=20,
        placebo_draws=0,
        mask="none",
    )
    stage = run_pairs(study, study.events, study.prices)
    event = pd.factorize(stage.pairs["event_id"])[0]
    masks = [stage.active, *(stage.active & (event == e) for e in range(event.max() + 1))]
    return stage, study, Groups.from_masks(masks)


def test_stage_positions_are_its_dates(two_venues):
    stage, _, _ = two_venues
    calendar, rows = stage.grid.calendar_rows(stage.cells, len(stage.days))
    positions = rows.dense()
    dates = np.asarray(stage.dates)
    assert len(stage.grid.blocks) == 2 and np.isnat(dates).any()  # two venues, a window past the data's end
    assert np.array_equal(positions < 0, np.isnat(dates))
    assert np.array_equal(calendar[positions[positions >= 0]], dates[positions >= 0])


def _definition(res, dates, window_dates, min_shared=20):
    """rbar pair by pair from dates: Pearson on the dates both have a residual, times the shared window share."""
    n, total = len(res), 0.0
    for i in range(n):
        for j in range(i + 1, n):
            wi, wj = (set(w[~np.isnat(w)].tolist()) for w in (window_dates[i], window_dates[j]))
            xi = {d: v for d, v in zip(dates[i].tolist(), res[i], strict=True) if d is not None and np.isfinite(v)}
            xj = {d: v for d, v in zip(dates[j].tolist(), res[j], strict=True) if d is not None and np.isfinite(v)}
            both = sorted(set(xi) & set(xj))
            if not (wi & wj) or len(both) < min_shared:
                continue
            rho = np.corrcoef([xi[d] for d in both], [xj[d] for d in both])[0, 1]
            total += len(wi & wj) / np.sqrt(len(wi) * len(wj)) * rho
    return total / (n * (n - 1) / 2) if n > 1 else 0.0


def test_rbar_on_positions_equals_the_dated_definition(two_venues):
    """tests_frame's rbar (positions on the grid) = the datetime path exactly, and the definition from dates."""
    stage, study, groups = two_venues
    tests = tables.tests_frame(stage, study.windows, groups, np.arange(groups.n_groups), bootstrap=(99, 3))
    dates = np.asarray(stage.dates)
    est = (stage.days >= study.windows.estimation[0]) & (stage.days <= study.windows.estimation[1])
    ar_est = np.where(stage.estimation[:, est], stage.ar[:, est], np.nan)
    cross = 0
    for window in study.windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        members = groups.subset(np.isfinite(stage.cars[window]["car"]))
        got = tests[tests["window"] == f"{window[0]}..{window[1]}"].groupby("group", sort=True)["rbar"].first()
        dated = cr.mean_pairwise_correlations(ar_est, dates[:, est], dates[:, wmask], members)
        np.testing.assert_array_equal(got.to_numpy(), dated)
        for g in range(groups.n_groups):
            idx = members.pair[members.starts[g] : members.starts[g + 1]]
            want = _definition(ar_est[idx], dates[idx][:, est], dates[idx][:, wmask])
            assert got[g] == pytest.approx(want, rel=1e-12, abs=1e-15)
            cross += len(set(stage.pairs["venue"].to_numpy()[idx])) > 1 and want != 0
    assert cross  # groups whose pairs correlate across venues


def test_calendar_time_tests_on_positions_equal_the_dated_ones(two_venues):
    """The calendar-time tests and the bootstrap from the grid's positions = from the stage's dates, exactly."""
    stage, study, groups = two_venues
    tests = tables.tests_frame(stage, study.windows, groups, np.arange(groups.n_groups), bootstrap=(99, 3))
    for window in study.windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        members = groups.subset(np.isfinite(stage.cars[window]["car"]))
        dated = group_battery_groups(stage, window, wmask, members, (99, 3))  # calendar_positions(stage.dates)
        rows = tests[tests["window"] == f"{window[0]}..{window[1]}"]
        for name in CALENDAR_TESTS:
            got = rows[rows["test"] == name].sort_values("group")
            np.testing.assert_array_equal(got["statistic"].to_numpy(), dated[name].statistic)
            np.testing.assert_array_equal(got["p_value"].to_numpy(), dated[name].p_value)
        assert np.isfinite(dated["calendar_time_z"].statistic).any()


@pytest.mark.parametrize("cell_min_pairs", [1, cr.CELL_MIN_PAIRS])
def test_rbar_packed_in_small_batches_is_bit_identical(monkeypatch, cell_min_pairs):
    """Rows packed a few at a time (many runs of every path: cells, pairwise kernel, masked products) give the bits
    of one batch, and the definition from dates."""
    rng = np.random.default_rng(21)
    cal = pd.bdate_range("2024-01-01", periods=300).values.astype("datetime64[ns]")
    n, d = 150, 100
    start = np.sort(rng.integers(2 * d + 5, 280, n))
    start[:40] = start[0]  # a block on one date with complete data (per-cell sums)
    common = rng.normal(size=len(cal))
    res = 0.5 * np.stack([common[s - d - 5 : s - 5] for s in start]) + rng.normal(size=(n, d))
    res[60:][rng.random((n - 60, d)) < 0.2] = np.nan  # scattered gaps: the pairwise kernel or masked products
    dates = np.stack([cal[s - d - 5 : s - 5] for s in start])
    dates[120:] = [cal[s - 2 * d - 5 : s - 5 : 2] for s in start[120:]]  # every other session: rows merge dates
    windows = np.stack([cal[s : s + 5] if s + 5 <= len(cal) else cal[s - 5 : s] for s in start])
    groups = Groups.from_masks([np.ones(n, bool), np.arange(n) % 3 == 0])
    monkeypatch.setattr(cr, "CELL_MIN_PAIRS", cell_min_pairs)
    whole = cr.mean_pairwise_correlations(res, dates, windows, groups)
    kernel, cells, blas = (mock.Mock(wraps=f) for f in (cr._kernel_sum, cr._cell_sums, cr._moment_sum))
    monkeypatch.setattr(cr, "_kernel_sum", kernel)
    monkeypatch.setattr(cr, "_cell_sums", cells)
    monkeypatch.setattr(cr, "_moment_sum", blas)
    monkeypatch.setattr(cr, "ROWS_PER_BATCH", 12)
    batched = cr.mean_pairwise_correlations(res, dates, windows, groups)
    assert batched.tobytes() == whole.tobytes()
    assert kernel.call_count > 1 and cells.call_count > 1 and (blas.call_count > 0) == (cell_min_pairs == 1)
    members = [np.arange(n), np.flatnonzero(np.arange(n) % 3 == 0)]
    want = [_definition(res[m], dates[m], windows[m]) for m in members]
    np.testing.assert_allclose(batched, want, rtol=1e-12)


def test_patterns_read_in_place_are_the_packed_rows_codes():
    """The codes and spans of the rows' available dates, read in place, = factorize_rows of the packed positions;
    exact when every hash collides."""
    rng = np.random.default_rng(5)
    positions = np.where(rng.random((400, 30)) < 0.05, -1, np.arange(30)[None, :] * 2 + rng.integers(0, 3, (400, 1)))
    positions = np.sort(positions, axis=1).astype(np.int32)
    x = np.where(rng.random((400, 30)) < 0.1, np.nan, rng.normal(size=(400, 30)))
    x[rng.random(400) < 0.5] = x[0]  # repeated patterns
    positions[x[:, 0] == x[0, 0]] = positions[0]
    rows = np.arange(0, 400, 2)
    renumber = ck.renumbering(positions, rows)
    codes, span, _, lead = ck.patterns(x, positions, renumber, rows)
    _, pv, cnt = ck.compress(x, positions, renumber, rows)
    assert np.array_equal(codes, factorize_rows(pv)[0])
    days = [np.flatnonzero((positions[i] >= 0) & np.isfinite(x[i])) for i in rows]
    assert lead.tolist() == [d[0] if len(d) and d[-1] - d[0] == len(d) - 1 else -1 for d in days]
    assert 0 < (lead >= 0).sum() < len(rows)
    assert np.array_equal(span, np.where(cnt > 0, pv[np.arange(len(pv)), np.maximum(cnt - 1, 0)] - pv[:, 0], 0))
    assert 1 < len(np.unique(codes)) < len(rows) * 3 // 4  # repeated patterns and others
    table, src = RowPositions.of(positions), ArRows.of(x).source()
    collide, _ = factorize_hashed(
        np.zeros(len(rows), np.uint64), lambda c, f: ck._differs(src, table.table, table.offset, renumber, rows, c, f)
    )
    assert all((pv[collide == c] == pv[collide == c][0]).all() for c in np.unique(collide))
    assert np.array_equal(pd.factorize(codes)[0], pd.factorize(collide)[0]) or len(np.unique(collide)) > len(
        np.unique(codes)
    )


def test_patterns_of_runs_are_keyed_exactly_beside_hashed_rows():
    """Rows whose dates are runs of consecutive positions (keyed by first date and count, not hashed), rows with a
    gap, a repeated position or no date: the codes are factorize_rows' of the packed positions."""
    positions = np.tile(np.arange(12, dtype=np.int32), (9, 1)) + np.array([0, 0, 1, 0, 0, 0, 0, 0, 0])[:, None]
    x = np.ones((9, 12))
    x[3, 11] = np.nan  # a shorter run from the same first date
    x[4, 5] = np.nan  # a gap
    positions[5, 1:] = positions[5, :-1]  # 0, 0, 1, .., 9, 11: the span and count of row 0's run, not its dates
    positions[5, 11] = 11
    positions[6] = -1  # no date at all
    x[7] = np.nan
    positions[8, :6] = -1  # a run from position 6
    rows = np.arange(9)
    renumber = ck.renumbering(positions, rows)
    codes, span, keys, lead = ck.patterns(x, positions, renumber, rows)
    _, pv, cnt = ck.compress(x, positions, renumber, rows)
    assert np.array_equal(codes, factorize_rows(pv)[0])
    assert codes.tolist() == [0, 0, 1, 2, 3, 4, 5, 5, 6]
    start, count = ck.runs_of_keys(keys)  # the runs' first positions and lengths; -1 and 0: a gap, a repeat, none
    assert start.tolist() == [0, 0, 1, 0, -1, -1, -1, -1, 6] and count.tolist() == [12, 12, 12, 11, 0, 0, 0, 0, 6]
    assert lead.tolist() == [0, 0, 0, 0, -1, 0, -1, -1, 6]  # the first of consecutive days (a repeat's too), or -1


def test_window_classes_read_at_the_distinct_offsets_of_a_table():
    """Event windows given as rows of one table (the grid's: -1 padding on both sides, windows past the data's end,
    offsets in any order): the classes read at the distinct offsets are factorize_rows' of the dense windows, and
    rbar is bit for bit the one from the dense (P, L) array."""
    rng = np.random.default_rng(8)
    table = np.r_[np.full(3, -1), np.arange(120), np.full(6, -1)].astype(np.int16)
    n, d, length = 300, 60, 4
    start = rng.integers(d + 3, len(table) - length + 1, n)  # some windows run into the padding at the end
    positions = RowPositions(table, (start - d - 3).astype(np.int64), d)
    windows = RowPositions(table, start.astype(np.int64), length)
    res = rng.normal(size=(n, d)) + rng.normal(size=len(table))[positions.dense().clip(0)]
    used = np.flatnonzero(rng.random(n) < 0.8)
    code, wpos = cr._window_classes_of(windows, used)
    want_code, want_wpos = cr._window_classes(windows.dense()[used])
    assert np.array_equal(code, want_code) and np.array_equal(wpos, want_wpos)
    assert (wpos == -1).any() and len(wpos) < len(used)  # padded windows and shared ones
    earlier = RowPositions(table, start.astype(np.int64) - 2, length)  # the same rows' windows two days earlier
    other = RowPositions(table, rng.permutation(start).astype(np.int64), length)  # other rows' windows
    seen = []
    with mock.patch.object(cr, "factorize_rows", wraps=cr.factorize_rows) as factorize:
        got = [cr._window_classes_of(w, used, seen) for w in (windows, earlier, other)]
    assert sum(len(call.args[0]) == len(used) for call in factorize.call_args_list) == 2  # offsets hashed twice
    for w, (code, wpos) in zip((windows, earlier, other), got, strict=True):
        want_code, want_wpos = cr._window_classes(w.dense()[used])
        assert np.array_equal(code, want_code) and np.array_equal(wpos, want_wpos)
    groups = Groups.from_masks([np.ones(n, bool), np.arange(n) % 4 == 0])
    got = cr.correlations_of_windows(res, positions, [windows], [groups])[0]
    dense = cr.correlations_of_windows(res, positions, [windows.dense()], [groups])[0]
    assert got.tobytes() == dense.tobytes() and (got != 0).all()
