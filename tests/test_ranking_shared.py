"""Each row's sort order (engine.ranking.RankedRows) against numpy's sort and scipy's ranks, and the SARs' reuse of
the ARs' order: exact where SAR = AR / sigma (ties that the division makes are found on the SARs), sorted anew
wherever the order does not sort them (GARCH-like variances, overflow, other missing days, a reversed scale)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eventstudy.engine import rank_tests as rt
from eventstudy.engine import ranking
from eventstudy.engine.ranking import RankedRows
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.groups import Groups


def _valid(x, valid):
    return np.isfinite(x) & (True if valid is None else valid)


def _check(ranked: RankedRows, x: np.ndarray, valid: np.ndarray | None = None) -> None:
    """The order lists each row's valid values first, ascending (== numpy's sort), the average ranks read
    through it as the kernels read them (runs of equal values) are scipy's, and the binary search and the merge
    with other values count the values below and up to a value (and each row value's rise by them)."""
    ok = _valid(x, valid)
    np.testing.assert_array_equal(ranked.count, ok.sum(axis=1))
    for i in range(len(x)):
        m = int(ranked.count[i])
        order = ranked.order[i].astype(np.int64)
        np.testing.assert_array_equal(np.sort(order), np.arange(x.shape[1]))
        assert ok[i, order[:m]].all()
        np.testing.assert_array_equal(x[i, order[:m]], np.sort(x[i, ok[i]]))
        ranks = np.full(x.shape[1], np.nan)
        ranking.column_ranks(x[i], ranked.order, i, m, ranks)
        expected_ranks = np.zeros(x.shape[1])
        expected_ranks[ok[i]] = stats.rankdata(x[i, ok[i]])
        np.testing.assert_array_equal(ranks, expected_ranks)
        w = np.sort(np.r_[x[i, ok[i]][:5], -np.inf, np.inf, 0.05])  # values of the row and others
        expected = ([(x[i, ok[i]] < v).sum() for v in w], [(x[i, ok[i]] <= v).sum() for v in w])
        lo, hi = np.full(len(w), -1), np.full(len(w), -1)
        ranking.bounds(x[i], ranked.order, i, m, w, len(w), lo, hi)
        assert (list(lo), list(hi)) == expected
        _check_rises(x[i], ranked.order[i], m, w[1:-1], expected_ranks, ok[i])  # (finite values)


def _check_rises(x, order, m, w, expected_ranks, ok):
    """rank_rises: the ranks, where the ascending values ``w`` (days placed in a scrambled order, each with its own
    bit) fall among the row's, and each valid row value's sum of the bits of those below it and up to it."""
    rng = np.random.default_rng(len(w))
    places = rng.permutation(len(w) + 3)[: len(w)]  # the days the values are on
    one = np.zeros(len(w) + 3, np.int64)
    one[places] = np.int64(1) << (4 * np.arange(len(w)))  # 4-bit fields: a sum of two 1s per value
    lo, hi, rise = np.full(len(one), -1), np.full(len(one), -1), np.full((1, len(x)), -7, np.int64)
    ranks = np.full(len(x), np.nan)
    ranking.rank_rises(x, order[None], 0, m, ranks, w, len(w), places, one[None], 0, lo, hi, rise)
    rise = rise[0]
    np.testing.assert_array_equal(ranks, expected_ranks)
    np.testing.assert_array_equal(lo[places], [(x[ok] < v).sum() for v in w])
    np.testing.assert_array_equal(hi[places], [(x[ok] <= v).sum() for v in w])
    below_or_up_to = (w[:, None] < x[None, ok]).astype(np.int64) + (w[:, None] <= x[None, ok])
    np.testing.assert_array_equal(rise[ok], (below_or_up_to * one[places][:, None]).sum(axis=0))
    assert (rise[~ok] == -7).all()  # missing columns left as they are


def _rows(rng, n_rows, width):
    x = np.round(rng.normal(0, 1, (n_rows, width)), 1)  # a coarse grid: many ties
    x[rng.random(x.shape) < 0.1] = np.nan
    x[0] = np.nan  # all missing
    x[1, :3] = [np.inf, -np.inf, np.nan]  # non-finite values are missing
    x[2, : width // 2] = -0.0  # -0 and +0 are one tie
    x[2, width // 2 :] = 0.0
    x[3] = rng.normal(0, 1, width)  # no ties
    return x


@pytest.mark.parametrize(("n_rows", "width", "dtype"), [(60, 40, np.int16), (12, 300, np.int16), (4, 40_000, np.int32)])
def test_each_row_is_sorted_and_ranked_as_scipy(n_rows, width, dtype):
    rng = np.random.default_rng(width)
    x = _rows(rng, n_rows, width)
    ranked = RankedRows.of(x)
    assert ranked.order.dtype == dtype and ranked.values.stored is x
    _check(ranked, x)
    valid = rng.random(x.shape) < 0.8
    _check(RankedRows.of(x, valid=valid), x, valid)


def test_values_one_ulp_apart_in_any_order():
    """Keys that agree above the column-index bits: the insertion pass on the true values must order them."""
    rng = np.random.default_rng(5)
    chain = np.empty(300)
    chain[0] = 0.0123
    for k in range(1, 300):
        chain[k] = np.nextafter(chain[k - 1], 1.0)
    x = np.stack([rng.permutation(chain) * rng.choice([1.0, -1.0]) for _ in range(8)])
    x[1, :100] = x[1, 100:200]  # and ties among them
    _check(RankedRows.of(x), x)
    _check(RankedRows.of(x[:, :200]), x[:, :200])


@pytest.mark.parametrize("width", [37, 240, 512])
def test_short_keys_give_the_order_of_long_keys(monkeypatch, width):
    """Rows of up to 512 columns sort 32-bit keys, whose value bits tell apart only values a relative 2^-12 or more
    apart: values closer than that (clusters a relative 2^-20 apart, of either sign, in scrambled columns, a row of
    one cluster in descending columns) are ordered by the insertion pass. The order is that of 64-bit keys (equal
    values in column order), with ties, -0 and +0, missing and non-finite values."""
    assert ranking.key_layout(width)[1] is np.uint32
    assert ranking.key_layout(513)[1] is np.uint64
    rng = np.random.default_rng(width)
    x = rng.normal(0, 0.02, (40, width))
    for i in range(40):
        cluster = rng.choice([-1.0, 1.0]) * rng.uniform(0.001, 0.05) * (1 + np.arange(12) * 2.0**-20)
        x[i, rng.permutation(width)[:12]] = cluster
    x[0] = 0.0123 * (1 + np.arange(width)[::-1] * 2.0**-30)  # one cluster, descending
    x[1, : width // 3] = x[1, width // 3 : 2 * (width // 3)]  # ties
    x[2, :4] = [-0.0, 0.0, np.inf, -np.inf]
    x[rng.random(x.shape) < 0.05] = np.nan
    valid = rng.random(x.shape) < 0.9
    u = x.view(np.uint64)
    value_bits = ((u ^ ((np.uint64(0) - (u >> np.uint64(63))) | np.uint64(1 << 63))) >> np.uint64(32)) >> np.uint64(
        int(ranking.key_layout(width)[0])
    )
    ok = np.isfinite(x) & valid
    same_key = (value_bits[:, :, None] == value_bits[:, None, :]) & (x[:, :, None] != x[:, None, :])
    same_key &= ok[:, :, None] & ok[:, None, :]
    assert same_key.any(axis=(1, 2)).all()  # every row has distinct values whose short keys agree
    short = RankedRows.of(x, valid=valid)
    _check(short, x, valid)
    monkeypatch.setattr(ranking, "SHORT_KEY_INDEX_BITS", 0)  # 64-bit keys
    assert ranking.key_layout(width)[1] is np.uint64
    long = RankedRows.of(x, valid=valid)
    np.testing.assert_array_equal(short.order, long.order)
    np.testing.assert_array_equal(short.count, long.count)


def _merged_by_division(rng, n_rows, width):
    """AR rows with neighbours one ulp apart and sigmas that merge some of them into one SAR (a tie)."""
    ar = rng.normal(0, 0.02, (n_rows, width))
    sigma = rng.uniform(0.01, 0.03, n_rows)
    for i in range(n_rows):
        for c in range(0, width - 1, 6):
            ar[i, c + 1] = np.nextafter(ar[i, c], 1.0)
    ar[rng.random(ar.shape) < 0.05] = np.nan
    return ar, sigma


def test_sars_share_the_order_of_the_ars_and_find_their_own_ties():
    rng = np.random.default_rng(7)
    ar, sigma = _merged_by_division(rng, 40, 120)
    valid = rng.random(ar.shape) < 0.95
    valid[3] = False  # a pair without clean estimation days
    sar = ar / sigma[:, None]
    ar_est = np.where(valid, ar, np.nan)
    merged = sum(
        len(np.unique(ar_est[i][np.isfinite(ar_est[i])])) > len(np.unique(sar[i][np.isfinite(ar_est[i])]))
        for i in range(len(ar))
    )
    assert merged > 10  # ties of the SARs that the ARs do not have: ranks taken from the ARs would be wrong
    by_ar = RankedRows.of(ar_est)
    shared = RankedRows.of(sar, valid=valid, like=by_ar)
    assert shared.order is by_ar.order and shared.values.stored is sar
    _check(shared, sar, valid)
    own = np.where(valid, sar, np.nan)
    csar = rng.standard_t(8, len(ar)) + 0.3
    groups = Groups.from_masks([rng.random(len(ar)) < 0.6 for _ in range(5)] + [np.ones(len(ar), bool)])
    for a, b in zip(rt.grank_groups(shared, csar, groups), rt.grank_groups(own, csar, groups), strict=True):
        np.testing.assert_array_equal(a, b)
    win = rng.normal(0, 0.02, (len(ar), 3))
    for a, b in zip(rt.corrado_rank_groups(shared, win, groups), rt.corrado_rank_groups(own, win, groups), strict=True):
        np.testing.assert_array_equal(a, b)


def test_rows_the_order_does_not_sort_are_sorted_anew():
    rng = np.random.default_rng(11)
    ar, sigma = _merged_by_division(rng, 30, 300)  # 300 days: more than 8 index bits
    valid = rng.random(ar.shape) < 0.95
    ar_est = np.where(valid, ar, np.nan)
    sar = ar / sigma[:, None]
    sar[:5] = ar[:5] / np.sqrt(rng.uniform(1e-4, 9e-4, (5, 300)))  # GARCH-like: a variance per day
    sar[5] = ar[5] / -sigma[5]  # a reversed scale
    with np.errstate(over="ignore"):
        sar[6] = ar[6] / 1e-310  # overflow: the largest |AR| give an infinite SAR (missing)
    sar[7, 10:20] = np.nan  # SARs missing on days with an AR
    valid_sar = valid.copy()
    valid_sar[8, 30:40] = False  # other clean days
    by_ar = RankedRows.of(ar_est)
    before = by_ar.order.copy()
    ranked = RankedRows.of(sar, valid=valid_sar, like=by_ar)
    _check(ranked, sar, valid_sar)
    np.testing.assert_array_equal(by_ar.order, before)  # the ARs' order is left as it was
    _check(by_ar, ar_est)
    assert np.isinf(sar[6][valid[6]]).any()
    kept = (ranked.order == by_ar.order).all(axis=1)
    assert not kept[:9].any() and kept[9:].all()
    csar = rng.standard_t(8, len(ar))
    groups = Groups.one(len(ar))
    own = np.where(valid_sar, sar, np.nan)
    for a, b in zip(rt.grank_groups(ranked, csar, groups), rt.grank_groups(own, csar, groups), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sorting_in_threads_and_blocks_gives_every_row_its_order(monkeypatch):
    """Enough rows for the threads (chunks of rows) and small key blocks (several per chunk, a last short one)."""
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(0, 1, (6001, 200)), 2)
    x[rng.random(x.shape) < 0.05] = np.nan
    monkeypatch.setattr(ranking, "BLOCK_VALUES", 200 * 37)
    ranked = RankedRows.of(x)
    np.testing.assert_array_equal(ranked.count, np.isfinite(x).sum(axis=1))
    order = ranked.order.astype(np.int64)
    np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(200), x.shape))
    np.testing.assert_array_equal(np.take_along_axis(x, order, axis=1), np.sort(x, axis=1))  # NaN last in both
    for i in rng.choice(len(x), 20, replace=False):
        _check(RankedRows(x[i : i + 1], ranked.order[i : i + 1], ranked.count[i : i + 1]), x[i : i + 1])


def test_generalized_sign_from_the_share_computed_once():
    rng = np.random.default_rng(9)
    est = rng.normal(0.001, 0.02, (80, 50))
    est[rng.random(est.shape) < 0.1] = np.nan
    est[4] = np.nan  # no estimation ARs: left out
    est[5, :3] = np.inf  # as the array path counts it: positive, not finite
    car = rng.normal(0.01, 0.05, 80)
    groups = Groups.from_masks([rng.random(80) < 0.5 for _ in range(4)] + [np.ones(80, bool)])
    share = rt.positive_share(est)
    np.testing.assert_array_equal(share.count, np.isfinite(est).sum(axis=1))
    assert share.share[5] == np.sum(est[5] > 0) / np.isfinite(est[5]).sum() and share.share[4] == 0.0
    for a, b in zip(
        rt.generalized_sign_groups(car, share, groups), rt.generalized_sign_groups(car, est, groups), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_the_sars_of_the_ranked_ars_are_checked_by_two_values_a_row(monkeypatch):
    """The SARs of the very rows an order was made for (same mask) share it where their smallest and largest
    quotients are finite: the same orders as the value-by-value check, which runs only where a divisor is not finite
    and positive or a quotient overflows."""
    rng = np.random.default_rng(13)
    ar, sigma = _merged_by_division(rng, 60, 120)
    valid = rng.random(ar.shape) < 0.95
    valid[3] = False  # no valid value: shares whatever its divisor
    ar[4], sigma[4] = np.nan, np.nan  # a pair not studied
    rows = ArRows.of(ar)
    by_ar = RankedRows.of(rows, valid=valid)
    assert by_ar.valid is valid and by_ar.values is rows
    monkeypatch.setattr(ranking, "run_chunked", lambda *args: pytest.fail("checked value by value"))
    shared = RankedRows.of(rows, valid=valid, like=by_ar, scale=sigma)
    assert shared.order is by_ar.order and shared.scale is sigma
    _check(shared, ar / sigma[:, None], valid)
    monkeypatch.undo()
    for bad, scale in ((5, -1.0), (6, 1e-310), (7, np.nan), (8, 0.0), (9, np.inf)):
        sigma[bad] = scale  # reversed, overflow, missing, zero, infinite
    sigma[3] = np.nan
    with np.errstate(all="ignore"):
        sar = ar / sigma[:, None]
    fast = RankedRows.of(rows, valid=valid, like=by_ar, scale=sigma)
    slow = RankedRows.of(rows, valid=valid.copy(), like=by_ar, scale=sigma)  # another mask: value by value
    np.testing.assert_array_equal(fast.order, slow.order)
    np.testing.assert_array_equal(fast.count, slow.count)
    kept = (fast.order == by_ar.order).all(axis=1)
    assert not kept[[5, 6, 7, 8]].any() and kept[[3, 4, 9]].all() and kept[10:].all()  # 9: every SAR a zero
    _check(fast, sar, valid)


def test_a_new_view_of_the_same_mask_still_lets_two_values_a_row_decide(monkeypatch):
    """The rank walks give both rankings of a block the same rows of the study's mask (a view): ``np.asarray``
    makes a new view object of it each time, yet it is the same mask, so the SARs are still checked by two values a
    row (before, every row was checked value by value); a mask of other memory is checked value by value."""
    rng = np.random.default_rng(17)
    ar, sigma = _merged_by_division(rng, 60, 120)
    whole = rng.random((70, 120)) < 0.95
    rows = ArRows.of(ar)
    by_ar = RankedRows.of(rows, valid=whole[5:65])
    monkeypatch.setattr(ranking, "run_chunked", lambda *args: pytest.fail("checked value by value"))
    shared = RankedRows.of(rows, valid=whole[5:65], like=by_ar, scale=sigma)
    assert shared.order is by_ar.order
    _check(shared, ar / sigma[:, None], whole[5:65])
    with pytest.raises(pytest.fail.Exception, match="value by value"):
        RankedRows.of(rows, valid=whole[5:65].copy(), like=by_ar, scale=sigma)
