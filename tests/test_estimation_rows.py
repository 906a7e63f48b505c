"""The group-day sums, portfolio sd, time-series t, positive share, calendar-time estimation sd and the AAR frame read
the estimation ARs as rows (:class:`~eventstudy.inference.ar_rows.ArRows`): on rows stored, regenerated from the
session grid and NaN, each gives the bits it gives the plain (P, L1) array of the same values, and the engine's group
stage reads the stage's ``estimation_ar`` and ``event_ar`` (not ``stage.ar``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_ar_rows import _regenerated

import eventstudy.engine.pair_stage as stages
import eventstudy.inference.portfolio_sd as walk
from eventstudy import EventStudy
from eventstudy.engine import stage_arrays, tables
from eventstudy.engine.group_tests import group_battery, group_battery_windows, window_days
from eventstudy.engine.rank_tests import PositiveShare, positive_share
from eventstudy.engine.stages import _aar_frame, _groups
from eventstudy.engine.statistics import portfolio_sd, time_series_t_groups
from eventstudy.inference import threads
from eventstudy.inference.ar_rows import MARKET_ROW, NAN_ROW, ArRows, matching_rows
from eventstudy.inference.calendar_time import estimation_sd, portfolios, standardized_z
from eventstudy.inference.groups import Groups
from eventstudy.inference.moments import group_day_means, group_day_sums
from eventstudy.inference.row_positions import RowPositions
from eventstudy.simulate import simulate_study


def _same_bits(a, b) -> None:
    """Equal to the bit (+0.0 is not -0.0), any NaN matching any NaN."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b)
        return
    nan = np.isnan(a)
    assert np.array_equal(nan, np.isnan(b))
    assert np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64))


@pytest.fixture(scope="module")
def study_stage():
    """A market-model study whose estimation rows are of all three kinds: one ticker misses sessions (its returns
    span several and its rows are stored), the others' rows regenerated from the grid, and pairs not studied
    (too few returns: NaN rows)."""
    sim = simulate_study(n_events=14, n_firms=6, effect=0.01, rho=0.3, same_date=False, seed=7)
    rng = np.random.default_rng(11)
    prices = sim.prices
    tickers = sorted(set(prices["ticker"]) - {sim.market})
    gappy = (prices["ticker"] == tickers[0]).to_numpy()
    sparse = (prices["ticker"] == tickers[1]).to_numpy()
    drop = gappy & (rng.random(len(prices)) < 0.03) | sparse & (rng.random(len(prices)) < 0.7)
    study = EventStudy(
        sim.events, prices[~drop].reset_index(drop=True), market=sim.market, calendar="data", min_obs=120
    )
    return study, stages.run_pairs(study, study.events, study.prices)


@pytest.fixture(scope="module")
def rows(study_stage):
    """``(mixed, plain)``: the stage's estimation ARs as rows regenerated where that gives the stored bits (every
    other such row stored instead, in a compact array of its own), stored where it does not, NaN for the pairs not
    studied; and the plain (P, L1) array of the stage."""
    _, stage = study_stage
    plain = np.asarray(stage.ar)[:, : stage.event_start]
    regenerated = _regenerated(stage)
    match = matching_rows(regenerated, plain) & stage.active
    stored = np.flatnonzero(stage.active & ~(match & (np.arange(len(plain)) % 2 == 0)))
    slot = np.full(len(plain), NAN_ROW)
    slot[match] = MARKET_ROW
    slot[stored] = np.arange(len(stored))
    mixed = dataclasses.replace(regenerated, stored=plain[stored].copy(), slot=slot)
    kinds = [(slot == k).sum() for k in (MARKET_ROW, NAN_ROW)]
    assert kinds[0] > 0 and kinds[1] > 0 and len(stored) > 0 and (match & (slot >= 0)).any()
    assert mixed.regenerated == kinds[0]
    _same_bits(mixed.dense(), plain)
    return mixed, plain


@pytest.fixture(scope="module")
def groups(study_stage):
    """The study's groups ("all" and each event) and a few more: overlapping, tiny and empty ones."""
    study, stage = study_stage
    base = _groups(study, stage)[1]
    n = len(stage)
    extra = Groups.from_masks([np.arange(n) % 3 == 0, np.arange(n) < 5, np.zeros(n, bool), ~stage.active])
    return Groups(np.r_[base.group, extra.group + base.n_groups], np.r_[base.pair, extra.pair], base.n_groups + 4, n)


