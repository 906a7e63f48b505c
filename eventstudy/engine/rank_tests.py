"""Rank and sign tests (Corrado, GRANK, sign, generalized sign, Wilcoxon) for every group of pairs at once.

Each ``..._groups`` function takes per-pair arrays and a :class:`~eventstudy.inference.groups.Groups` and returns a
:class:`~eventstudy.inference.groups.GroupResult`; the single-group function of the same name is the grouped one
with ``Groups.one(N)``. Ranks are within a pair (Corrado, GRANK) or within a group (Wilcoxon), average ranks for
ties and missing values left out, exactly as ``scipy.stats.rankdata(..., nan_policy="omit")`` gives them.

Each pair's estimation ARs (SARs) are sorted once (:class:`~eventstudy.engine.ranking.RankedRows`: each row's
sort order, reusable across windows and groups, and shared by the ARs and SARs where it sorts both); an event
window's values (a GSAR) are then placed among them by binary search in a compiled kernel that reads the sorted
values and average ranks through the order and also takes every group's day sums over its membership entries, so a
group costs O(its pairs x days) and there is no Python loop over groups or pairs.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numba
import numpy as np

from eventstudy.engine.ranking import RankedRows, count_below, run_end
from eventstudy.inference import distributions as stats
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.result import TestResult

_WILCOXON_EXACT_MAX = 50  # scipy.stats.wilcoxon(method="auto"): the exact null distribution up to n = 50 ...
_WILCOXON_PERMUTATION_MAX = 13  # ... and with ties a complete permutation (2^n sign flips) up to n = 13


# --------------------------------------------------------------------------------------------- Corrado
def corrado_rank_groups(ar_estimation: np.ndarray | RankedRows, ar_window: np.ndarray, groups: Groups) -> GroupResult:
    """Corrado (1989) rank test with the Corrado & Zivney (1992) scaling, for every group (see :func:`corrado_rank`).

    ``ar_estimation`` (P, L1) (or its :class:`RankedRows`) and ``ar_window`` (P, L2): each pair's ARs on the
    estimation days and on the event window's days; a pair's ranking sample is both together.
    """
    est = RankedRows.of(ar_estimation)
    win = np.asarray(ar_window, dtype=float)
    win = np.where(np.isfinite(win), win, np.nan)
    l1 = est.values.shape[1]
    by_pair = np.argsort(groups.pair, kind="stable")
    sums, counts, n = _corrado_kernel(
        est.values, est.order, est.count, win, groups.pair[by_pair], groups.group[by_pair], groups.n_groups
    )
    window = np.r_[np.zeros(l1, bool), np.ones(win.shape[1], bool)]
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(counts > 0, np.sqrt(counts) * (sums / np.maximum(counts, 1)), 0.0)
        have = counts > 0
        win_days = have & window[None, :]
        n_win = win_days.sum(axis=1)
        s_k = np.sqrt((k**2).sum(axis=1) / np.maximum(have.sum(axis=1), 1))
        z = np.where(win_days, k, 0.0).sum(axis=1) / (np.sqrt(n_win) * s_k)
    usable = (n > 0) & (have.sum(axis=1) >= 3) & (n_win > 0)
    z = np.where(usable, z, np.nan)
    return GroupResult(z, np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan), n)


@numba.njit(cache=True, nogil=True)
def _corrado_kernel(est, order, count, win, pairs, groups, n_groups):  # pragma: no cover - compiled
    """Per group and day: the sum of U over its pairs present that day, their number, and pairs with a window day.

    Entries come in pair order: each pair's U row is computed once and added to every group holding it (within a
    group still in pair order). A window value w's average rank among the pair's values is (values below) +
    (values equal, itself included, + 1) / 2, its estimation neighbours found by binary search in the sorted row
    (lo below, hi up to w). An estimation value's rank rises by 1 per window value below it and 1/2 per equal one;
    as both depend only on its own rank r in the row (w < x iff r > hi, w = x iff lo < r <= hi), the rise is read
    from a table over 2r. The row's sorted values and ranks are read through its sort ``order``.
    """
    l1 = est.shape[1]
    l2 = win.shape[1]
    sums = np.zeros((n_groups, l1 + l2))
    counts = np.zeros((n_groups, l1 + l2))
    n_used = np.zeros(n_groups, np.int64)
    rise = np.empty(2 * l1 + 2)
    u = np.empty(l1 + l2)
    e = 0
    while e < len(pairs):
        i = pairs[e]
        m = count[i]
        wr = win[i]
        q = 0
        for j in range(l2):
            q += wr[j] == wr[j]
        denom = 1.0 + m + q
        rise[: 2 * m + 2] = 0.0
        for j in range(l2):
            w = wr[j]
            u[l1 + j] = np.nan
            if w != w:
                continue
            lo = count_below(est, order, i, m, w, True)
            hi = count_below(est, order, i, m, w, False)
            less = lo
            equal = hi - lo
            for j2 in range(l2):
                less += wr[j2] < w
                equal += wr[j2] == w
            u[l1 + j] = (less + (equal + 1) / 2.0) / denom - 0.5
            rise[2 * lo + 1] += 0.5  # (difference form over 2r) 1/2 for lo < r <= hi, 1 for r > hi
            rise[2 * hi + 1] += 0.5
        total = 0.0
        for k in range(2 * m + 2):
            total += rise[k]
            rise[k] = total
        u[:l1] = np.nan
        a = 0
        while a < m:
            end = run_end(est, order, i, m, a)
            r = a + (end - a + 1) / 2.0
            for k in range(a, end):
                u[order[i, k]] = (r + rise[int(2.0 * r)]) / denom - 0.5
            a = end
        while e < len(pairs) and pairs[e] == i:
            g = groups[e]
            n_used[g] += q > 0
            for c in range(l1 + l2):
                if u[c] == u[c]:
                    sums[g, c] += u[c]
                    counts[g, c] += 1.0
            e += 1
    return sums, counts, n_used


def corrado_rank(ar_sample: np.ndarray, window: np.ndarray) -> TestResult:
    """Corrado (1989) rank test with the Corrado & Zivney (1992) scaling for uneven coverage.

    ``ar_sample`` (N, T): each pair's ARs over the ranking sample (estimation days and the event window);
    ``window`` (T,) marks the event-window columns. Ranks are taken within each pair over its valid days (missing
    returns left out; ties get the average rank); U_it = rank_it / (1 + n_i) - 1/2. With n_t pairs present on
    day t and Ubar_t their mean U, each day's mean is scaled to a common variance, K_t = sqrt(n_t) Ubar_t
    (Corrado & Zivney 1992: Var(Ubar_t) is proportional to 1 / n_t), S_K = sqrt(mean over the sample's days of
    K_t^2) (E[U] = 0), and the statistic is sum over the window of K_t / (sqrt(L2) S_K), N(0, 1). With every pair
    present every day this is Corrado's original statistic.
    """
    window = np.asarray(window, dtype=bool)
    return corrado_rank_groups(ar_sample[:, ~window], ar_sample[:, window], Groups.one(len(ar_sample)))[0]


# --------------------------------------------------------------------------------------------- GRANK
def grank_groups(sar_estimation: np.ndarray | RankedRows, csar: np.ndarray, groups: Groups) -> GroupResult:
    """Kolari & Pynnönen (2011) GRANK-T for every group (see :func:`grank`).

    ``sar_estimation`` (P, L1) (or its :class:`RankedRows`): each pair's estimation-window SARs; ``csar`` (P,).
    GSAR_i = CSAR_i / sd(CSAR over the group), so a pair's cumulative day and the shift of its estimation days'
    ranks are computed per membership entry.
    """
    est = RankedRows.of(sar_estimation)
    csar = np.asarray(csar, dtype=float)
    ok = np.isfinite(csar)
    entries = groups.subset(ok)
    n = np.bincount(entries.group, minlength=groups.n_groups)
    x = csar[entries.pair]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(entries.group, weights=x, minlength=groups.n_groups) / n
        dev = x - mean[entries.group]
        sd = np.sqrt(np.bincount(entries.group, weights=dev**2, minlength=groups.n_groups) / (n - 1))
        gsar = x / sd[entries.group]
    usable = (n >= 2) & (sd != 0)
    gsar = np.where(usable[entries.group], gsar, np.nan)
    sums, counts, cum = _grank_kernel(est.values, est.order, est.count, gsar, entries.starts, entries.pair)
    days = counts > 0
    big_t = days.sum(axis=1) + (n > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = np.where(days, sums / np.maximum(counts, 1), 0.0)
        ubar0 = cum / n
        total = (counts / n[:, None] * ubar**2).sum(axis=1) + ubar0**2
        s_u = np.sqrt(total / big_t)
        z = ubar0 / s_u
        room = big_t - 1 - z**2
        t = z * np.sqrt((big_t - 2) / room)
    t = np.where(usable & (big_t >= 3) & (room > 0), t, np.nan)
    p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(t), np.maximum(big_t - 2, 1)), np.nan)
    return GroupResult(t, p, n)


@numba.njit(cache=True, nogil=True)
def _grank_kernel(est, order, count, gsar, starts, pairs):  # pragma: no cover - compiled
    """Per group: the sum of U and the pairs present on each estimation day, and the sum of the cumulative day's U.

    Entry e's GSAR among its pair's m sorted SARs (lo below it, hi up to it, by binary search) has rank
    lo + (hi - lo + 2) / 2 of m + 1 values; an estimation SAR of rank r rises by 1 if r > hi, by 1/2 if lo < r <= hi.
    The SARs are read in sorted order through the pair's sort ``order``, a run of equal ones sharing its rank.
    """
    n_groups = len(starts) - 1
    l1 = est.shape[1]
    sums = np.zeros((n_groups, l1))
    counts = np.zeros((n_groups, l1))
    cum = np.zeros(n_groups)
    for g in range(n_groups):
        for e in range(starts[g], starts[g + 1]):
            w = gsar[e]
            if w != w:
                continue
            i = pairs[e]
            m = count[i]
            denom = m + 2.0
            lo = count_below(est, order, i, m, w, True)
            hi = count_below(est, order, i, m, w, False)
            cum[g] += (lo + (hi - lo + 2) / 2.0) / denom - 0.5
            a = 0
            while a < m:
                end = run_end(est, order, i, m, a)
                r = a + (end - a + 1) / 2.0
                add = (r + (1.0 if r > hi else (0.5 if r > lo else 0.0))) / denom - 0.5
                for k in range(a, end):
                    c = order[i, k]
                    sums[g, c] += add
                    counts[g, c] += 1.0
                a = end
    return sums, counts, cum


def grank(sar_estimation: np.ndarray, csar: np.ndarray) -> TestResult:
    """Kolari & Pynnönen (2011) generalized rank test (GRANK-T) of a cumulative abnormal return.

    The CAR is collapsed into one "cumulative day": GSAR_i = CSAR_i / sd(CSAR) (cross-sectional
    re-standardization as in BMP). It is ranked among the pair's estimation-window SARs (L1_i + 1 values,
    U = rank / (L1_i + 2) - 1/2). With Ubar_t the mean U over the n_t pairs present on day t, T the number of days
    (estimation days + the cumulative day) and S_U = sqrt(sum_t (n_t / N) Ubar_t^2 / T), Z = Ubar_0 / S_U and
    t_grank = Z sqrt((T - 2) / (T - 1 - Z^2)), t with T - 2 df (STATISTICS.md: L1 - 1).
    """
    return grank_groups(sar_estimation, csar, Groups.one(len(csar)))[0]


# --------------------------------------------------------------------------------------------- sign tests
def sign_test_groups(car: np.ndarray, groups: Groups) -> GroupResult:
    """The exact binomial sign test for every group (see :func:`sign_test`), scipy.stats.binomtest vectorised."""
    car = np.asarray(car, dtype=float)
    x = car[groups.pair]
    use = np.isfinite(x) & (x != 0)
    n = np.bincount(groups.group[use], minlength=groups.n_groups)
    w = np.bincount(groups.group[use & (x > 0)], minlength=groups.n_groups)
    p = _binomtest_half(w, n)
    with np.errstate(invalid="ignore"):
        z = np.sign(w - n / 2) * stats.norm.isf(np.minimum(p, 1.0) / 2)
    has = n > 0
    return GroupResult(np.where(has, z, np.nan), np.where(has, p, np.nan), n)


def _binomtest_half(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """scipy.stats.binomtest(k, n, 0.5).pvalue (two-sided) for arrays: the same binary search for the other tail."""
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    nn = np.maximum(n, 1)
    d = stats.binom.pmf(k, nn, 0.5)
    rerr = 1 + 1e-7
    low = k < 0.5 * n  # the other tail is above the mode: search -pmf over [ceil(n/2), n]
    sign = np.where(low, -1.0, 1.0)
    target = sign * d * rerr
    lo = np.where(low, np.ceil(0.5 * n), 0).astype(np.int64)
    hi = np.where(low, n, np.floor(0.5 * n)).astype(np.int64)
    found = np.full(len(k), -1, np.int64)
    while True:
        active = (lo < hi) & (found < 0)
        if not active.any():
            break
        mid = lo + (hi - lo) // 2
        midval = sign * stats.binom.pmf(mid, nn, 0.5)
        below = active & (midval < target)
        above = active & (midval > target)
        found = np.where(active & ~below & ~above, mid, found)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(above, mid - 1, hi)
    last = np.where(sign * stats.binom.pmf(lo, nn, 0.5) <= target, lo, lo - 1)
    ix = np.where(found >= 0, found, last)
    y_low = n - ix + (d * rerr == stats.binom.pmf(ix, nn, 0.5))
    p_low = stats.binom.cdf(k, nn, 0.5) + stats.binom.sf(n - y_low, nn, 0.5)
    p_high = stats.binom.cdf(ix, nn, 0.5) + stats.binom.sf(k - 1, nn, 0.5)
    p = np.minimum(1.0, np.where(low, p_low, p_high))
    return np.where(k == 0.5 * n, 1.0, p)


def sign_test(car: np.ndarray) -> TestResult:
    """Sign test of the share of positive CARs against 1/2, exact binomial.

    p_value: the exact two-sided binomial test of w positive CARs out of n (scipy.stats.binomtest). statistic: the
    normal quantile of that exact p, signed by the direction, z = sign(w - n/2) Phi^-1(1 - p/2), so that
    2 (1 - Phi(|z|)) = p (0 when p = 1). Zero CARs are left out (n counts the rest).
    """
    return sign_test_groups(car, Groups.one(len(car)))[0]


class PositiveShare(NamedTuple):
    """Each pair's share of positive estimation ARs, and its number of finite ones (see :func:`positive_share`)."""

    share: np.ndarray  # (P,) 0 for a pair without finite estimation ARs
    count: np.ndarray  # (P,)


