"""The rank tests read the estimation ARs as rows stored, regenerated from the session grid or NaN
(:class:`~eventstudy.inference.ar_rows.ArRows`): their sort orders, Corrado and GRANK equal those of the plain
(P, L1) array bit for bit, and the engine's rank tests never make that array."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from test_ar_rows import _regenerated

import eventstudy.engine.pair_stage as stages
from eventstudy import EventStudy
from eventstudy.engine import rank_walks, ranking, tables
from eventstudy.engine.rank_tests import corrado_rank_windows, grank_windows
from eventstudy.engine.ranking import RankedRows
from eventstudy.inference import threads
from eventstudy.inference.ar_rows import MARKET_ROW, NAN_ROW, ArRows, matching_rows
from eventstudy.inference.groups import Groups
from eventstudy.simulate import simulate_study


@pytest.fixture(scope="module")
def study_stage():
    """A market-model study with sessions missing for one ticker (its rows are not regenerated: stored)."""
    sim = simulate_study(n_events=16, n_firms=6, effect=0.01, rho=0.2, same_date=False, seed=4)
    rng = np.random.default_rng(6)
    prices = sim.prices
    gappy = prices["ticker"] == sorted(set(prices["ticker"]) - {sim.market})[0]
    drop = (rng.random(len(prices)) < 0.03) & gappy.to_numpy()
    study = EventStudy(
        sim.events, prices[~drop].reset_index(drop=True), market=sim.market, calendar="data", min_obs=100
    )
    return study, stages.run_pairs(study, study.events, study.prices)


def _mixed(stage, nan_rows=()) -> tuple[ArRows, np.ndarray]:
    """The stage's estimation ARs as rows regenerated where the grid reproduces them, stored where not (the gappy
    ticker's) and NaN (pairs not studied, and ``nan_rows``); with the plain (P, L1) array of the same values."""
    regenerated = _regenerated(stage)
    plain = np.array(stage.ar[:, : stage.event_start])
    plain[list(nan_rows)] = np.nan
    same = matching_rows(regenerated, plain) & stage.active
    same[list(nan_rows)] = False
    kept = np.flatnonzero(~same & np.isfinite(plain).any(axis=1))
    slot = np.where(same, MARKET_ROW, NAN_ROW)
    slot[kept] = np.arange(len(kept))
    stored = np.zeros((len(kept), plain.shape[1] + 3))
    stored[:, 2 : 2 + plain.shape[1]] = plain[kept]  # stored rows read from a column offset of their own array
    rows = ArRows(stored, slot, 2, plain.shape[1], *(getattr(regenerated, f) for f in _GRID_FIELDS))
    assert rows.regenerated >= len(plain) // 2 and len(kept) > 0 and (slot == NAN_ROW).any()
    assert matching_rows(rows, plain).all()
    return rows, plain


_GRID_FIELDS = ("returns", "market", "start", "column", "lo", "hi", "alpha", "beta")


def _groups(n: int, rng) -> Groups:
    return Groups.from_masks([rng.random(n) < p for p in (0.3, 0.6, 0.9)] + [np.ones(n, bool)])


def _same(got, want) -> None:
    for a, b in zip(got, want, strict=True):
        for field in ("statistic", "p_value", "n"):
            assert getattr(a, field).tobytes() == getattr(b, field).tobytes()


@pytest.mark.parametrize("many_chunks", [False, True])
def test_rows_are_ranked_and_tested_as_the_plain_array_bit_for_bit(study_stage, monkeypatch, many_chunks):
    study, stage = study_stage
    if many_chunks:  # threads over chunks of rows, and several key blocks per chunk
        monkeypatch.setattr(threads, "PARALLEL_WORK", 1)
        monkeypatch.setattr(ranking, "BLOCK_VALUES", 7 * stage.event_start)
    rows, plain = _mixed(stage, nan_rows=(1, 4))
    rng = np.random.default_rng(2)
    clean = stage.estimation[:, : stage.event_start] & (rng.random(plain.shape) < 0.9)
    got, want = RankedRows.of(rows, valid=clean), RankedRows.of(plain, valid=clean)
    assert got.values is rows and got.order.tobytes() == want.order.tobytes()
    np.testing.assert_array_equal(got.count, want.count)
    assert not RankedRows.of(plain).count[[1, 4]].any()

    sigma = stage.sigma.copy()
    sigma[np.flatnonzero(stage.active)[:3]] *= -1.0  # reversed: the ARs' order does not sort these SARs
    sigma[np.flatnonzero(stage.active)[3]] = 1e-310  # overflow: infinite SARs are missing
    sar_got = RankedRows.of(rows, valid=clean, like=got, scale=sigma)
    with np.errstate(all="ignore"):
        sar_want = RankedRows.of(plain / sigma[:, None], valid=clean, like=want)
    assert sar_got.order is not got.order and sar_got.order.tobytes() == sar_want.order.tobytes()
    np.testing.assert_array_equal(sar_got.count, sar_want.count)
    shared = RankedRows.of(rows, valid=clean, like=got, scale=np.abs(stage.sigma))
    assert shared.order is got.order

    windows = study.windows.events
    event_ar = stage.event_ar
    columns = [np.flatnonzero((stage.days >= a) & (stage.days <= b)) - stage.event_start for a, b in windows]
    members = [_groups(len(plain), rng) for _ in windows]
    corrado = corrado_rank_windows(got, event_ar, columns, members)
    _same(corrado, corrado_rank_windows(want, event_ar, columns, members))
    _same(
        corrado_rank_windows(rows, event_ar, columns, members), corrado_rank_windows(plain, event_ar, columns, members)
    )
    assert np.isfinite(corrado[0].statistic).all()
    csars = [stage.csar[window] for window in windows]
    grank = grank_windows(sar_got, csars, members)
    _same(grank, grank_windows(sar_want, csars, members))
    assert np.isfinite(grank[0].statistic).sum() >= 2