@pytest.mark.parametrize("days", [(0, None), (7, 150)])
@pytest.mark.parametrize("masked", [False, True])
def test_group_day_sums_of_rows_are_those_of_the_array(study_stage, rows, groups, days, masked):
    _, stage = study_stage
    mixed, plain = rows
    first, stop = days[0], days[1] or plain.shape[1]
    keep = stage.estimation[:, first:stop] if masked else None
    got = group_day_means(mixed.window(first, stop), groups, keep)
    want = group_day_means(plain[:, first:stop], groups, keep)
    for a, b in zip(got, want, strict=True):
        _same_bits(a, b)
    assert np.isfinite(got[0]).any()
    with pytest.raises(ValueError, match="does not match"):
        group_day_means(mixed, groups, stage.estimation)


def test_portfolio_sd_and_time_series_t_of_rows_are_those_of_the_array(study_stage, rows, groups):
    _, stage = study_stage
    mixed, plain = rows
    clean = stage.estimation[:, : stage.event_start]
    for a, b in zip(portfolio_sd(mixed, groups, clean), portfolio_sd(plain, groups, clean), strict=True):
        _same_bits(a, b)
    window = stage.event_ar[:, 3:9]
    got, want = time_series_t_groups(mixed, window, groups), time_series_t_groups(plain, window, groups)
    for field in ("statistic", "p_value", "n"):
        _same_bits(getattr(got, field), getattr(want, field))
    assert np.isfinite(got.statistic).any()


@pytest.mark.parametrize("parallel", [False, True])
def test_positive_share_of_rows_is_that_of_the_array(study_stage, rows, monkeypatch, parallel):
    _, stage = study_stage
    mixed, plain = rows
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    clean = stage.estimation[:, : stage.event_start]
    for valid in (None, clean):
        for a, b in zip(positive_share(mixed, valid), positive_share(plain, valid), strict=True):
            _same_bits(a, b)
    share = positive_share(mixed, clean)
    inactive = ~stage.active
    assert (share.count[inactive] == 0).all() and (share.share[inactive] == 0).all()
    assert (share.count[stage.active] > 0).all()


def test_calendar_time_estimation_sd_of_rows_is_that_of_the_array(study_stage, rows, groups):
    _, stage = study_stage
    mixed, plain = rows
    grid, positions = stage.grid.calendar_rows(stage.cells, len(stage.days))
    start = stage.event_start
    port = portfolios(stage.event_ar[:, 5:12], positions.columns(slice(start + 5, start + 12)), groups, len(grid))
    clean, est_positions = stage.estimation[:, :start], positions.columns(slice(0, start))
    for a, b in zip(
        estimation_sd(port, mixed, clean, est_positions), estimation_sd(port, plain, clean, est_positions), strict=True
    ):
        _same_bits(a, b)
    assert np.isfinite(estimation_sd(port, mixed, clean, est_positions)[0]).any()
    n = np.full(groups.n_groups, 3)
    got, want = (
        standardized_z(port, mixed, clean, est_positions, n),
        standardized_z(port, plain, clean, est_positions, n),
    )
    for field in ("statistic", "p_value", "n"):
        _same_bits(getattr(got, field), getattr(want, field))


def _reenters(port) -> bool:
    """Whether a pair of some group is in portfolios of it that are not consecutive."""
    for g in range(port.n_groups):
        seen = {}
        for k in range(port.group_starts[g], port.group_starts[g + 1]):
            for i in port.pair[port.starts[k] : port.starts[k + 1]].tolist():
                if seen.setdefault(i, k - 1) != k - 1:
                    return True
                seen[i] = k
    return False