def positive_share(ar_estimation: np.ndarray) -> PositiveShare:
    """(1/L1_i) sum_t 1[AR_it > 0] of each pair's estimation ARs ``ar_estimation`` (P, L1), L1_i its finite ones:
    the same for every event window, so a study computes it once."""
    m = np.isfinite(ar_estimation).sum(axis=1)
    return PositiveShare(np.where(m > 0, (ar_estimation > 0).sum(axis=1) / np.maximum(m, 1), 0.0), m)


def generalized_sign_groups(car: np.ndarray, ar_estimation: np.ndarray | PositiveShare, groups: Groups) -> GroupResult:
    """Cowan's (1992) generalized sign test for every group (see :func:`generalized_sign`); ``ar_estimation`` (P, L1)
    or its :func:`positive_share`."""
    car = np.asarray(car, dtype=float)
    share, m = ar_estimation if isinstance(ar_estimation, PositiveShare) else positive_share(ar_estimation)
    ok = np.isfinite(car) & (m > 0)
    n = groups.count(ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_hat = groups.sum(np.where(ok, share, 0.0)) / n
        w = groups.count(ok & (car > 0))
        z = (w - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat))
    z = np.where((n > 0) & (p_hat > 0) & (p_hat < 1), z, np.nan)
    return GroupResult(z, np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan), n)


