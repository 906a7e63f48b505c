"""The membership structure of the grouped tests (:mod:`eventstudy.inference.groups`)."""

import numpy as np

from eventstudy.inference import result
from eventstudy.inference.groups import GroupResult, Groups


def test_overlapping_groups_sum_like_a_loop():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 30)) < 0.4
    masks[0] = True  # "all"
    masks[3] = False  # an empty group
    values = rng.normal(size=(30, 5))
    groups = Groups.from_masks(masks)
    assert np.all(np.diff(groups.group) >= 0)
    np.testing.assert_allclose(groups.sum(values), [values[m].sum(axis=0) for m in masks], atol=1e-12)
    np.testing.assert_allclose(groups.sum(values[:, 0]), [values[m, 0].sum() for m in masks], atol=1e-12)
    np.testing.assert_array_equal(groups.sizes, masks.sum(axis=1))
    np.testing.assert_array_equal(groups.count(values > 0), [(values[m] > 0).sum(axis=0) for m in masks])
    keep = rng.random(30) < 0.5
    np.testing.assert_array_equal(groups.subset(keep).sizes, (masks & keep).sum(axis=1))


def test_codes_and_one_group():
    codes = np.array([2, 0, -1, 2, 1, 0])
    groups = Groups.from_codes(codes, 4)
    np.testing.assert_array_equal(groups.group, [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(groups.pair, [1, 5, 4, 0, 3])
    np.testing.assert_array_equal(groups.sizes, [2, 1, 2, 0])
    np.testing.assert_array_equal(Groups.one(3).sizes, [3])


def test_group_result_rows():
    nan = float("nan")
    res = GroupResult(np.array([1.0, nan]), np.array([0.3, nan]), np.array([5, 0]))
    assert res[0] == result.TestResult(1.0, 0.3, 5)
    assert res[1].n == 0 and np.isnan(res[1].p_value)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int64) if a.dtype.kind == "f" else a


def _entry_orders(rng: np.random.Generator, n_pairs: int) -> list[Groups]:
    """One group; disjoint groups (pairs in no group, an empty group); overlapping groups, one empty."""
    codes = rng.integers(-1, 40, n_pairs)
    codes[codes == 7] = 8
    masks = [np.ones(n_pairs, bool), rng.random(n_pairs) < 0.3, np.zeros(n_pairs, bool), rng.random(n_pairs) < 0.6]
    return [Groups.one(n_pairs), Groups.from_codes(codes, 41), Groups.from_masks(masks)]


def test_one_dimensional_sums_and_counts_are_bincounts_bit_for_bit():
    rng = np.random.default_rng(3)
    values = rng.standard_normal(5_000) * 10.0 ** rng.integers(-8, 8, 5_000)
    values[:4] = [-0.0, 0.0, 1e308, -1e308]
    for groups in _entry_orders(rng, len(values)):
        want = np.bincount(groups.group, weights=values[groups.pair], minlength=groups.n_groups)
        np.testing.assert_array_equal(_bits(groups.sum(values)), _bits(want))
        mask = values > 0
        counts = np.bincount(groups.group, weights=mask[groups.pair].astype(float), minlength=groups.n_groups)
        np.testing.assert_array_equal(groups.count(mask), counts.round().astype(np.int64))
        assert groups.count(mask).dtype == np.int64