def _walk_alone(ports, values, keep, positions, offset, kinds, room):
    """The estimation sd of every window's portfolios by a walk over dense rows, in plain Python: a group's units
    (its pairs whose rows share one date row (``offset``) and are runs (``kinds``), in the same portfolios of every
    window; up to ``room`` units of two pairs or more, in the order first seen) summed first, pair by pair; then
    each window's portfolios walked, a unit added and removed at once with its per-date counts and sums, any other
    pair day by day, every member removed at a group's end (the compiled walk reads runs in place and clears the
    table instead; the same additions and removals in the same order)."""
    values, keep, positions = values.tolist(), keep.tolist(), positions.tolist()
    out = [(np.full(len(port.group), np.nan), np.zeros(len(port.group), np.int64)) for port in ports]
    total, count = [0.0] * ports[0].n_grid, [0] * ports[0].n_grid

    def move(i, sign):
        for p, k, v in zip(positions[i], keep[i], values[i], strict=True):
            if p >= 0 and k and np.isfinite(v):
                count[p] += int(sign)
                total[p] = 0.0 if count[p] == 0 else total[p] + sign * v

    def move_unit(unit, sign):
        lead, sums, counts = unit
        for p, c, v in zip(positions[lead], counts, sums, strict=True):
            if c:
                count[p] += int(sign) * c
                total[p] = 0.0 if count[p] == 0 else total[p] + sign * v

    def sd(i, n):
        on = zip(positions[i], keep[i], values[i], strict=True)
        series = [total[p] / n for p, k, v in on if p >= 0 and k and np.isfinite(v) and count[p] == n]
        if len(series) < 2:
            return np.nan, len(series)
        acc, var = 0.0, 0.0
        for x in series:
            acc += x
        for x in series:
            var += (x - acc / len(series)) * (x - acc / len(series))
        return np.sqrt(var / (len(series) - 1)), len(series)

    def units_of(g):
        in_ports = {}  # each pair of the group (in the order first seen): its portfolios in each window
        for w, port in enumerate(ports):
            for k in range(port.group_starts[g], port.group_starts[g + 1]):
                for i in port.pair[port.starts[k] : port.starts[k + 1]].tolist():
                    in_ports.setdefault(i, [[] for _ in ports])[w].append(k)
        keys = {}
        for i, ks in in_ports.items():
            runs = all(k == list(range(k[0], k[-1] + 1)) for k in ks if k)
            if kinds[i] in (walk.REGENERATED, walk.STORED) and runs:
                keys.setdefault((offset[i], str(ks)), []).append(i)
        unit_of = {}
        for members in [m for m in keys.values() if len(m) > 1][:room]:
            sums, counts = [0.0] * len(values[0]), [0] * len(values[0])
            for i in members:
                for t, (k, v) in enumerate(zip(keep[i], values[i], strict=True)):
                    if k and np.isfinite(v):
                        sums[t] += v
                        counts[t] += 1
            unit_of |= dict.fromkeys(members, (members[0], sums, counts))
        return unit_of

    for g in range(ports[0].n_groups):
        unit_of = units_of(g)
        for port, (s, m) in zip(ports, out, strict=True):
            prev = []
            for k in range(port.group_starts[g], port.group_starts[g + 1]):
                now = port.pair[port.starts[k] : port.starts[k + 1]].tolist()
                moved = []
                for i in sorted(set(prev) ^ set(now)):  # the merge order of the two sorted member lists
                    sign = -1.0 if i in prev else 1.0
                    if i not in unit_of:
                        move(i, sign)
                    elif unit_of[i][0] not in moved:  # a unit's first pair to move moves it
                        move_unit(unit_of[i], sign)
                    moved.append(unit_of[i][0] if i in unit_of else i)
                s[k], m[k] = sd(now[0], len(now)) if moved or k == port.group_starts[g] else (s[k - 1], m[k - 1])
                prev = now
            for i in prev:
                if i not in unit_of:
                    move(i, -1.0)
                elif unit_of[i][0] == i:
                    move_unit(unit_of[i], -1.0)
    return out


