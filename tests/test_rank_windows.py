"""Corrado and GRANK of several event windows at once (one walk per pair, engine.rank_sums) against each window's
day sums of U built pair by pair from scipy's ranks, bit for bit: ties, missing and non-finite values, windows
sharing days, memberships that differ by window and pairs in several groups."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eventstudy.engine import rank_tests as rt
from eventstudy.engine import rank_walks
from eventstudy.inference.groups import GroupResult, Groups

P, L1, D = 300, 60, 30  # pairs, estimation days, window days to choose from
WINDOWS = [np.arange(10, 13), np.arange(11, 12), np.arange(11, 17), np.arange(6, 22), np.arange(0, 30)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(77)
    est = np.round(rng.normal(0, 1, (P, L1)), 1)  # a coarse grid: ties within a pair and with window values
    est[rng.random(est.shape) < 0.1] = np.nan
    est[3] = np.nan  # no estimation values
    est[4, :2] = [np.inf, -np.inf]
    ar = np.round(rng.normal(0.2, 1, (P, D)), 1)
    ar[rng.random(ar.shape) < 0.1] = np.nan
    ar[5] = np.nan  # no window values
    ar[6, 11] = np.inf
    sar = est / rng.uniform(0.5, 2.0, (P, 1))
    masks = [rng.random(P) < share for share in (0.1, 0.3, 0.6)] + [np.zeros(P, bool), np.ones(P, bool)]
    masks.append(np.isin(np.arange(P), [3, 5, 8]))  # a group of pairs without estimation or window values
    members = []
    csars = []
    for w in range(len(WINDOWS)):  # each window keeps other pairs (a finite CAR in the window)
        keep = rng.random(P) > 0.05 * w
        members.append(Groups.from_masks(masks).subset(keep))
        csar = np.round(rng.standard_t(6, P), 1)  # ties among CSARs
        csar[~keep | (rng.random(P) < 0.05)] = np.nan
        csars.append(csar)
    return est, ar, sar, members, csars


def _u(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(row)
    u = np.full(len(row), np.nan)
    u[ok] = stats.rankdata(row[ok]) / (1 + ok.sum()) - 0.5
    return u, ok


def _corrado_reference(est, ar, days, groups: Groups):
    """Day sums of U, pair after pair, from scipy's ranks of each pair's sample."""
    width = L1 + len(days)
    sums, counts = np.zeros((groups.n_groups, width)), np.zeros((groups.n_groups, width))
    n = np.zeros(groups.n_groups, np.int64)
    for g, i in sorted(zip(groups.group, groups.pair, strict=True), key=lambda entry: entry[1]):
        u, ok = _u(np.r_[est[i], ar[i, days]])
        sums[g, ok] += u[ok]
        counts[g, ok] += 1
        n[g] += ok[L1:].any()
    return _corrado_numpy(sums, counts, n, L1)


def _corrado_numpy(sums: np.ndarray, counts: np.ndarray, n: np.ndarray, l1: int) -> GroupResult:
    """Corrado's Z from day sums of U (G, L1 + L2) and counts: the (G, L) reductions in numpy (the engine's
    expressions before its one-pass kernel, engine.rank_walks._corrado_rows), the (G,) formula the engine's."""
    window = np.arange(sums.shape[1]) >= l1
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(counts > 0, np.sqrt(counts) * (sums / np.maximum(counts, 1)), 0.0)
    have = counts > 0
    win_days = have & window[None, :]
    k_window = np.where(win_days, k, 0.0).sum(axis=1)
    return rank_walks._corrado_result((k**2).sum(axis=1), k_window, have.sum(axis=1), win_days.sum(axis=1), n)


def _grank_reference(sar, csar, groups: Groups):
    entries, gsar, n, usable = rank_walks._gsar(csar, groups)
    sums, counts, cum = np.zeros((groups.n_groups, L1)), np.zeros((groups.n_groups, L1)), np.zeros(groups.n_groups)
    for g, i, x in sorted(zip(entries.group, entries.pair, gsar, strict=True), key=lambda entry: entry[1]):
        if np.isfinite(x):
            u, ok = _u(np.r_[sar[i], x])
            sums[g, ok[:L1]] += u[:L1][ok[:L1]]
            counts[g, ok[:L1]] += 1
            cum[g] += u[L1]
    return _grank_numpy(sums, counts, cum, n, usable)


def _grank_numpy(sums, counts, cum, n, usable) -> GroupResult:
    """t_grank from the estimation days' sums of U (G, L1), their counts and the cumulative day's sums (G,): the
    (G, L1) reduction in numpy (the engine's expression before its one-pass kernel, engine.rank_walks._grank_rows),
    the (G,) formula the engine's."""
    days = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = np.where(days, sums / np.maximum(counts, 1), 0.0)
        weighted = (counts / n[:, None] * ubar**2).sum(axis=1)
    return rank_walks._grank_result(weighted, days.sum(axis=1), cum, n, usable)


