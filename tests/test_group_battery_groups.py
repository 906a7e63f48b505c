"""The group tests of every group at once (calendar-time, Binder, BHAR, wild bootstrap) against each group alone.

About 30 random groups (one-date groups, staggered ones, overlapping, with missing returns and dates, tiny and
empty ones): every grouped result equals the one-group function on that group's own rows (and, for Binder, the
per-group Binder system built from the group's rows as the engine did one group at a time) to 1e-12.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine import group_tests, tables
from eventstudy.engine.group_tests import GROUP_TEST_NAMES, binder_windows, group_battery, group_battery_groups
from eventstudy.engine.stages import run_pairs
from eventstudy.inference.bhar import bhar_skew_t
from eventstudy.inference.binder import binder_sur
from eventstudy.inference.bootstrap import wild_bootstrap_caar, wild_bootstrap_caar_groups
from eventstudy.inference.calendar_time import (
    calendar_positions,
    calendar_time_nw,
    calendar_time_nw_groups,
    calendar_time_z,
    calendar_time_z_groups,
    pairs_with_returns,
)
from eventstudy.inference.groups import Groups
from eventstudy.inference.result import NA
from eventstudy.inference.result import TestResult as Result
from eventstudy.inference.threads import concurrent_kernels, in_background
from eventstudy.simulate import simulate_study

SESSIONS = pd.bdate_range("2022-01-03", periods=500).values


def _same(got: Result, want: Result) -> None:
    assert got.n == want.n
    for a, b in ((got.statistic, want.statistic), (got.p_value, want.p_value)):
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12), (got, want)


def _panel(seed: int = 0, n_pairs: int = 120, length: int = 4):
    """Pairs on 12 event dates (10 pairs each), a third of them shifted (staggered), common shocks per date;
    some missing returns and some dates outside the calendar (NaT)."""
    rng = np.random.default_rng(seed)
    day0 = np.repeat(rng.choice(np.arange(200, 420), n_pairs // 10, replace=False), 10)
    shifted = rng.random(n_pairs) < 0.3
    day0[shifted] += rng.integers(1, 15, shifted.sum())
    common = rng.normal(size=len(SESSIONS))
    noise = 0.01 * (0.5 * common[None, :] + rng.normal(size=(n_pairs, len(SESSIONS))))
    rows = np.arange(n_pairs)[:, None]
    win, est = day0[:, None] + np.arange(length)[None, :], day0[:, None] + np.arange(-150, -10)[None, :]
    ar, ar_est = noise[rows, win] + 0.002, noise[rows, est]
    dates, dates_est = SESSIONS[win], SESSIONS[est]
    ar[rng.random(ar.shape) < 0.05] = np.nan
    ar_est[rng.random(ar_est.shape) < 0.05] = np.nan
    ar_est[3, :130] = np.nan  # a pair with too few estimation residuals
    dates[5, 2] = np.datetime64("NaT")
    dates_est[6, :20] = np.datetime64("NaT")
    ar[7] = np.nan  # a pair without a window return
    return ar, dates, ar_est, dates_est


def _random_groups(n_pairs: int, events: np.ndarray, rng) -> list[np.ndarray]:
    """Each event's pairs, subsets of events, random overlapping samples of 1 to 60 pairs, everything, nothing."""
    masks = [events == e for e in np.unique(events)[:12]]
    masks += [(events == e) & (rng.random(n_pairs) < 0.5) for e in np.unique(events)[:4]]
    masks += [rng.random(n_pairs) < p for p in (0.02, 0.05, 0.1, 0.2, 0.4)]
    masks += [
        np.isin(np.arange(n_pairs), rng.choice(n_pairs, min(k, n_pairs), replace=False)) for k in (1, 2, 3, 25, 60)
    ]
    masks += [np.ones(n_pairs, bool), np.zeros(n_pairs, bool)]
    return masks