@pytest.mark.parametrize("unkept", ["clean", "trimmed", "holes"])
def test_the_windows_estimation_sd_is_each_window_walked_alone(study_stage, rows, groups, unkept, monkeypatch):
    """Each window's (s, m) are those of a walk of the rows themselves, to the bit: rows stored, regenerated and NaN,
    unkept days (the clean days; a shorter run of kept days; holes in it), rows on consecutive dates and rows with
    gaps and dates out of order, several overlapping groups."""
    _, stage = study_stage
    mixed, plain = rows
    start = stage.event_start
    keep = stage.estimation[:, :start]
    some = np.random.default_rng(5).random(len(keep)) < 0.3
    if unkept != "clean":
        keep = keep.copy()
        keep[some, :7] = keep[some, -5:] = False  # a run of kept days that starts and ends later
        if unkept == "holes":
            keep[some, 100:104] = keep[some, 150] = False
    grid, positions = stage.grid.calendar_rows(stage.cells, len(stage.days))
    dense = positions.columns(slice(0, start)).dense().astype(np.int32)
    rng = np.random.default_rng(3)
    gappy = rng.random(len(dense)) < 0.3
    dense[gappy, 40:45] = -1  # no date: a gap
    dense[gappy, 60], dense[gappy, 61] = dense[gappy, 61], dense[gappy, 60]  # out of order
    windows = [(5, 12), (4, 6), (0, 1), (9, 20)]
    event_ar = stage.event_ar.copy()
    if unkept == "holes":  # a window day without an AR: the pair leaves that day's portfolio and enters again (pairs
        holed = np.flatnonzero(np.random.default_rng(9).random(len(keep)) < 0.5)  # of one day 0 with as many
        # portfolios, the same first and last, but not the same ones)
        event_ar[holed, 7 + holed % 3] = event_ar[holed, 12] = np.nan
    ports = [
        portfolios(event_ar[:, a:b], positions.columns(slice(start + a, start + b)), groups, len(grid))
        for a, b in windows
    ]
    assert (unkept == "holes") == any(_reenters(port) for port in ports)
    for est in (positions.columns(slice(0, start)), RowPositions.of(dense)):
        plan = np.empty((len(keep), walk.PLAN_COLUMNS), np.int64)
        kept = RowPositions.of(keep)
        walk._plan(mixed.source(), kept.table, kept.offset, est.table, est.offset, plan)
        kinds = {walk.SKIP, walk.REGENERATED, walk.STORED, walk.OTHER}
        assert set(np.unique(plan[stage.active, walk.KIND])) == kinds - {walk.SKIP}  # every path walked
        assert (plan[~stage.active, walk.KIND] == walk.SKIP).all()
        width, walked = keep.shape[1], {}
        for cells, room in ((walk.UNIT_CELLS, len(keep) // 2), (3 * width, 3), (0, 0)):  # units: all, 3, none
            monkeypatch.setattr(walk, "UNIT_CELLS", cells)
            got = walk.estimation_sd_windows(ports, mixed, keep, est)
            want = _walk_alone(ports, plain, keep, est.dense(), est.offset, plan[:, walk.KIND], room)
            for port, (s, m), (want_s, want_m) in zip(ports, got, want, strict=True):
                _same_bits(s, want_s)
                _same_bits(m, want_m)
                assert np.isfinite(s).sum() > 10 and len(np.unique(port.group)) > 5
            walked[room] = np.concatenate([s for s, _ in got])
        _same_bits(estimation_sd(ports[1], mixed, keep, est)[0], got[1][0])  # one window alone: the same walk
        for guard in ("UNIT_TRACK", "UNIT_TABLE"):  # units off where their records or date table would be too large
            monkeypatch.setattr(walk, "UNIT_CELLS", 1 << 22)
            monkeypatch.setattr(walk, guard, 0)
            _same_bits(np.concatenate([s for s, _ in walk.estimation_sd_windows(ports, mixed, keep, est)]), walked[0])
            monkeypatch.undo()
        # units change only the order of the sums: the same sds to rounding; rows sharing dates make units
        np.testing.assert_allclose(walked[0], walked[len(keep) // 2], rtol=1e-12)
        shared = len(np.unique(est.offset)) < len(est.offset)
        assert shared == (walked[0][~np.isnan(walked[0])] != walked[len(keep) // 2][~np.isnan(walked[0])]).any()
    assert walk.estimation_sd_windows([], mixed, keep, dense) == []
    none = np.zeros((len(dense), 0), np.int32)  # an estimation window of no days: no date, m = 0
    for s, m in walk.estimation_sd_windows(ports, none.astype(float), none.astype(bool), none):
        assert np.isnan(s).all() and (m == 0).all()


OTHERS = ["corrado_rank", "grank"]  # tests whose estimation ARs are read elsewhere (ranks)


def test_the_group_stage_reads_the_estimation_ars_as_the_stages_rows(study_stage, rows, monkeypatch):
    """With the stage's ``estimation_ar`` the mixed rows (stored in another order, regenerated, NaN), the AAR frame
    and the tests are the same to the bit."""
    study, stage = study_stage
    mixed = rows[0]
    labels, groups = _groups(study, stage)
    window = study.windows.events[0]

    def outputs():
        return (
            _aar_frame(study, stage, labels, groups),
            tables.tests_frame(stage, study.windows, groups, labels, bootstrap=(49, 3)),
            group_battery(stage, window, window_days(stage, window), np.flatnonzero(stage.active), (49, 3)),
        )

    want = outputs()
    monkeypatch.setattr(stage_arrays.PairStage, "estimation_ar", property(lambda self: mixed))
    got = outputs()
    _same_frames(want[0], got[0])
    assert np.isfinite(got[0]["aar_t"]).any()
    mine = ~want[1]["test"].isin(OTHERS).to_numpy()
    _same_frames(*(frame[mine].reset_index(drop=True) for frame in (want[1], got[1])))  # rbar and kp_bmp_t too
    finite = got[1][np.isfinite(got[1]["statistic"])]["test"]
    assert {"time_series_t", "generalized_sign", "calendar_time_z", "kp_bmp_t"} <= set(finite)
    assert (got[1]["rbar"].abs() > 1e-6).any()
    for name, result in want[2].items():
        _same_bits(result.statistic, got[2][name].statistic)
    assert np.isfinite(got[2]["calendar_time_z"].statistic)


def test_the_aar_frame_group_and_volatility_tests_never_materialise_the_estimation_ars(study_stage, monkeypatch):
    """They read ``estimation_ar`` row by row and ``event_ar``: neither the (P, D) ``stage.ar`` nor a dense copy of
    the rows (``ArRows.take``/``dense``) is built."""
    study, stage = study_stage
    labels, groups = _groups(study, stage)
    members = [groups.subset(np.isfinite(stage.cars[window]["car"])) for window in study.windows.events]
    calendar = stage.grid.calendar_rows(stage.cells, len(stage.days))

    def outputs():
        return (
            _aar_frame(study, stage, labels, groups),
            group_battery_windows(stage, list(study.windows.events), members, (49, 3), calendar),
            tables.volatility_frame(stage, study.windows, groups, labels),
        )

    want = outputs()

    def refuse(*args):
        raise AssertionError("materialised")

    monkeypatch.setattr(stage_arrays.PairStage, "ar", property(refuse))
    monkeypatch.setattr(ArRows, "take", refuse)
    got = outputs()
    _same_frames(want[0], got[0])
    _same_frames(want[2], got[2])
    for a, b in zip(want[1], got[1], strict=True):
        for name in a:
            _same_bits(a[name].statistic, b[name].statistic)
    with pytest.raises(AssertionError, match="materialised"):
        stage.estimation_ar.dense()


def _same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        if a[column].dtype.kind == "f":
            _same_bits(a[column].to_numpy(), b[column].to_numpy())
        else:
            assert a[column].equals(b[column]), column


def _day_means_in_entry_order(values: np.ndarray, groups: Groups, keep: np.ndarray | None):
    """``group_day_means`` the obvious way: each entry, in entry order, adds its pair's kept finite values."""
    total = np.zeros((groups.n_groups, values.shape[1]))
    n = np.zeros((groups.n_groups, values.shape[1]), dtype=np.int64)
    for g, i in zip(groups.group, groups.pair, strict=True):
        ok = np.isfinite(values[i]) & (True if keep is None else keep[i])
        total[g, ok] += values[i, ok]
        n[g] += ok
    return np.where(n > 0, total / np.maximum(n, 1), np.nan), n


def _entry_orders(groups: Groups) -> dict[str, Groups]:
    """The groups as kept (sorted by group and pair: a pair's row is read once for all its groups), with each
    group's entries reversed, and shuffled (both visited in entry order)."""
    flip = np.lexsort((-groups.pair, groups.group))
    shuffle = np.random.default_rng(5).permutation(len(groups.pair))
    return {
        "sorted": groups,
        "reversed": Groups(groups.group[flip], groups.pair[flip], groups.n_groups, groups.n_pairs),
        "shuffled": Groups(groups.group[shuffle], groups.pair[shuffle], groups.n_groups, groups.n_pairs),
    }


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled"])
@pytest.mark.parametrize("masked", [False, True])
def test_group_day_sums_add_each_groups_entries_in_entry_order(study_stage, rows, groups, order, masked):
    """Stored, regenerated and NaN rows, pairs in several groups (each event's and the pooled one): the bits of
    adding every entry's values in entry order, whichever order the entries come in."""
    _, stage = study_stage
    mixed, plain = rows
    width = plain.shape[1]
    keep = stage.estimation[:, :width] if masked else None
    several = _entry_orders(groups)[order]
    assert np.bincount(several.pair).max() >= 3
    got = group_day_means(mixed, several, keep)
    for a, b in zip(got, _day_means_in_entry_order(plain, several, keep), strict=True):
        _same_bits(a, b)
    assert np.isfinite(got[0]).any() and (got[1] > 0).any()


def test_group_day_sums_leave_out_nan_inf_and_negative_zero_as_the_plain_sums_do():
    """A row's values not counted are added as +0.0: no bit of a sum changes (a sum of -0.0 values stays +0.0)."""
    values = np.array(
        [[-0.0, np.nan, 1.5, -0.0], [-0.0, np.inf, -np.inf, 2.0], [np.nan, -0.0, 0.25, 1e-300], [3.0, -3.0, 0.0, -0.0]]
    )
    groups = Groups.from_masks([[True, True, False, False], [False, True, True, True], [True, True, True, True]])
    keep = np.array([[True, True, False, False], [True, True, True, True], [False, True, True, True], [True] * 4])
    for k in (None, keep):
        got = group_day_means(values, groups, k)
        for a, b in zip(got, _day_means_in_entry_order(values, groups, k), strict=True):
            _same_bits(a, b)
    assert np.signbit(group_day_means(values, groups)[0][:, 0]).sum() == 0
    for k in (None, keep):  # +inf is positive, not finite
        sums, share = group_day_sums(values, groups, k), positive_share(values, k)
        np.testing.assert_array_equal(sums.positive, np.round(share.share * share.count).astype(np.int64))
        np.testing.assert_array_equal(sums.finite, share.count)


def test_the_tests_take_the_portfolio_sd_and_positive_shares_from_the_aar_frames_estimation_sums(
    study_stage, monkeypatch
):
    """``finish`` reads the estimation ARs of its groups once (``estimation_sums``): a window whose members are
    those groups takes its portfolio sd from their AAR (not summed again), one whose members lack a pair sums its
    own; the positive shares come from the same pass; the tests are the same to the bit."""
    study, stage = study_stage
    labels, groups = _groups(study, stage)
    want = tables.tests_frame(stage, study.windows, groups, labels)
    calls = []
    monkeypatch.setattr(tables, "portfolio_sd", lambda *args: calls.append(args[1]) or portfolio_sd(*args))
    monkeypatch.setattr(tables, "positive_share", lambda *args: calls.append("positive") or positive_share(*args))
    sums = tables.estimation_sums(stage, study.windows, groups)
    _same_bits(sums.mean, _aar_frame_estimation(stage, study, groups))
    _same_frames(tables.tests_frame(stage, study.windows, groups, labels, estimation=sums), want)
    assert calls == []
    lacking = dataclasses.replace(stage, cars={**stage.cars})
    first = study.windows.events[0]
    car = stage.cars[first]["car"].copy()
    car[np.flatnonzero(np.isfinite(car))[0]] = np.nan
    lacking.cars[first] = {**stage.cars[first], "car": car}
    got = tables.tests_frame(lacking, study.windows, groups, labels, estimation=sums)
    assert len(calls) == 1 and calls[0].n_groups == groups.n_groups and len(calls[0].pair) < len(groups.pair)
    _same_frames(got, tables.tests_frame(lacking, study.windows, groups, labels))


@pytest.mark.parametrize("masked", [False, True])
def test_group_day_sums_count_each_pairs_positive_and_finite_values_as_positive_share(
    study_stage, rows, groups, masked
):
    """Stored, regenerated and NaN rows: each pair in a group gets the counts of ``positive_share``, once however
    many groups it is in; a pair in no group 0."""
    _, stage = study_stage
    mixed, plain = rows
    keep = stage.estimation[:, : plain.shape[1]] if masked else None
    some = groups.subset(np.arange(len(plain)) % 4 != 1)
    sums = group_day_sums(mixed, some, keep)
    share = positive_share(plain, keep)
    inside = np.isin(np.arange(len(plain)), some.pair)
    assert inside.sum() < len(plain) and (share.count[~inside] > 0).any() and (share.count[inside] > 0).any()
    np.testing.assert_array_equal(sums.finite, np.where(inside, share.count, 0))
    _same_bits(PositiveShare.of_counts(sums.positive, sums.finite).share, np.where(inside, share.share, 0.0))


def _aar_frame_estimation(stage, study, groups: Groups) -> np.ndarray:
    """The estimation AAR of ``groups`` summed here from the stage's plain ARs (clean days only)."""
    days = slice(*np.searchsorted(stage.days, [study.windows.estimation[0], study.windows.estimation[1] + 1]))
    plain = np.asarray(stage.ar)[:, days]
    return _day_means_in_entry_order(plain, groups, stage.estimation[:, days])[0]
