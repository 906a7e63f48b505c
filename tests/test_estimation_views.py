"""The estimation ARs read in place: every consumer given a strided view of the ARs and the clean-estimation mask
(``valid=``) gives the bits it gives the NaN-filled copy, and the engine hands it views of the stage's arrays (no
(pairs x days) copy of ARs or masks) and the calendar positions as windows onto one table of the grid's sessions
(:class:`~eventstudy.inference.row_positions.RowPositions`, no (pairs x days) positions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine import group_tests, stage_arrays, tables
from eventstudy.engine.rank_tests import corrado_rank_windows, positive_share
from eventstudy.engine.ranking import RankedRows
from eventstudy.engine.stages import run_pairs
from eventstudy.engine.statistics import portfolio_sd, time_series_t_groups
from eventstudy.inference import correlation as cr
from eventstudy.inference.calendar_time import calendar_positions
from eventstudy.inference.groups import Groups
from eventstudy.simulate import simulate_study

N, L1, L2 = 150, 100, 5


@pytest.fixture(scope="module")
def panel():
    """Residuals of 150 pairs on staggered dates (a block on one date with complete data, scattered gaps, rows on
    every other session) laid out as a stage lays them out: estimation days, a gap, the window days, as columns
    of one array, so that the estimation days are a strided view. Days outside the clean mask hold finite values
    (a NaN-filled copy would hide them); some clean days have no return (NaN)."""
    rng = np.random.default_rng(21)
    cal = pd.bdate_range("2024-01-01", periods=300).values.astype("datetime64[ns]")
    start = np.sort(rng.integers(2 * L1 + 5, 280, N))
    start[:40] = start[0]
    common = rng.normal(size=len(cal))
    dates = np.stack([cal[s - L1 - 5 : s - 5] for s in start])
    dates[120:] = [cal[s - 2 * L1 - 5 : s - 5 : 2] for s in start[120:]]  # every other session: rows merge dates
    windows = np.stack([cal[s : s + L2] if s + L2 <= len(cal) else cal[s - L2 : s] for s in start])
    grid, (positions, window_positions) = calendar_positions(dates, windows)
    ar = np.full((N, L1 + 5 + L2), 7.0)  # 7.0: the gap's days, never read
    ar[:, :L1] = 0.5 * np.stack([common[s - L1 - 5 : s - 5] for s in start]) + rng.normal(size=(N, L1))
    ar[:, L1 + 5 :] = rng.normal(size=(N, L2))
    clean = np.ones(ar.shape, bool)
    clean[60:, :L1] = rng.random((N - 60, L1)) >= 0.2  # scattered unclean days: the pairwise kernel, BLAS
    clean[55:60, :L1] = False  # rows without a clean day
    ar[:, :L1][~clean[:, :L1]] = rng.normal(size=(~clean[:, :L1]).sum()) * 3  # finite, but not clean
    ar[[70, 90, 130], 3] = np.nan  # clean days without a return
    pos = np.full(ar.shape, -1, positions.dtype)
    pos[:, :L1], pos[:, L1 + 5 :] = positions, window_positions
    view, valid = ar[:, :L1], clean[:, :L1]
    filled = np.where(valid, view, np.nan)
    groups = Groups.from_masks([np.ones(N, bool), np.arange(N) % 3 == 0, np.arange(N) < 45, np.zeros(N, bool)])
    return view, valid, filled, pos[:, :L1], pos[:, L1 + 5 :], ar[:, L1 + 5 :], groups


@pytest.mark.parametrize("cell_min_pairs", [1, cr.CELL_MIN_PAIRS])
@pytest.mark.parametrize("rows_per_batch", [12, cr.ROWS_PER_BATCH])
def test_rbar_of_a_view_and_its_mask_is_rbar_of_the_nan_filled_copy(panel, monkeypatch, cell_min_pairs, rows_per_batch):
    view, valid, filled, positions, window_positions, _, groups = panel
    assert not view.flags.c_contiguous and not positions.flags.c_contiguous
    monkeypatch.setattr(cr, "CELL_MIN_PAIRS", cell_min_pairs)
    monkeypatch.setattr(cr, "ROWS_PER_BATCH", rows_per_batch)
    want = cr.correlations_of_windows(filled, np.ascontiguousarray(positions), [window_positions], [groups])[0]
    got = cr.correlations_of_windows(view, positions, [window_positions], [groups], valid=valid)[0]
    assert got.tobytes() == want.tobytes()
    alone = cr.correlations_at_positions(view, positions, window_positions, groups, valid=valid)
    assert alone.tobytes() == want.tobytes()
    assert (want[:3] != 0).all()
    unmasked = cr.correlations_of_windows(view, positions, [window_positions], [groups])[0]  # the junk counts
    assert unmasked.tobytes() != want.tobytes()
    with pytest.raises(ValueError, match="does not match"):
        cr.correlations_of_windows(view, positions, [window_positions], [groups], valid=valid[:, 1:])


def test_positive_share_of_a_view_and_its_mask(panel):
    view, valid, filled = panel[:3]
    got, want = positive_share(view, valid), positive_share(filled)
    assert got.share.tobytes() == want.share.tobytes() and np.array_equal(got.count, want.count)
    assert (want.count[55:60] == 0).all() and (want.count < L1).any()
    with pytest.raises(ValueError, match="does not match"):
        positive_share(view, valid[:-1])


def test_portfolio_sd_and_time_series_t_of_a_view_and_its_mask(panel):
    view, valid, filled, _, _, window, groups = panel
    for got, want in zip(portfolio_sd(view, groups, valid), portfolio_sd(filled, groups), strict=True):
        assert got.tobytes() == want.tobytes()
    got = time_series_t_groups(view, window, groups, valid=valid)
    want = time_series_t_groups(filled, window, groups)
    for field in ("statistic", "p_value", "n"):
        assert getattr(got, field).tobytes() == getattr(want, field).tobytes()
    assert np.isfinite(want.statistic[:3]).all()


def test_ranked_view_and_mask_are_the_ranked_copy(panel):
    view, valid, filled, _, _, window, groups = panel
    got, want = RankedRows.of(view, valid=valid), RankedRows.of(filled)
    assert np.array_equal(got.count, want.count) and np.array_equal(got.order, want.order)
    whole = np.concatenate([view, window], axis=1)  # Corrado reads the window days from the stage's ARs
    columns = [np.arange(L1, L1 + L2)]
    (a,), (b,) = (corrado_rank_windows(ranked, whole, columns, [groups]) for ranked in (got, want))
    assert a.statistic.tobytes() == b.statistic.tobytes() and np.array_equal(a.n, b.n)


@pytest.fixture(scope="module")
def stage():
    sim = simulate_study(n_events=6, n_firms=5, rho=0.3, effect=0.01, same_date=False, n_days=420, seed=8)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=0)
    return run_pairs(study, study.events, study.prices), study


def test_tests_frame_hands_views_of_the_stage(stage, monkeypatch):
    """The estimation ARs, their mask and the positions every consumer gets are the stage's memory (the ARs as its
    rows, stored or regenerated: ``stage.ar``, the (P, D) array, is never built), and the group tests read the
    stage's ARs in place when only some pairs are members."""
    stage, study = stage
    seen, rbar_args, portfolio_args = [], [], []
    real_estimation, real_rbar, real_portfolios = tables.Estimation, tables.correlations_of_windows, None

    def estimation(*args):
        seen.append(real_estimation(*args))
        return seen[-1]

    def rbar(*args, **kwargs):
        rbar_args.append((args, kwargs))
        return real_rbar(*args, **kwargs)

    real_portfolios = group_tests.portfolios

    def portfolios(ar, positions, groups, n_grid):
        portfolio_args.append((ar, positions))
        return real_portfolios(ar, positions, groups, n_grid)

    monkeypatch.setattr(tables, "Estimation", estimation)
    monkeypatch.setattr(tables, "correlations_of_windows", rbar)
    monkeypatch.setattr(group_tests, "portfolios", portfolios)
    monkeypatch.setattr(stage_arrays.PairStage, "ar", property(lambda self: pytest.fail("stage.ar was built")))
    some = np.flatnonzero(stage.active)[::2]  # half the pairs: the group tests' rows are a subset
    groups = Groups.from_masks([np.isin(np.arange(len(stage)), some)])
    frame = tables.tests_frame(stage, study.windows, groups, np.array(["half"], dtype=object), bootstrap=(9, 1))
    assert np.isfinite(frame["statistic"]).sum() > 20
    (est,) = seen
    assert est.rows.stored is stage.ar_stored and est.rows.slot is stage.ar_slot  # stored or regenerated in place
    assert np.shares_memory(est.clean, stage.estimation)
    assert est.sigma is stage.sigma and est.positions.table is est.calendar[1].table  # SARs: AR / sigma
    sessions, days = len(stage.grid.sessions), len(stage.days)
    assert len(est.calendar[1].table) == sessions + (len(stage.grid.blocks) + 1) * days  # no (P, D) positions
    ((args, kwargs),) = rbar_args
    assert args[0] is est.rows and args[1] is est.positions and kwargs["valid"] is est.clean  # rbar reads ArRows
    assert len(portfolio_args) == len(study.windows.events)
    for ar, positions in portfolio_args:
        assert np.shares_memory(ar, stage.event_ar) and positions.table is est.calendar[1].table
