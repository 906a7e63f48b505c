"""rbar of every group at once = the definition, group by group, pair by pair (numpy brute force); exact row factors."""

from __future__ import annotations

from unittest import mock

import numba
import numpy as np
import pandas as pd
import pytest

from eventstudy.inference import correlation as cr
from eventstudy.inference import rows, threads
from eventstudy.inference.calendar_time import calendar_positions
from eventstudy.inference.groups import Groups

CAL = pd.bdate_range("2020-01-01", periods=700).values
NAT = np.datetime64("NaT")


def _brute_groups(res, dates, windows, masks, min_shared=20):
    """Every pair's w_ij rho_ij from its shared dates (np.intersect1d, np.corrcoef), summed over each group."""
    n = len(res)
    term = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            wi, wj = windows[i][~np.isnat(windows[i])], windows[j][~np.isnat(windows[j])]
            shared = len(np.intersect1d(wi, wj))
            if not shared:
                continue
            oi = np.isfinite(res[i]) & ~np.isnat(dates[i])
            oj = np.isfinite(res[j]) & ~np.isnat(dates[j])
            _, ii, jj = np.intersect1d(dates[i][oi], dates[j][oj], return_indices=True)
            a, b = res[i][oi][ii], res[j][oj][jj]
            if len(a) < min_shared or np.ptp(a) == 0 or np.ptp(b) == 0:
                continue
            term[i, j] = shared / np.sqrt(len(wi) * len(wj)) * np.corrcoef(a, b)[0, 1]
    out = []
    for mask in masks:
        k = int(mask.sum())
        out.append(term[np.ix_(mask, mask)].sum() / (k * (k - 1) / 2) if k >= 2 else 0.0)
    return np.array(out)


def _staggered(rng, n=150, d=100, length=5, starts=40, gaps=True):
    """Pairs on a few event dates (window classes of several members), staggered; with gaps, NaT, odd calendars
    (without gaps: classes of n / starts members each)."""
    dates = rng.choice(np.arange(260, 330), starts, replace=False)
    first = rng.choice(dates, n) if gaps else np.repeat(dates, n // starts)
    common = 0.5 * rng.normal(size=len(CAL))
    span = [np.arange(s - 10 - d, s - 10) for s in first]
    if gaps:
        for i in range(10):  # every other session: rows that are not runs of consecutive dates
            span[i] = np.arange(first[i] - 10 - 2 * d, first[i] - 10, 2)
    span = np.stack(span)
    res = common[span] + rng.normal(size=(n, d))
    dates = CAL[span]
    windows = np.stack([CAL[s : s + length] for s in first])
    if gaps:
        scattered = rng.random((n, d)) < 0.15
        scattered[: n // 2] = False
        res[scattered] = np.nan
        res[20:30, :15] = np.nan  # a block: a few patterns per class
        dates[30:33, 40] = NAT  # a date the calendar lacks, its residual finite
        res[40] = 0.003  # constant series
        res[41, :60] = -0.002  # constant on the first 60 dates only
        windows[50:55, -2:] = NAT  # shorter windows
        windows[56, 1] = NAT
        res[57] = np.nan  # nothing at all
    return res, dates, windows


def _random_masks(rng, n, first):
    masks = [np.ones(n, bool), np.zeros(n, bool), np.eye(n, dtype=bool)[3], np.arange(n) < 2, np.arange(n) % 50 == 7]
    for start in np.unique(first)[:10]:  # one-class groups, like the events of --group-tests event+all
        masks.append(first == start)
    while len(masks) < 50:
        masks.append(rng.random(n) < rng.uniform(0.05, 0.7))
    return np.array(masks)


@pytest.mark.parametrize("cell_min_pairs", [1, 20_000])
def test_grouped_rbar_equals_the_definition_for_every_group(monkeypatch, cell_min_pairs):
    """50 overlapping groups (all, empty, one pair, two pairs, one-class groups, random subsets) of staggered pairs
    with scattered and block gaps, NaT dates, constant series and short windows; with every large pair of classes
    on the matrix products (cell_min_pairs 1) or on the kernel."""
    monkeypatch.setattr(cr, "CELL_MIN_PAIRS", cell_min_pairs)
    rng = np.random.default_rng(10)
    res, dates, windows = _staggered(rng)
    first = windows[:, 0].view(np.int64)
    masks = _random_masks(rng, len(res), first)
    got = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks))
    want = _brute_groups(res, dates, windows, masks)
    assert got.shape == (50,)
    assert got[1] == 0.0 and got[2] == 0.0
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    assert got[0] == pytest.approx(cr.mean_pairwise_correlation(res, dates, windows), rel=1e-13)
    for g in (3, 7, 20):
        subset = cr.mean_pairwise_correlation(res[masks[g]], dates[masks[g]], windows[masks[g]])
        assert got[g] == pytest.approx(subset, rel=1e-12, abs=1e-16)


