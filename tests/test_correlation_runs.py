"""rbar's per-cell sums of cells whose dates are runs (the cells' weighted sums over the intervals where they meet) =
the plain pairwise definition (np.corrcoef on the shared dates) and the merged per-cell kernel, to 1e-12."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import test_correlation_groups as tg
import test_correlation_rows as tr

from eventstudy.inference import correlation as cr
from eventstudy.inference import correlation_kernels as ck
from eventstudy.inference import correlation_runs as cu
from eventstudy.inference import threads
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.groups import Groups
from eventstudy.inference.row_positions import RowPositions

# the engine's stage of stored, regenerated and NaN rows, its calendar positions and groups
study_stage, rows, groups, calendar, _same_bits = tr.study_stage, tr.rows, tr.groups, tr.calendar, tr._same_bits

WIDTH = 80


def _packed(rng, cells):
    """Packed rows (xv, pv, cnt) of cells given as (members, dates): every member of a cell has the cell's dates
    (ascending positions), values with a common factor, centred as ``compress`` centres them; and (rows, cell_ptr)."""
    common = rng.normal(size=200)
    xv, pv, cnt, ptr = [], [], [], [0]
    for members, dates in cells:
        for m in range(members):
            x = 0.6 * common[dates] + rng.normal(size=len(dates)) if m != 1 else np.full(len(dates), 0.25)
            row, pos = np.zeros(WIDTH), np.full(WIDTH, -1, dtype=np.int32)
            row[: len(dates)], pos[: len(dates)] = x - (x.mean() if len(x) else 0.0), dates
            xv.append(row), pv.append(pos), cnt.append(len(dates))
        ptr.append(ptr[-1] + members)
    rows = rng.permutation(len(xv))  # cell k's members rows[ptr[k]:ptr[k + 1]], anywhere in the buffer
    order = np.argsort(rows)
    return np.array(xv)[order], np.array(pv)[order], np.array(cnt)[order], rows, np.array(ptr)


def _source(xv, pv, cnt, rows, ptr, lead=True):
    """The packed cells as residuals that the run sums read: ((src, valid, table, offset), members, leads) with row i's
    values on days 0 .. cnt[i] - 1 (shifted off their zero mean: the reader centres them; NaN after) and its dates
    pv[i]; every member's lead day 0 (or -1: its days found by reading its dates and values), and each cell's (start,
    length)."""
    x = np.where(np.arange(WIDTH) < cnt[:, None], xv + 0.3 + 0.1 * np.arange(len(xv))[:, None] % 1.7, np.nan)
    table = RowPositions.of(pv)
    leads = np.where((cnt > 0) & lead, 0, -1)[rows]
    first = rows[ptr[:-1]]
    return ((ArRows.of(x).source(), None, table.table, table.offset), rows, leads), pv[first, 0].astype(int), cnt[first]


def _definition(xv, pv, cnt, rows, ptr, cp, cq, min_shared):
    """sum of rho_ij over i in p, j in q (i < j within one cell), pair by pair: np.corrcoef on the shared dates."""
    out = np.zeros(len(cp))
    for k, (p, q) in enumerate(zip(cp, cq, strict=True)):
        for a, i in enumerate(rows[ptr[p] : ptr[p + 1]]):
            for b, j in enumerate(rows[ptr[q] : ptr[q + 1]]):
                if p == q and b <= a:
                    continue
                _, ii, jj = np.intersect1d(pv[i, : cnt[i]], pv[j, : cnt[j]], return_indices=True)
                x, y = xv[i, ii], xv[j, jj]
                if len(x) >= max(min_shared, 1) and np.ptp(x) > 0 and np.ptp(y) > 0:
                    out[k] += np.corrcoef(x, y)[0, 1]
    return out


def _cells(rng, gaps):
    """Runs of several lengths and starts (prefixes, suffixes and middles of each other), cells of 1 to 9 members
    (the second member of each cell constant); with ``gaps``, also cells whose dates skip some positions."""
    lengths = [60] * 8 + [45, 70, 30, 22]
    cells = [
        (int(rng.integers(1, 10)), np.arange(s, s + n)) for s, n in zip(rng.integers(0, 40, 12), lengths, strict=True)
    ]
    if gaps:
        cells += [(4, np.sort(rng.choice(np.arange(10, 110), 70, replace=False))), (3, np.arange(5, 125, 2))]
    return cells


def _all_pairs(n):
    p, q = np.triu_indices(n)
    return p.astype(np.int64), q.astype(np.int64)


@pytest.mark.parametrize("parallel", [False, True])
def test_run_cell_sums_equal_the_pairwise_definition_and_the_merged_kernel(parallel, monkeypatch):
    """Complete data (every cell a run): each pair of cells' sum = np.corrcoef pair by pair and the merged kernel's,
    to 1e-12 (constant rows and pairs sharing fewer than min_shared dates count 0); on one thread or in chunks, and
    listed in any order, the same bits."""
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    rng = np.random.default_rng(21)
    packed = _packed(rng, _cells(rng, gaps=False))
    ptr = packed[4]
    source, start, length = _source(*packed)
    cp, cq = _all_pairs(len(ptr) - 1)
    got = cu.run_cell_sums(*source, ptr, start, length, cp, cq, 25)
    want = _definition(*packed, cp, cq, 25)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, ck.cell_sums(*packed, cp, cq, 25), rtol=1e-12, atol=1e-12)
    assert (got == 0).sum() >= 3 and (np.abs(got) > 1).sum() > 20  # some pairs below min_shared, most correlated
    flip = rng.permutation(len(cp))
    assert cu.run_cell_sums(*source, ptr, start, length, cp[flip], cq[flip], 25).tobytes() == got[flip].tobytes()
    masked, _, _ = _source(*packed, lead=False)  # rows found by their dates and values, not from their lead day
    assert cu.run_cell_sums(*masked, ptr, start, length, cp, cq, 25).tobytes() == got.tobytes()


def test_cell_sums_send_pairs_with_a_gapped_or_small_cell_to_the_merged_kernel(monkeypatch):
    """Cells whose dates skip positions, a cell without dates and cells of fewer than ``RUN_MIN_MEMBERS``: their
    pairs go to the merged per-cell kernel, the pairs of two runs to the run sums; every sum = the pairwise
    definition to 1e-12."""
    rng = np.random.default_rng(22)
    cells = _cells(rng, gaps=True) + [(6, np.arange(0))]
    packed = _packed(rng, cells)
    xv, pv, cnt, rows, ptr = packed
    source, _, _ = _source(*packed)
    cp, cq = _all_pairs(len(cells))
    merged = mock.Mock(wraps=ck.cell_sums)
    runs = mock.Mock(wraps=cu.run_cell_sums)
    monkeypatch.setattr(cu, "_merged_cell_sums", merged)
    monkeypatch.setattr(cu, "run_cell_sums", runs)
    monkeypatch.setattr(cu, "RUN_MIN_MEMBERS", 3)
    run = (cnt > 0) & (pv[np.arange(len(pv)), np.maximum(cnt - 1, 0)] - pv[:, 0] == cnt - 1)
    cell_runs = cu.cell_runs(ptr, np.where(run, pv[:, 0], -1)[rows], cnt[rows])
    got = cu.cell_sums((xv, pv, cnt, rows), source, (ptr, *cell_runs), cp, cq, 20)
    np.testing.assert_allclose(got, _definition(*packed, cp, cq, 20), rtol=1e-12, atol=1e-12)
    gapped = (np.arange(len(cells)) >= 12) | (np.array([members for members, _ in cells]) < 3)
    assert 0 < gapped[:12].sum() < 10
    to_merged = gapped[cp] | gapped[cq]
    assert np.array_equal(merged.call_args.args[5], cp[to_merged])
    assert np.array_equal(runs.call_args.args[7], cq[~to_merged])
    assert (got[cq == len(cells) - 1] == 0).all()


def test_rbar_by_run_sums_equals_the_definition(monkeypatch):
    """rbar of every group, every pair of run cells by the run sums (staggered windows, complete rows beside rows
    with gaps, NaN rows, constant rows), in parallel chunks and in many batches of rows: the pair-by-pair definition
    to 1e-12, and the same bits as one batch."""
    rng = np.random.default_rng(23)
    res, dates, windows = tg._staggered(rng, n=240, d=120, starts=24, gaps=False)
    res[::17, 40:] = np.nan  # shorter runs (cells of their own)
    res[5] = np.nan
    res[9] = 0.3
    masks = np.array([np.ones(len(res), bool), np.arange(len(res)) % 4 != 0])
    monkeypatch.setattr(cu, "RUN_MIN_MEMBERS", 1)
    monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    runs = mock.Mock(wraps=cu.run_cell_sums)
    monkeypatch.setattr(cu, "run_cell_sums", runs)
    whole = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks))
    assert sum(len(call.args[6]) for call in runs.call_args_list) > 100
    np.testing.assert_allclose(whole, tg._brute_groups(res, dates, windows, masks), rtol=1e-12)
    monkeypatch.setattr(cr, "ROWS_PER_BATCH", 30)
    assert cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks)).tobytes() == whole.tobytes()


@pytest.mark.parametrize("parallel", [False, True])
def test_run_sums_of_rows_are_those_of_the_array(rows, groups, calendar, monkeypatch, parallel):
    """The engine's rows stored, regenerated and NaN (:class:`~eventstudy.inference.ar_rows.ArRows`), every pair of
    run cells by the run sums: the plain array's rbar, bit for bit, serially and in parallel chunks."""
    mixed, plain = rows
    positions, windows, clean, _ = calendar
    monkeypatch.setattr(cu, "RUN_MIN_MEMBERS", 1)
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    runs = mock.Mock(wraps=cu.run_cell_sums)
    monkeypatch.setattr(cu, "run_cell_sums", runs)
    members = [groups] * len(windows)
    got = cr.correlations_of_windows(mixed, positions, windows, members, valid=clean)
    want = cr.correlations_of_windows(plain, positions, windows, members, valid=clean)
    for a, b in zip(got, want, strict=True):
        _same_bits(a, b)
    assert all((np.abs(a) > 1e-6).sum() > 3 for a in got)
    assert sum(len(call.args[6]) for call in runs.call_args_list) > 0
