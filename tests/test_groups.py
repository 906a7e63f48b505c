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