def test_complete_staggered_data_takes_the_cell_sums_exactly(monkeypatch):
    """Complete data, staggered windows: every pair of classes goes through the per-cell sums (the pairwise kernel
    gets nothing) and the result equals the pair-by-pair definition to 1e-12."""
    rng = np.random.default_rng(11)
    res, dates, windows = _staggered(rng, n=200, d=120, starts=20, gaps=False)
    kernel = mock.Mock(wraps=cr._kernel_sum)
    cells = mock.Mock(wraps=cr._cell_sums)
    monkeypatch.setattr(cr, "_kernel_sum", kernel)
    monkeypatch.setattr(cr, "_cell_sums", cells)
    masks = np.array([np.ones(len(res), bool), np.arange(len(res)) < 120])
    got = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks))
    np.testing.assert_allclose(got, _brute_groups(res, dates, windows, masks), rtol=1e-12)
    assert kernel.call_count == 1 and len(kernel.call_args.args[5]) == 0  # no pair of classes left to the kernel
    start = np.searchsorted(CAL, windows[::10, 0])  # 20 classes of 10 members; windows of 5 sessions
    near = np.abs(start[:, None] - start[None, :]) < 5
    assert cells.call_count == 1 and len(cells.call_args.args[3]) == np.triu(near).sum() + np.triu(near[:12, :12]).sum()
    assert got[0] > 0.01  # the planted common factor shows (about 0 without it)