def _same(a, b):
    for field in ("statistic", "p_value", "n"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize(
    ("sums_bytes", "rise_bits"),  # all windows in one walk, or one window per walk; 8, 4 or 2 windows' rises a word
    [(rank_walks.SUMS_BYTES, rank_walks.RISE_BITS), (1, rank_walks.RISE_BITS), (rank_walks.SUMS_BYTES, 8),
     (rank_walks.SUMS_BYTES, 32)],
)  # fmt: skip
def test_windows_at_once_equal_each_window_from_scipy_bit_for_bit(data, monkeypatch, sums_bytes, rise_bits):
    est, ar, sar, members, csars = data
    monkeypatch.setattr(rank_walks, "SUMS_BYTES", sums_bytes)
    monkeypatch.setattr(rank_walks, "RISE_BITS", rise_bits)
    corrado = rt.corrado_rank_windows(est, ar, WINDOWS, members)
    grank = rt.grank_windows(sar, csars, members)
    assert len(corrado) == len(grank) == len(WINDOWS)
    for w, days in enumerate(WINDOWS):
        _same(corrado[w], _corrado_reference(est, ar, days, members[w]))
        _same(corrado[w], rt.corrado_rank_groups(est, ar[:, days], members[w]))
        _same(grank[w], _grank_reference(sar, csars[w], members[w]))
        _same(grank[w], rt.grank_groups(sar, csars[w], members[w]))
        assert np.isfinite(corrado[w].statistic).sum() >= 4 and np.isfinite(grank[w].statistic).sum() >= 4
    # the windows' results differ: a window mixed up with another would show
    assert len({corrado[w].statistic[-2] for w in range(len(WINDOWS))}) == len(WINDOWS)
    assert len({grank[w].statistic[-2] for w in range(len(WINDOWS))}) == len(WINDOWS)


@pytest.mark.parametrize(("l1", "width"), [(240, 21), (60, 3), (200, 1), (2, 5)])
def test_the_one_pass_results_equal_numpys_formulas_bit_for_bit(l1, width):
    """Corrado's and GRANK's results from the day sums in one compiled pass a group (the sums of a row numpy's
    pairwise ones, rows longer than its 128-value blocks too) equal the same formulas in numpy over (G, L) arrays,
    bit for bit: days without a U, groups with none, partial and full rows (``full``: every estimation day valid),
    groups in rows of their own in any order and rows longer than a window, as the walks hold them; each group's
    row is zeroed once read (for a group that opens later)."""
    rng = np.random.default_rng(l1 + width)
    n_groups, spare = 400, 3
    counts = rng.integers(0, 40, (n_groups + spare, l1 + width + spare)).astype(np.int32)  # as the walks count
    counts[rng.random(counts.shape) < 0.2] = 0
    counts[:3] = 0  # groups with no U on any day
    full = rng.integers(0, 30, n_groups)
    full[5:9] = 0
    sums = rng.normal(0.0, 2.0, counts.shape) * np.sqrt(counts)
    n = rng.integers(0, 50, n_groups)
    n[10:14] = 0
    row = rng.permutation(n_groups + spare)[:n_groups]  # each group's row
    groups = rng.permutation(n_groups)  # closed in any order
    out, days = np.full((2, n_groups), np.nan), np.full((2, n_groups), -1)
    c_sums, c_counts = sums.copy(), counts.copy()
    rank_walks._corrado_rows(c_sums, c_counts, full, row, groups, l1 + width, l1, *out, *days)
    got = rank_walks._corrado_result(*out, *days, n)
    on_days = (np.arange(l1 + width) < l1) * full[:, None]
    _same(got, _corrado_numpy(sums[row, : l1 + width], counts[row, : l1 + width] + on_days, n, l1))
    assert np.isfinite(got.statistic).sum() > n_groups // 2
    assert not c_sums[row].any() and not c_counts[row].any() and c_sums[~np.isin(np.arange(len(sums)), row)].any()
    g_sums, g_counts = sums[:, :l1].copy(), counts[:, :l1].copy()
    cum, usable = rng.normal(0.0, 3.0, n_groups), rng.random(n_groups) < 0.9
    rank_walks._grank_rows(g_sums, g_counts, full, n, row, groups, out[0], days[0])
    got = rank_walks._grank_result(out[0], days[0], cum, n, usable)
    _same(got, _grank_numpy(sums[row, :l1], counts[row, :l1] + full[:, None], cum, n, usable))
    assert np.isfinite(got.statistic).sum() > n_groups // 3
    assert not g_sums[row].any() and not g_counts[row].any()


def test_positive_share_counts_as_numpy(data):
    est = data[0]
    share = rt.positive_share(est)
    m = np.isfinite(est).sum(axis=1)
    np.testing.assert_array_equal(share.count, m)
    np.testing.assert_array_equal(share.share, np.where(m > 0, (est > 0).sum(axis=1) / np.maximum(m, 1), 0.0))


def test_grank_reads_corrados_ranks_only_where_the_sars_ties_are_the_ars(data):
    """corrado_grank_windows walks each pair once for both tests: GRANK takes the ARs' average ranks from Corrado's
    pass where the SARs (AR / sigma) share the ARs' order and ties. Two ARs one ulp apart whose quotients are equal
    (a tie of the SARs only) must be ranked as SARs: GRANK of the quotients themselves, Corrado of the ARs."""
    est, ar, _, members, csars = data
    rng = np.random.default_rng(11)
    est = est.copy()
    sigma = rng.uniform(0.5, 2.0, P)
    merged = 0
    for i in range(10, P, 3):  # an AR and the next double, whose quotients round to one SAR
        while True:
            a, s = rng.uniform(1.5, 2.0), rng.uniform(3.0, 4.0)
            if a / s == np.nextafter(a, 3.0) / s:
                break
        est[i, :2] = a, np.nextafter(a, 3.0)
        sigma[i] = s
        merged += 1
    corrado, grank = rank_walks.corrado_grank_windows(est, None, sigma, ar, WINDOWS, csars, members)
    sar = est / sigma[:, None]
    assert merged > 50 and ((sar[:, 0] == sar[:, 1]) & (est[:, 0] != est[:, 1])).sum() == merged
    for w, days in enumerate(WINDOWS):
        _same(corrado[w], _corrado_reference(est, ar, days, members[w]))
        _same(grank[w], _grank_reference(sar, csars[w], members[w]))
