"""The tidy tables of the group stage built from whole columns, against the obvious per-row constructions.

``battery_frame`` (every window in one frame, text columns gathered by pyarrow), ``adjust_p_values`` (families
found by integer codes and two sorts) and ``group_day_means`` with a ``keep`` mask on strided views must give
exactly what the straightforward pandas/numpy code gives: object columns inferred by pandas, a groupby per
family with statsmodels' ``multipletests``, and a masked copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from eventstudy.engine.panel import Windows
from eventstudy.engine.statistics import portfolio_sd, time_series_t_groups
from eventstudy.engine.tables import TESTS_COLUMNS, battery_frame, shared_by_windows, text_column
from eventstudy.inference.families import family
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.moments import group_day_means
from eventstudy.inference.multitest import adjust_p_values


def test_text_column_is_the_column_pandas_infers():
    labels = np.array(["all", "E1", "007", "=1+1", "é"], dtype=object)
    codes = np.array([0, 0, 3, 1, 2, 4, 4, 0])
    got = pd.Series(text_column(labels, codes))
    want = pd.Series(labels[codes])
    assert got.dtype == want.dtype and got.equals(want)
    numbers = text_column(np.arange(3), np.array([2, 0]))  # the placebo's group numbers stay numbers
    assert numbers.tolist() == [2, 0]


def _battery(rng, names, n_groups):
    out = {}
    for name in names:
        stat = rng.normal(size=n_groups)
        stat[rng.random(n_groups) < 0.2] = np.nan
        out[name] = GroupResult(stat, rng.random(n_groups), rng.integers(0, 9, n_groups))
    return out


def test_battery_frame_of_several_windows_is_the_per_window_frames_concatenated():
    rng = np.random.default_rng(3)
    labels = np.array(["all", "E1", "E2", "E3"], dtype=object)
    names = ["csect_t", "kp_bmp_t", "calendar_time_z", "wild_bootstrap"]
    windows = [(-1, 1), (0, 0), (-5, 10)]
    batteries = [_battery(rng, names, len(labels)) for _ in windows]
    rbars = [rng.random(len(labels)) for _ in windows]
    got = battery_frame(labels, windows, batteries, rbars)
    parts = []
    for window, battery, rbar in zip(windows, batteries, rbars, strict=True):
        for g, label in enumerate(labels):
            for name in names:
                row = {"group": label, "window": Windows.label(window), "test": name, "family": family(name)}
                row |= {"statistic": battery[name].statistic[g], "p_value": battery[name].p_value[g]}
                parts.append(row | {"n": battery[name].n[g], "rbar": rbar[g]})
    want = pd.DataFrame(parts, columns=TESTS_COLUMNS)
    pd.testing.assert_frame_equal(got, want)


def test_adjust_p_values_equals_multipletests_per_family():
    rng = np.random.default_rng(11)
    n = 600
    tests = pd.DataFrame(
        {
            "measure": rng.choice(["return", "volume", "volatility"], n),
            "group": rng.choice(["all", "E1", "E2", "E3"], n),
            "test": rng.choice(["csect_t", "grank", "sign"], n),
            "p_value": np.round(rng.random(n), 2),  # ties
        }
    )
    tests.loc[rng.random(n) < 0.15, "p_value"] = np.nan
    got = adjust_p_values(tests)
    level = np.where(tests["group"] == "all", "all", "event")
    want_holm, want_bh = np.full(n, np.nan), np.full(n, np.nan)
    for idx in tests.groupby([tests["measure"], tests["test"], level]).indices.values():
        idx = idx[np.isfinite(tests["p_value"].to_numpy()[idx])]
        p = tests["p_value"].to_numpy()[idx]
        want_holm[idx] = multipletests(p, method="holm")[1]
        want_bh[idx] = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(got["p_holm"], want_holm, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["p_bh"], want_bh, rtol=1e-12, equal_nan=True)
    pd.testing.assert_frame_equal(got.drop(columns=["p_holm", "p_bh"]), tests)


def test_adjusted_p_values_do_not_depend_on_the_order_of_tied_rows():
    """Every row of a tie gets the same Holm and BH p-value whatever the order of the tied rows (the reason the
    engine's sort by p need not be stable): the table's rows shuffled give the same numbers, bit for bit."""
    rng = np.random.default_rng(4)
    n = 5000
    tests = pd.DataFrame(
        {
            "measure": rng.choice(["return", "volatility"], n),
            "group": rng.choice(["all", "E1", "E2"], n),
            "test": rng.choice(["csect_t", "grank", "sign"], n),
            "p_value": np.round(rng.random(n) ** 3, 3),  # many ties, most of them among the small p-values
        }
    )
    tests.loc[rng.random(n) < 0.3, "p_value"] = 1.0
    want = adjust_p_values(tests)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(n)
        got = adjust_p_values(tests.iloc[order].reset_index(drop=True))
        for column in ("p_holm", "p_bh"):
            np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy()[order])
    assert tests["p_value"].duplicated().mean() > 0.8


@pytest.mark.parametrize("seed", [0, 1])
def test_group_day_means_with_keep_on_a_strided_view_equals_the_masked_copy(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(40, 30))
    values[rng.random(values.shape) < 0.1] = np.nan
    keep = rng.random(values.shape) < 0.8
    masks = rng.random((7, 40)) < 0.4
    masks[1] = False  # an empty group
    groups = Groups.from_masks(masks)
    days = slice(4, 25)  # a strided view
    got = group_day_means(values[:, days], groups, keep[:, days])
    want = group_day_means(np.where(keep[:, days], values[:, days], np.nan).copy(), groups)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    for g in range(7):
        cells = np.where(keep[masks[g]][:, days], values[masks[g]][:, days], np.nan)
        count = np.isfinite(cells).sum(axis=0)
        mean = np.where(count > 0, np.nansum(cells, axis=0) / np.maximum(count, 1), np.nan)
        np.testing.assert_allclose(got[0][g], mean, rtol=1e-14)
        np.testing.assert_array_equal(got[1][g], count)


def test_windows_with_the_same_groups_share_the_estimation_portfolio_sd():
    rng = np.random.default_rng(8)
    ar_est = rng.normal(0, 0.02, (60, 40))
    ar_est[rng.random(ar_est.shape) < 0.1] = np.nan
    ar_win = rng.normal(0, 0.03, (60, 3))
    groups = Groups.from_masks(rng.random((9, 60)) < 0.3)
    lacking = np.ones(60, bool)
    lacking[groups.pair[:3]] = False  # one window lacks a CAR for three pairs
    members = [groups, groups.subset(lacking), groups.subset(np.ones(60, bool))]
    calls = []
    shared = shared_by_windows(members, lambda g: calls.append(g) or portfolio_sd(ar_est, g))
    assert len(calls) == 2 and shared[2] is shared[0] and shared[1] is not shared[0]
    for window_groups, estimation in zip(members, shared, strict=True):
        got = time_series_t_groups(ar_est, ar_win, window_groups, estimation)
        want = time_series_t_groups(ar_est, ar_win, window_groups)
        for a, b in zip((got.statistic, got.p_value, got.n), (want.statistic, want.p_value, want.n), strict=True):
            np.testing.assert_array_equal(a, b)