@pytest.mark.parametrize(("block_rows", "sums_bytes"), [(7, rank_walks.SUMS_BYTES), (7, 1), (1 << 20, 1)])
def test_blocks_of_rows_give_the_tests_of_one_walk_bit_for_bit(study_stage, monkeypatch, block_rows, sums_bytes):
    """corrado_grank_windows reads, ranks and walks blocks of pairs (a last short one; one window per batch of
    sums, or all at once): the same numbers as one walk of the plain array's ranking, and no take of more rows than
    a block (no (P, L1) array)."""
    study, stage = study_stage
    rows, plain = _mixed(stage, nan_rows=(2,))
    monkeypatch.setattr(rank_walks, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(rank_walks, "SUMS_BYTES", sums_bytes)
    windows = study.windows.events
    members = [_groups(len(plain), np.random.default_rng(w)) for w in range(len(windows))]
    clean = stage.estimation[:, : stage.event_start]
    columns = [np.flatnonzero((stage.days >= a) & (stage.days <= b)) - stage.event_start for a, b in windows]
    csars = [stage.csar[window] for window in windows]
    sigma = stage.sigma.copy()
    sigma[np.flatnonzero(stage.active)[:2]] *= -1.0  # rows of SARs sorted anew in their block
    ar_ranked = RankedRows.of(plain, valid=clean)
    want = (
        corrado_rank_windows(ar_ranked, stage.event_ar, columns, members),
        grank_windows(RankedRows.of(plain, valid=clean, like=ar_ranked, scale=sigma), csars, members),
    )
    with np.errstate(all="ignore"):  # the SARs divided as the kernels read them: the quotients themselves
        _same(want[1], grank_windows(RankedRows.of(plain / sigma[:, None], valid=clean), csars, members))
    taken = []
    take = ArRows.take

    def block_take(self, which):
        taken.append(len(take(self, which)))
        return take(self, which)

    monkeypatch.setattr(ArRows, "take", block_take)
    monkeypatch.setattr(ArRows, "dense", lambda self: pytest.fail("the (P, L1) array was made"))
    got = rank_walks.corrado_grank_windows(rows, clean, sigma, stage.event_ar, columns, csars, members)
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    assert max(taken) == min(block_rows, len(plain)) and sum(taken) == len(plain) * (1 if sums_bytes > 1 else 4)
    assert np.isfinite(got[0][0].statistic).all() and np.isfinite(got[1][0].statistic).sum() >= 2


def _event_groups(n: int, size: int, rng) -> Groups:
    """Groups of ``size`` consecutive pairs (every event's battery), a pair or two left out of some, then the pooled
    group and one of scattered pairs."""
    masks = [(np.arange(n) // size == g) & (rng.random(n) < 0.9) for g in range(-(-n // size))]
    return Groups.from_masks([*masks, np.ones(n, bool), rng.random(n) < 0.2])


def test_rows_of_groups_that_have_closed_are_reused_and_give_the_numbers_of_one_walk(study_stage, monkeypatch):
    """Walked in blocks of 7 pairs, groups of 5 consecutive pairs share a few rows of sums (each read off and zeroed
    once the walk has passed its last pair): Corrado and GRANK are those of one walk of all pairs in rows of their
    own, bit for bit, and the windows fit one batch."""
    study, stage = study_stage
    rows, plain = _mixed(stage, nan_rows=(2,))
    windows = study.windows.events
    members = [_event_groups(len(plain), 5, np.random.default_rng(w)) for w in range(len(windows))]
    clean = stage.estimation[:, : stage.event_start]
    columns = [np.flatnonzero((stage.days >= a) & (stage.days <= b)) - stage.event_start for a, b in windows]
    csars = [stage.csar[window] for window in windows]
    ar_ranked = RankedRows.of(plain, valid=clean)
    want = (
        corrado_rank_windows(ar_ranked, stage.event_ar, columns, members),
        grank_windows(RankedRows.of(plain, valid=clean, like=ar_ranked, scale=stage.sigma), csars, members),
    )
    plans = []
    plan = rank_walks.slot_plan
    monkeypatch.setattr(rank_walks, "slot_plan", lambda *a: plans.append(plan(*a)) or plans[-1])
    monkeypatch.setattr(rank_walks, "BLOCK_ROWS", 7)
    got = rank_walks.corrado_grank_windows(rows, clean, stage.sigma, stage.event_ar, columns, csars, members)
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    assert all(p.rows < 8 < g.n_groups for p, g in zip(plans, members, strict=True))  # rows reused
    assert np.isfinite(got[0][0].statistic).sum() >= 10 and np.isfinite(got[1][0].statistic).sum() >= 10


def test_a_slot_plan_gives_groups_open_at_once_rows_of_their_own():
    """Two groups open in a common block never share a row; the rows are the most groups open in one block (plus
    the zero row of the groups with no pair, which no group open uses)."""
    rng = np.random.default_rng(3)
    n, block = 500, 16
    masks = [(np.arange(n) >= a) & (np.arange(n) < a + w) & (rng.random(n) < 0.8)
             for a, w in zip(rng.integers(0, n, 120), rng.integers(1, 60, 120), strict=True)]  # fmt: skip
    groups = Groups.from_masks([*masks, np.zeros(n, bool)])
    plan = rank_walks.slot_plan(groups, block)
    spans = [(groups.pair[groups.group == g] // block) for g in range(groups.n_groups)]
    used = [len(x) > 0 for x in spans]
    first, last = [x.min() if len(x) else -1 for x in spans], [x.max() if len(x) else -1 for x in spans]
    blocks = range(n // block + 1)
    open_at = [[g for g in range(groups.n_groups) if used[g] and first[g] <= b <= last[g]] for b in blocks]
    for gs in open_at:
        assert len({plan.row[g] for g in gs}) == len(gs) and plan.rows - 1 not in {plan.row[g] for g in gs}
    assert plan.rows == max(len(gs) for gs in open_at) + 1
    assert all(plan.row[g] == plan.rows - 1 for g in range(groups.n_groups) if not used[g])
    np.testing.assert_array_equal(plan.last, last)


def test_a_walk_taken_out_of_its_blocks_is_refused(study_stage):
    """A walk closes groups after each block of its plan: pairs given out of order, or more than a block at once,
    would mix groups that share a row, so they are refused."""
    _, stage = study_stage
    plain = np.array(stage.ar[:, : stage.event_start])
    members = [_event_groups(len(plain), 5, np.random.default_rng(0))]
    plans = [rank_walks.slot_plan(members[0], 7)]
    walk = rank_walks.CorradoWalk(plain.shape[1], stage.event_ar, [np.arange(3)], members, [0], plans)
    with pytest.raises(ValueError, match="not the next block of 7"):
        walk.add(RankedRows.of(plain[:14]))
    with pytest.raises(ValueError, match="not the next block of 7 after 0"):
        walk.walked_block(7, 14)


def test_the_engines_rank_tests_are_the_blocks_of_its_rows(study_stage, monkeypatch):
    """``tables._rank_windows`` reads the stage's rows a block at a time: its results are Corrado's and GRANK's of
    the plain estimation ARs."""
    study, stage = study_stage
    rows, plain = _mixed(stage, nan_rows=(2,))
    monkeypatch.setattr(rank_walks, "BLOCK_ROWS", 5)
    windows = study.windows.events
    members = [_groups(len(plain), np.random.default_rng(w)) for w in range(len(windows))]
    clean = stage.estimation[:, : stage.event_start]
    got = tables._rank_windows(stage, windows, rows, clean, members)
    ar_ranked = RankedRows.of(plain, valid=clean)
    columns = [np.flatnonzero((stage.days >= a) & (stage.days <= b)) - stage.event_start for a, b in windows]
    corrado = corrado_rank_windows(ar_ranked, stage.event_ar, columns, members)
    sar = RankedRows.of(plain, valid=clean, like=ar_ranked, scale=stage.sigma)
    grank = grank_windows(sar, [stage.csar[window] for window in windows], members)
    for result, c, g in zip(got, corrado, grank, strict=True):
        _same([result["corrado_rank"], result["grank"]], [c, g])


def test_a_row_read_without_reference_counts_compiles_first():
    """The rank walk reads rows through ``ranking.read_row_called``, compiled without reference counts
    (``_nrt=False``), a flag numba passes on to the functions it compiles for it unless they set their own: the row
    reader it calls (``ranked_row``, then ``ar_row``, whose slice copy needs the counts) sets it. A fresh process
    without numba's cache, this its first compile, reads a stored row divided by its scale."""
    code = """if True:
        import numba.core.dispatcher as dispatcher
        dispatcher.Dispatcher.enable_caching = lambda self: None  # compiled afresh, in this order
        import numpy as np
        from eventstudy.engine.ranking import read_row_called
        from eventstudy.inference.ar_rows import ArRows
        x = np.arange(12.0).reshape(3, 4)
        out = np.empty(4)
        read_row_called(np.empty((0, 4)), ArRows.of(x).source(), np.full(3, 4.0), True, 1, out)
        assert (out == x[1] / 4.0).all(), out
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)
