"""The grouped rank and sign tests against scipy on each group's own subset, for ~50 random overlapping groups."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eventstudy.engine import rank_tests as rt
from eventstudy.inference.groups import Groups

P, L1, L2 = 240, 40, 4


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    est = np.round(rng.normal(0, 1, (P, L1)), 1)  # a coarse grid: many ties within a pair
    est[rng.random((P, L1)) < 0.08] = np.nan
    est[5] = np.nan  # a pair without estimation returns
    est[6, :3] = np.inf  # non-finite values count as missing
    win = np.round(rng.normal(0.3, 1, (P, L2)), 1)
    win[rng.random((P, L2)) < 0.1] = np.nan
    win[7] = np.nan  # a pair without window returns
    car = rng.normal(0.2, 1, P)  # continuous: no ties (the exact Wilcoxon distribution)
    car[rng.random(P) < 0.05] = np.nan
    car[rng.random(P) < 0.05] = 0.0
    car_ties = np.round(car, 1)  # ties and more zeros (permutation / asymptotic paths)
    csar = rng.standard_t(8, P) + 0.3
    csar[rng.random(P) < 0.05] = np.nan
    masks = [rng.random(P) < rng.choice([0.05, 0.1, 0.3, 0.6]) for _ in range(36)]
    masks += [np.zeros(P, bool)]  # empty
    for size in (1, 2, 3, 5, 9, 12, 13, 14, 49, 50, 51, 53, 56):  # tiny ones and Wilcoxon's method switches
        mask = np.zeros(P, bool)
        mask[rng.choice(P, size, replace=False)] = True
        masks.append(mask)
    masks.append(np.ones(P, bool))
    return est, win, car, car_ties, csar, masks


def _close(result, ref):
    stat, p, n = (np.array(col, dtype=float) for col in zip(*ref, strict=True))
    np.testing.assert_array_equal(result.n, n)
    np.testing.assert_allclose(result.statistic, stat, rtol=1e-10, atol=1e-13, equal_nan=True)
    np.testing.assert_allclose(result.p_value, p, rtol=1e-10, atol=1e-15, equal_nan=True)


def _u(sample: np.ndarray) -> np.ndarray:
    u = np.full(sample.shape, np.nan)
    for i, row in enumerate(sample):
        ok = np.isfinite(row)
        u[i, ok] = stats.rankdata(row[ok]) / (1 + ok.sum()) - 0.5
    return u


def _corrado(est, win):
    sample = np.hstack([est, win])
    window = np.r_[np.zeros(est.shape[1], bool), np.ones(win.shape[1], bool)]
    n = int(np.isfinite(win).any(axis=1).sum())
    u = _u(sample)
    n_t = np.isfinite(u).sum(axis=0)
    have = n_t > 0
    if n == 0 or have.sum() < 3 or not (window & have).any():
        return np.nan, np.nan, n
    k = np.array([np.sqrt(n_t[t]) * np.nanmean(u[:, t]) for t in np.flatnonzero(have)])
    z = k[window[have]].sum() / (np.sqrt((window & have).sum()) * np.sqrt(np.mean(k**2)))
    return z, 2 * stats.norm.sf(abs(z)), n


def _grank(sar, csar):
    ok = np.isfinite(csar)
    n = int(ok.sum())
    if n < 2 or np.std(csar[ok], ddof=1) == 0:
        return np.nan, np.nan, n
    u = _u(np.hstack([sar[ok], (csar[ok] / np.std(csar[ok], ddof=1))[:, None]]))
    n_t = np.isfinite(u).sum(axis=0)
    days = n_t > 0
    ubar = np.array([np.nanmean(u[:, t]) for t in np.flatnonzero(days)])
    big_t = int(days.sum())
    z = ubar[-1] / np.sqrt(np.sum(n_t[days] / n * ubar**2) / big_t)
    if big_t < 3 or big_t - 1 - z**2 <= 0:
        return np.nan, np.nan, n
    t = z * np.sqrt((big_t - 2) / (big_t - 1 - z**2))
    return t, 2 * stats.t.sf(abs(t), big_t - 2), n


def _sign(car):
    x = car[np.isfinite(car) & (car != 0)]
    if len(x) == 0:
        return np.nan, np.nan, 0
    w = int((x > 0).sum())
    p = stats.binomtest(w, len(x), 0.5).pvalue
    return np.sign(w - len(x) / 2) * stats.norm.isf(p / 2), p, len(x)


def _generalized_sign(car, est):
    ok = np.isfinite(car) & np.isfinite(est).any(axis=1)
    n = int(ok.sum())
    if n == 0:
        return np.nan, np.nan, 0
    p_hat = np.mean([np.sum(r > 0) / np.isfinite(r).sum() for r in est[ok]])
    if not 0 < p_hat < 1:
        return np.nan, np.nan, n
    z = ((car[ok] > 0).sum() - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat))
    return z, 2 * stats.norm.sf(abs(z)), n


def _wilcoxon(car):
    x = car[np.isfinite(car) & (car != 0)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, 0
    w_plus = stats.rankdata(np.abs(x))[x > 0].sum()
    ties = np.unique(np.abs(x), return_counts=True)[1]
    var = n * (n + 1) * (2 * n + 1) / 24 - np.sum(ties**3.0 - ties) / 48
    z = (w_plus - n * (n + 1) / 4) / np.sqrt(var) if var > 0 else np.nan
    return z, stats.wilcoxon(x, zero_method="wilcox", method="auto").pvalue, n


def test_corrado_rank_groups(data):
    est, win, _, _, _, masks = data
    result = rt.corrado_rank_groups(est, win, Groups.from_masks(masks))
    _close(result, [_corrado(est[m], win[m]) for m in masks])
    assert np.isfinite(result.statistic).sum() > 40
    # the estimation ranks are reusable across windows
    ranked = rt.RankedRows.of(est)
    again = rt.corrado_rank_groups(ranked, win[:, :2], Groups.from_masks(masks))
    _close(again, [_corrado(est[m], win[m][:, :2]) for m in masks])


def test_grank_groups(data):
    est, _, _, _, csar, masks = data
    result = rt.grank_groups(est, csar, Groups.from_masks(masks))
    _close(result, [_grank(est[m], csar[m]) for m in masks])
    assert np.isfinite(result.statistic).sum() > 40
    tied = np.round(csar * 2) / 2  # tied CSARs
    _close(rt.grank_groups(est, tied, Groups.from_masks(masks)), [_grank(est[m], tied[m]) for m in masks])
    signs = np.where(np.arange(P) % 2 == 0, 1.0, -1.0)  # mean 0 and sd exact: GSAR = +-1 / sd
    level = est.copy()
    level[:, :2] = (signs / np.std(signs, ddof=1))[:, None]  # each GSAR equal to two of its pair's SARs
    _close(rt.grank_groups(level, signs, Groups.one(P)), [_grank(level, signs)])


def test_sign_tests_groups(data):
    est, _, car, car_ties, _, masks = data
    groups = Groups.from_masks(masks)
    for x in (car, car_ties):
        _close(rt.sign_test_groups(x, groups), [_sign(x[m]) for m in masks])
        _close(rt.generalized_sign_groups(x, est, groups), [_generalized_sign(x[m], est[m]) for m in masks])


def test_binomtest_on_every_outcome_up_to_100():
    n = np.repeat(np.arange(1, 101), np.arange(2, 102))
    k = np.concatenate([np.arange(m + 1) for m in range(1, 101)])
    ref = [stats.binomtest(int(a), int(b), 0.5).pvalue for a, b in zip(k, n, strict=True)]
    np.testing.assert_allclose(rt._binomtest_half(k, n), ref, rtol=1e-12)


def test_wilcoxon_groups_every_method(data):
    _, _, car, car_ties, _, masks = data
    groups = Groups.from_masks(masks)
    for x in (car, car_ties):
        _close(rt.wilcoxon_test_groups(x, groups), [_wilcoxon(x[m]) for m in masks])
    sizes = [int((np.isfinite(car_ties[m]) & (car_ties[m] != 0)).sum()) for m in masks]
    assert {n for n in sizes if 0 < n <= 13} and {n for n in sizes if 13 < n <= 50} and max(sizes) > 50


def test_single_group_functions_are_the_grouped_ones(data):
    est, win, car, _, csar, masks = data
    m = masks[-1]
    full = np.hstack([est, win])
    window = np.r_[np.zeros(L1, bool), np.ones(L2, bool)]
    assert rt.corrado_rank(full[m], window) == rt.corrado_rank_groups(est[m], win[m], Groups.one(int(m.sum())))[0]
    assert rt.grank(est, csar) == rt.grank_groups(est, csar, Groups.one(P))[0]
    assert rt.wilcoxon_test(car) == rt.wilcoxon_test_groups(car, Groups.one(P))[0]


def _wilcoxon_z_by_lexsort(car, groups):
    """W+ and its tie-corrected z as the engine computed them before its integer-key sort: one stable lexsort over
    (group, |CAR|), average ranks of each run of equal |CAR|, W+ summed in that order."""
    x = car[groups.pair]
    use = np.isfinite(x) & (x != 0)
    order = np.lexsort((np.abs(x[use]), groups.group[use]))
    group, x = groups.group[use][order], x[use][order]
    n = np.bincount(group, minlength=groups.n_groups).astype(float)
    run_start = np.flatnonzero(np.r_[True, (np.diff(group) != 0) | (np.diff(np.abs(x)) != 0)])
    run_len = np.diff(np.r_[run_start, len(x)])
    first = np.r_[0, np.cumsum(n)][group[run_start]]
    rank = np.repeat(run_start - first + (run_len + 1) / 2.0, run_len)
    w_plus = np.bincount(group, weights=np.where(x > 0, rank, 0.0), minlength=groups.n_groups)
    tie_sum = np.bincount(group[run_start], weights=run_len.astype(float) ** 3 - run_len, minlength=groups.n_groups)
    var = n * (n + 1) * (2 * n + 1) / 24 - tie_sum / 48
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n > 0) & (var > 0), (w_plus - n * (n + 1) / 4) / np.sqrt(var), np.nan)


@pytest.mark.parametrize("decimals", [1, 3, 12])
def test_wilcoxon_integer_key_sort_gives_the_lexsort_ranks_bit_for_bit(decimals):
    rng = np.random.default_rng(decimals)
    car = np.round(rng.normal(0.01, 1, 20_000), decimals) * 10.0 ** rng.integers(-6, 3, 20_000)  # ties, any scale
    car[rng.random(20_000) < 0.02] = np.nan
    car[:50] = -car[50:100]  # equal |CAR| of both signs
    codes = rng.integers(0, 300, 20_000)
    for groups in (Groups.one(20_000), Groups.from_codes(codes, 300), Groups.from_masks([codes < 5, codes >= 0])):
        result = rt.wilcoxon_test_groups(car, groups)
        np.testing.assert_array_equal(result.statistic, _wilcoxon_z_by_lexsort(car, groups))