def test_grouped_rbar_is_bit_identical_run_to_run_and_across_thread_counts(monkeypatch):
    """Every kernel in parallel chunks (no serial cut-off), twice, and on one thread: the same bits."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only")
    monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    rng = np.random.default_rng(12)
    res, dates, windows = _staggered(rng, n=400, starts=30)
    groups = Groups.from_masks(_random_masks(rng, len(res), windows[:, 0].view(np.int64)))
    first = cr.mean_pairwise_correlations(res, dates, windows, groups)
    again = cr.mean_pairwise_correlations(res, dates, windows, groups)
    count = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert len(threads.chunk_bounds(np.ones(10))) == 2
        single = cr.mean_pairwise_correlations(res, dates, windows, groups)
    finally:
        numba.set_num_threads(count)
    assert len(threads.chunk_bounds(np.ones(10))) > 2
    assert first.tobytes() == again.tobytes() == single.tobytes()


def test_many_one_class_groups_match_their_single_group_results():
    """Events of five pairs each, on staggered dates, in one call: each group's rbar is its own sample's."""
    rng = np.random.default_rng(13)
    res, dates, windows = _staggered(rng, n=300, starts=60)
    codes = pd.factorize(windows[:, 0])[0]
    got = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_codes(codes, codes.max() + 1))
    want = [cr.mean_pairwise_correlation(res[codes == g], dates[codes == g], windows[codes == g]) for g in range(60)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-16)


def test_factorize_rows_is_exact_even_when_hashes_collide(monkeypatch):
    rng = np.random.default_rng(14)
    values = rng.integers(0, 3, size=(500, 4))
    codes, first = rows.factorize_rows(values)
    distinct, inverse = np.unique(values, axis=0, return_inverse=True)
    assert len(first) == len(distinct)
    assert (values[first[codes]] == values).all()
    assert (pd.factorize(inverse.ravel())[0] == codes).all()  # the same partition, in order of first appearance
    monkeypatch.setattr(rows, "_row_hashes", lambda v: np.zeros(len(v), np.uint64))  # every row collides
    codes, first = rows.factorize_rows(values)
    assert (values[first[codes]] == values).all()
    with pytest.raises(TypeError, match="integer"):
        rows.factorize_rows(values.astype(float))


def test_windows_computed_together_equal_each_window_alone(monkeypatch):
    """rbar of four windows in one call (sharing rows, patterns and pairs of classes where members and classes agree)
    = each window alone, bit for bit, and the definition; windows of other members or other classes share nothing."""
    rng = np.random.default_rng(15)
    res, dates, windows = _staggered(rng)
    start = np.searchsorted(CAL, windows[:, 0])
    wide = CAL[start[:, None] + np.arange(-3, 8)]  # the same classes as narrow, not as windows (its NaT)
    narrow = CAL[start[:, None] + np.arange(1, 3)]
    masks = _random_masks(rng, len(res), windows[:, 0].view(np.int64))
    groups = Groups.from_masks(masks)
    fewer = np.arange(len(res)) % 4 != 1
    members = [groups, groups, groups, groups.subset(fewer)]
    _, (positions, *window_positions) = calendar_positions(dates, windows, wide, narrow, wide)
    sums = mock.Mock(wraps=cr._class_pair_sums)
    monkeypatch.setattr(cr, "_class_pair_sums", sums)
    got = cr.correlations_of_windows(res, positions, window_positions, members)
    assert sums.call_count == 3  # wide and narrow together, windows alone, the other members alone
    for w in range(4):
        alone = cr.correlations_at_positions(res, positions, window_positions[w], members[w])
        assert got[w].tobytes() == alone.tobytes()
    for w, (window, keep) in enumerate([(wide, True), (narrow, True), (wide, fewer)]):
        want = _brute_groups(res, dates, window, masks & keep)
        np.testing.assert_allclose(got[w + 1], want, rtol=1e-10, atol=1e-15)
    assert not np.allclose(got[1], got[2]) and not np.allclose(got[1], got[3])


def test_runs_of_classes_pack_each_row_once_with_the_bits_of_one_batch(monkeypatch):
    """Complete staggered data cut into many runs of a few classes (neighbouring runs share classes): every row of
    a group is packed once for it over all runs (not once per run that needs it), and rbar has the bits of one
    batch and the pair-by-pair definition's value."""
    rng = np.random.default_rng(12)
    res, dates, windows = _staggered(rng, n=200, d=120, starts=20, gaps=False)
    masks = np.array([np.ones(len(res), bool), np.arange(len(res)) < 120])  # classes of 10: all by cells
    whole = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks))
    packed = []
    compress = cr.compress

    def spy(x, positions, renumber, rows, valid=None, out=None):
        packed.append(np.asarray(rows).copy())
        return compress(x, positions, renumber, rows, valid, out)

    monkeypatch.setattr(cr, "compress", spy)
    monkeypatch.setattr(cr, "ROWS_PER_BATCH", 25)
    cells = mock.Mock(wraps=cr._cell_sums)
    monkeypatch.setattr(cr, "_cell_sums", cells)
    got = cr.mean_pairwise_correlations(res, dates, windows, Groups.from_masks(masks))
    assert got.tobytes() == whole.tobytes()
    assert cells.call_count > 10  # many runs
    rows = np.concatenate(packed)
    assert np.array_equal(np.sort(rows), np.sort(np.r_[np.arange(len(res)), np.arange(120)]))  # once per group
    np.testing.assert_allclose(got, _brute_groups(res, dates, windows, masks), rtol=1e-12)