def generalized_sign(car: np.ndarray, ar_estimation: np.ndarray) -> TestResult:
    """Cowan (1992) generalized sign test.

    p_hat = (1/N) sum_i (1/L1_i) sum_t 1[AR_it > 0] over each pair's estimation window (Cowan's eq.);
    w = number of positive CARs; Z = (w - N p_hat) / sqrt(N p_hat (1 - p_hat)), N(0, 1), no continuity correction.
    """
    return generalized_sign_groups(car, ar_estimation, Groups.one(len(car)))[0]


# --------------------------------------------------------------------------------------------- Wilcoxon
def wilcoxon_test_groups(car: np.ndarray, groups: Groups) -> GroupResult:
    """The Wilcoxon signed-rank test for every group (see :func:`wilcoxon_test`).

    |CAR| is ranked within each group by one lexsort over (group, |CAR|), average ranks for ties. The p-value is
    what scipy.stats.wilcoxon(x, zero_method="wilcox", method="auto") gives (scipy >= 1.13): for n <= 50 without
    ties the exact null distribution of W+, with ties and n <= 13 the complete sign-flip permutation distribution,
    otherwise the tie-corrected normal approximation without continuity correction.
    """
    car = np.asarray(car, dtype=float)
    x = car[groups.pair]
    use = np.isfinite(x) & (x != 0)
    group, x = groups.group[use], x[use]
    size = np.abs(x)
    order = np.lexsort((size, group))
    group, x, size = group[order], x[order], size[order]
    n = np.bincount(group, minlength=groups.n_groups)
    starts = np.r_[0, np.cumsum(n)]
    new_run = np.r_[True, (group[1:] != group[:-1]) | (size[1:] != size[:-1])] if len(x) else np.zeros(0, bool)
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.r_[run_start, len(x)])
    run_group = group[run_start]
    rank = np.repeat(run_start - starts[run_group] + (run_len + 1) / 2.0, run_len)
    w_plus = np.bincount(group, weights=np.where(x > 0, rank, 0.0), minlength=groups.n_groups)
    tie_sum = np.bincount(run_group, weights=run_len.astype(float) ** 3 - run_len, minlength=groups.n_groups)
    ties = np.bincount(run_group, weights=run_len > 1, minlength=groups.n_groups) > 0
    nf = n.astype(float)
    mean = nf * (nf + 1) / 4
    var = nf * (nf + 1) * (2 * nf + 1) / 24 - tie_sum / 48
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (w_plus - mean) / np.sqrt(var), np.nan)
    p = np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan)
    exact = (n > 0) & (n <= _WILCOXON_EXACT_MAX) & ~ties
    p[exact] = _wilcoxon_exact_p(w_plus[exact], n[exact])
    flips = (n > 0) & (n <= _WILCOXON_PERMUTATION_MAX) & ties
    if flips.any():
        p[flips] = _signflip_p(np.rint(2 * rank).astype(np.int64), np.rint(2 * w_plus).astype(np.int64), starts)[flips]
    has = n > 0
    return GroupResult(np.where(has, z, np.nan), np.where(has, p, np.nan), n)