def test_calendar_time_and_bootstrap_groups_equal_each_group_alone():
    ar, dates, ar_est, dates_est = _panel()
    rng = np.random.default_rng(1)
    masks = _random_groups(len(ar), np.arange(len(ar)) // 10, rng)
    groups = Groups.from_masks(masks)
    z = calendar_time_z_groups(ar, dates, ar_est, dates_est, groups)
    nw = calendar_time_nw_groups(ar, dates, groups, lags=3, min_days=5)
    boot = wild_bootstrap_caar_groups(ar, dates, groups, draws=99, seed=4)
    assert len(masks) >= 25 and np.isfinite(z.statistic).sum() >= 20 and np.isfinite(nw.statistic).sum() >= 3
    for g, mask in enumerate(masks):
        sub = (ar[mask], dates[mask])
        _same(z[g], calendar_time_z(*sub, ar_est[mask], dates_est[mask]))
        _same(nw[g], calendar_time_nw(*sub, lags=3, min_days=5))
        _same(boot[g], wild_bootstrap_caar(*sub, draws=99, seed=4))
    assert np.isnan(z.statistic[-1]) and z.n[-1] == 0  # the empty group


def test_positions_of_dates_that_are_not_whole_days():
    """Intraday timestamps take the sorting path; both paths give each date's rank among the distinct dates."""
    _, dates, _, dates_est = _panel(seed=2)
    for shift in (np.timedelta64(0, "h"), np.timedelta64(9, "h")):
        a, b = dates + shift, dates_est + shift
        a[0, 0] += np.timedelta64(30, "m") if shift else np.timedelta64(0, "m")
        grid, (pa, pb) = calendar_positions(a, b)
        valid = np.concatenate([a[~np.isnat(a)], b[~np.isnat(b)]])
        assert np.array_equal(grid, np.unique(valid))
        assert np.array_equal(pa, np.where(np.isnat(a), -1, np.searchsorted(grid, a)))
        assert np.array_equal(pb, np.where(np.isnat(b), -1, np.searchsorted(grid, b)))


@pytest.fixture(scope="module")
def stage():
    """A study of 8 events x 6 firms on their own dates, some firms shifted by a few sessions, some prices missing
    (gaps: trade-to-trade returns and missing ARs)."""
    sim = simulate_study(n_events=8, n_firms=6, rho=0.3, effect=0.01, same_date=False, n_days=420, seed=41)
    rng = np.random.default_rng(41)
    prices = sim.prices
    drop = (prices["ticker"] != sim.market) & (rng.random(len(prices)) < 0.01)
    shifted = sim.events.copy()
    sessions = pd.DatetimeIndex(np.unique(prices["date"]))
    move = rng.random(len(shifted)) < 0.2
    shifted.loc[move, "date"] = sessions[sessions.get_indexer(shifted.loc[move, "date"]) + 2]
    study = EventStudy(
        shifted, prices[~drop], market=sim.market, calendar="data", windows=[(0, 0), (-2, 3)], placebo_draws=0
    )
    return run_pairs(study, study.events, study.prices), study


def _binder_alone(stage, wmask: np.ndarray, idx: np.ndarray) -> tuple[Result, Result]:
    """Binder's two tests of one group as the engine computed them one group at a time (the reference)."""
    n = len(idx)
    missing = (Result(NA, NA, n), Result(NA, NA, n))
    if n < 2 or any(len(set(stage.pairs[c].to_numpy()[idx])) != 1 for c in ("day0", "venue")):
        return missing
    if len(set(stage.pairs["ticker"].to_numpy()[idx])) != n or len(set(stage.model[idx])) != 1:
        return missing
    design = stage.design[idx]
    offset = stage.normal[idx] - np.einsum("pdk,pk->pd", design, np.nan_to_num(stage.params[idx]))
    y = stage.returns[idx] - offset
    have = np.isfinite(y) & np.isfinite(design).all(axis=2) & (stage.span[idx] == 1)
    est = stage.estimation[idx].all(axis=0) & have.all(axis=0)
    win = wmask & have.all(axis=0)
    x = design[0]
    if not win.any() or not np.allclose(design[:, est | win], x[None, est | win], equal_nan=False):
        return missing
    fit = binder_sur(y[:, est].T, x[est], y[:, win].T, x[win])
    return missing if fit is None else (fit.joint, fit.average)


@pytest.mark.parametrize("window", [(0, 0), (-2, 3)])
def test_group_battery_groups_equals_each_group_alone(stage, window):
    stage, study = stage
    wmask = (stage.days >= window[0]) & (stage.days <= window[1])
    members = stage.active & np.isfinite(stage.cars[window]["car"])
    events = pd.factorize(stage.pairs["event_id"])[0]
    masks = [m & members for m in _random_groups(len(events), events, np.random.default_rng(7))]
    masks.append(members & (events == 0) & (np.arange(len(events)) < np.flatnonzero(events == 0)[2]))  # 2 pairs
    groups = Groups.from_masks(masks)
    got = group_battery_groups(stage, window, wmask, groups, (99, 3))
    grid, (positions,) = calendar_positions(np.asarray(stage.dates))
    shared = group_battery_groups(stage, window, wmask, groups, (99, 3), (grid, positions))
    for name in GROUP_TEST_NAMES:  # positions on the grid of every pair's dates (as tests_frame passes them)
        np.testing.assert_allclose(shared[name].statistic, got[name].statistic, rtol=1e-12, atol=0, equal_nan=True)
        np.testing.assert_allclose(shared[name].p_value, got[name].p_value, rtol=1e-12, atol=0, equal_nan=True)
        np.testing.assert_array_equal(shared[name].n, got[name].n)
    ar, dates = stage.ar[:, wmask], stage.dates[:, wmask]
    ar_est = np.where(stage.estimation, stage.ar, np.nan)
    binder = 0
    for g, mask in enumerate(masks):
        idx = np.flatnonzero(mask)
        joint, average = _binder_alone(stage, wmask, idx)
        binder += np.isfinite(joint.statistic)
        want = {
            "calendar_time_z": calendar_time_z(ar[idx], dates[idx], ar_est[idx], stage.dates[idx]),
            "calendar_time_nw": calendar_time_nw(ar[idx], dates[idx], lags=int(wmask.sum()) - 1),
            "binder_wald": joint,
            "binder_caar_z": average,
            "bhar_skew_t": bhar_skew_t(stage.cars[window]["bhar"][idx]),
            "wild_bootstrap": wild_bootstrap_caar(ar[idx], dates[idx], 99, 3),
        }
        alone = group_battery(stage, window, wmask, idx, (99, 3))
        for name in GROUP_TEST_NAMES:
            _same(got[name][g], want[name])
            _same(alone[name], want[name])
    assert binder >= 6  # the one-date groups have their Binder system
    assert np.isfinite(got["calendar_time_z"].statistic).sum() >= 20


def test_binder_windows_share_systems_across_windows(stage):
    """Several windows at once (systems shared by windows estimated once; some groups differ between windows):
    every window's Binder tests equal each group's system built alone, as the engine did one window at a time."""
    stage, _ = stage
    events = pd.factorize(stage.pairs["event_id"])[0]
    rng = np.random.default_rng(11)
    wmasks, groups, masks = [], [], []
    for window in [(0, 0), (-2, 3), (0, 0)]:  # the repeated window: other random groups
        members = stage.active & np.isfinite(stage.cars[window]["car"])
        window_masks = [m & members for m in _random_groups(len(events), events, rng)]
        window_masks[1] &= rng.random(len(events)) < 0.8  # a system of this window only
        wmasks.append((stage.days >= window[0]) & (stage.days <= window[1]))
        groups.append(Groups.from_masks(window_masks))
        masks.append(window_masks)
    got = binder_windows(stage, wmasks, groups)
    finite = 0
    for wmask, window_masks, (joint, average) in zip(wmasks, masks, got, strict=True):
        for g, mask in enumerate(window_masks):
            want_joint, want_average = _binder_alone(stage, wmask, np.flatnonzero(mask))
            _same(joint[g], want_joint)
            _same(average[g], want_average)
            finite += np.isfinite(joint.statistic[g])
    assert finite >= 18


def test_binder_batches_written_over_each_other_give_the_numbers_of_one_batch(stage, monkeypatch):
    """Every system in a batch of its own (each batch's arrays written over the previous one's, in buffers
    reshaped for systems of several sizes) gives the numbers of all systems in one batch, bit for bit."""
    stage, _ = stage
    events = pd.factorize(stage.pairs["event_id"])[0]
    rng = np.random.default_rng(5)
    wmasks = [(stage.days >= lo) & (stage.days <= hi) for lo, hi in [(0, 0), (-2, 3)]]
    masks = [[m & stage.active for m in _random_groups(len(events), events, rng)] for _ in wmasks]
    groups = [Groups.from_masks(window_masks) for window_masks in masks]
    together = binder_windows(stage, wmasks, groups)
    monkeypatch.setattr(group_tests, "BATCH_CELLS", 1)  # one system a batch
    apart = binder_windows(stage, wmasks, groups)
    sizes = set()
    for w, (joint, average) in enumerate(apart):
        for a, b in [(joint, together[w][0]), (average, together[w][1])]:
            np.testing.assert_array_equal(a.statistic, b.statistic)
            np.testing.assert_array_equal(a.p_value, b.p_value)
        for g, mask in enumerate(masks[w]):  # and both are each system's own
            want_joint, want_average = _binder_alone(stage, wmasks[w], np.flatnonzero(mask))
            _same(joint[g], want_joint)
            _same(average[g], want_average)
        sizes |= set(groups[w].sizes[np.isfinite(joint.statistic)].tolist())
    assert len(sizes) >= 2  # systems of several sizes were solved


def test_tests_frame_group_rows_are_group_battery_groups_of_each_window(stage, monkeypatch):
    """tests_frame computes the group tests of every window on a thread of its own (beside the ranks and the
    rest of the battery): its rows equal group_battery_groups of each window computed directly, and an error in
    that thread reaches the caller."""
    stage, study = stage
    events = pd.factorize(stage.pairs["event_id"])[0]
    masks = _random_groups(len(events), events, np.random.default_rng(5))
    labels = np.array([f"G{g}" for g in range(len(masks))], dtype=object)
    groups = Groups.from_masks([m & stage.active for m in masks])
    frame = tables.tests_frame(stage, study.windows, groups, labels, bootstrap=(99, 3))
    for window in study.windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        members = groups.subset(np.isfinite(stage.cars[window]["car"]))
        want = group_battery_groups(stage, window, wmask, members, (99, 3))
        rows = frame[frame["window"] == f"{window[0]}..{window[1]}"]
        for name in GROUP_TEST_NAMES:
            got = rows[rows["test"] == name]
            assert got["group"].tolist() == labels.tolist()
            np.testing.assert_allclose(got["statistic"], want[name].statistic, rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(got["p_value"], want[name].p_value, rtol=1e-12, equal_nan=True)
            np.testing.assert_array_equal(got["n"], want[name].n)

    def broken(*args):
        raise RuntimeError("binder failed")

    monkeypatch.setattr(tables, "group_battery_windows", broken)
    with pytest.raises(RuntimeError, match="binder failed"):
        tables.tests_frame(stage, study.windows, groups, labels)


def test_tests_frame_rank_rows_are_corrado_and_grank_of_each_window(stage):
    """tests_frame computes Corrado and GRANK of every window on a thread of their own, from the shared ranking: its
    rows equal both tests computed directly from each window's plain arrays."""
    from eventstudy.engine.rank_tests import corrado_rank_groups, grank_groups

    stage, study = stage
    events = pd.factorize(stage.pairs["event_id"])[0]
    masks = _random_groups(len(events), events, np.random.default_rng(8))
    labels = np.array([f"G{g}" for g in range(len(masks))], dtype=object)
    groups = Groups.from_masks([m & stage.active for m in masks])
    frame = tables.tests_frame(stage, study.windows, groups, labels)
    est = (stage.days >= study.windows.estimation[0]) & (stage.days <= study.windows.estimation[1])
    clean = stage.estimation[:, est]
    ar_est, sar_est = (np.where(clean, a[:, est], np.nan) for a in (stage.ar, stage.sar))
    for window in study.windows.events:
        wmask = (stage.days >= window[0]) & (stage.days <= window[1])
        members = groups.subset(np.isfinite(stage.cars[window]["car"]))
        want = {
            "corrado_rank": corrado_rank_groups(ar_est, stage.ar[:, wmask], members),
            "grank": grank_groups(sar_est, stage.csar[window], members),
        }
        rows = frame[frame["window"] == f"{window[0]}..{window[1]}"]
        for name, result in want.items():
            got = rows[rows["test"] == name]
            assert got["group"].tolist() == labels.tolist()
            np.testing.assert_array_equal(got["statistic"], result.statistic)
            np.testing.assert_array_equal(got["n"], result.n)
            assert np.isfinite(result.statistic).sum() >= 10


@pytest.mark.parametrize(("layer", "own_thread"), [("omp", True), ("tbb", True), ("workqueue", False), (None, False)])
def test_group_tests_leave_the_calling_thread_only_on_a_threadsafe_numba_layer(monkeypatch, layer, own_thread):
    """numba's workqueue layer aborts the process when two threads launch parallel kernels at once: there (and
    before any layer is chosen) the group tests run on the calling thread."""
    import threading

    def threading_layer():
        if layer is None:
            raise ValueError("Threading layer is not initialized.")
        return layer

    monkeypatch.setattr(numba, "threading_layer", threading_layer)
    ran_on = in_background(threading.current_thread).result()
    assert (ran_on is not threading.current_thread()) is own_thread


def test_pairs_with_returns_counts_each_groups_rows_with_a_finite_value():
    """The tests' n: per group, its pairs whose window row has a finite AR (rows all NaN, NaN then finite, inf, a
    pair in several groups, an empty group), as the (P, L) mask of numpy counts them; on a slice of columns too."""
    rng = np.random.default_rng(2)
    ar = rng.normal(size=(200, 9))
    ar[rng.random(ar.shape) < 0.6] = np.nan
    ar[:20] = np.nan
    ar[20:30, :8], ar[30:35, 0] = np.nan, np.inf
    masks = rng.random((6, 200)) < 0.4
    masks[4] = False
    groups = Groups.from_masks(masks)
    for values in (ar, ar[:, 2:7]):
        want = groups.count(np.isfinite(values).any(axis=1))
        np.testing.assert_array_equal(pairs_with_returns(values, groups), want)
    assert want[4] == 0 and 0 < np.delete(want, 4).min() < want.max()


def test_the_tables_no_test_feeds_are_built_while_the_rank_walk_runs(monkeypatch):
    """``finish`` builds the AAR, car and parameter tables on the calling thread while Corrado's and GRANK's walk
    still runs on its own (the walk's last second at 1M pairs otherwise left a core idle): a walk that waits for the
    car table ends; had the tables come after the tests, it would wait in vain. The numbers are those of a fit
    whose walk does not wait."""
    import threading

    from eventstudy import EventStudy
    from eventstudy.engine import stages
    from eventstudy.simulate import simulate_study

    sim = simulate_study(n_events=12, n_firms=5, effect=0.01, rho=0.2, same_date=False, seed=8)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", min_obs=100)
    want = study.fit()
    if not concurrent_kernels():
        pytest.skip("numba's workqueue layer: the tests run on the calling thread")
    built, walked = threading.Event(), []
    car_frame, rank_windows = stages.car_frame, tables._rank_windows

    def car_then_signal(stage):
        frame = car_frame(stage)
        built.set()
        return frame

    def walk_after_the_tables(*args):
        walked.append(built.wait(timeout=10))
        return rank_windows(*args)

    monkeypatch.setattr(stages, "car_frame", car_then_signal)
    monkeypatch.setattr(tables, "_rank_windows", walk_after_the_tables)
    got = study.fit()
    assert walked and all(walked)  # (the first walk is the study's; the placebo draws' come after its tables)
    for name in ("tests", "car", "aar", "parameters"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name))