@cache
def _wilcoxon_counts() -> np.ndarray:
    """(51, 1276) int64: the number of the 2^n sign patterns with W+ = w, for n <= 50 (subset-sum recursion)."""
    top = _WILCOXON_EXACT_MAX
    counts = np.zeros((top + 1, top * (top + 1) // 2 + 1), np.int64)
    counts[0, 0] = 1
    for m in range(1, top + 1):
        counts[m] = counts[m - 1]
        counts[m, m:] += counts[m - 1, :-m]
    return counts


def _wilcoxon_exact_p(w_plus: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided exact p = 2 min(P(W+ >= w), P(W+ <= w)), capped at 1 (sums of multiples of 2^-n: exact)."""
    cum = np.cumsum(_wilcoxon_counts(), axis=1)
    w = np.rint(w_plus).astype(np.int64)
    below = cum[n, w] / 2.0**n
    above = 1.0 - np.where(w > 0, cum[n, np.maximum(w - 1, 0)], 0) / 2.0**n
    return np.clip(2 * np.minimum(below, above), 0.0, 1.0)


@numba.njit(cache=True)
def _signflip_p(rank2, w2, starts):  # pragma: no cover - compiled
    """Per group: the two-sided p of W+ over all 2^n sign flips of its (doubled, integer) average ranks."""
    n_groups = len(starts) - 1
    out = np.full(n_groups, np.nan)
    for g in range(n_groups):
        a = starts[g]
        b = starts[g + 1]
        top = 0
        for e in range(a, b):
            top += rank2[e]
        ways = np.zeros(top + 1)
        ways[0] = 1.0
        for e in range(a, b):
            r = rank2[e]
            for v in range(top, r - 1, -1):
                ways[v] += ways[v - r]
        le = 0.0
        ge = 0.0
        for v in range(top + 1):
            if v <= w2[g]:
                le += ways[v]
            if v >= w2[g]:
                ge += ways[v]
        out[g] = min(1.0, 2.0 * min(le, ge) / 2.0 ** (b - a))
    return out


def wilcoxon_test(car: np.ndarray) -> TestResult:
    """Wilcoxon signed-rank test of the CARs against 0.

    statistic: z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum_g (t_g^3 - t_g)/48), W+ the sum of the (average)
    ranks of the positive |CAR|, t_g the sizes of groups of tied |CAR| (the tie correction; its sign shows the
    direction). p_value: scipy.stats.wilcoxon, two-sided, method "auto" (exact distribution for n <= 50 without
    ties, with ties the complete sign-flip permutation distribution for n <= 13 and the tie-corrected normal
    approximation otherwise). Zero CARs are dropped ("wilcox").
    """
    return wilcoxon_test_groups(car, Groups.one(len(car)))[0]
