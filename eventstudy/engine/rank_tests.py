"""Rank and sign tests (Corrado, GRANK, sign, generalized sign, Wilcoxon) for every group of pairs at once.

Each ``..._groups`` function takes per-pair arrays and a :class:`~eventstudy.inference.groups.Groups` and returns a
:class:`~eventstudy.inference.groups.GroupResult`; the single-group function of the same name is the grouped one
with ``Groups.one(N)``. Ranks are within a pair (Corrado, GRANK) or within a group (Wilcoxon), average ranks for
ties and missing values left out, exactly as ``scipy.stats.rankdata(..., nan_policy="omit")`` gives them.

Each pair's estimation ARs (SARs) are sorted once (:class:`~eventstudy.engine.ranking.RankedRows`: each row's
sort order, reusable across windows and groups, and shared by the ARs and SARs where it sorts both). Corrado and
GRANK of every event window (``corrado_rank_windows``, ``grank_windows``) then take one compiled walk of each pair's
ranked row for all windows (:mod:`~eventstudy.engine.rank_sums`): the row's average ranks are read through the
order once, each window's values (a GSAR) are placed among them, and every (window, group)'s day sums are taken
over its membership entries in pair order, so a group costs O(its pairs x days) and there is no Python loop over
groups or pairs.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.engine.rank_walks import CorradoWalk, GrankWalk, slot_plan, window_batches
from eventstudy.engine.ranking import RankedRows
from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows, ar_row
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.result import TestResult
from eventstudy.inference.threads import run_chunked

_WILCOXON_EXACT_MAX = 50  # scipy.stats.wilcoxon(method="auto"): the exact null distribution up to n = 50 ...
_WILCOXON_PERMUTATION_MAX = 13  # ... and with ties a complete permutation (2^n sign flips) up to n = 13


# --------------------------------------------------------------------------------------------- Corrado
def corrado_rank_windows(
    ar_estimation: np.ndarray | ArRows | RankedRows, ar: np.ndarray, columns: list[np.ndarray], members: list[Groups]
) -> list[GroupResult]:
    """Corrado (1989) rank test with the Corrado & Zivney (1992) scaling (see :func:`corrado_rank`) of every
    event window's groups: window w's days are the columns ``columns[w]`` of ``ar`` (P, D), its groups
    ``members[w]``; ``ar_estimation`` (P, L1) the estimation days' ARs (an array, their
    :class:`~eventstudy.inference.ar_rows.ArRows` or their :class:`RankedRows`). Each pair's ranked estimation ARs
    are walked once for all windows (:func:`~eventstudy.engine.rank_sums.rank_walk`), windows taken together as
    far as their sums fit ``SUMS_BYTES``; the results equal :func:`corrado_rank_groups` of each window bit for bit.
    """
    est = RankedRows.of(ar_estimation)
    if est.scale is not None:
        raise ValueError("corrado_rank_windows ranks the ARs themselves: give RankedRows without a scale")
    ar = np.asarray(ar, dtype=float)
    columns = [np.asarray(c, dtype=np.int64).reshape(-1) for c in columns]
    out: list[GroupResult] = []
    plans = [slot_plan(groups, max(len(est.count), 1)) for groups in members]  # the pairs in one block
    for part in window_batches(plans, [est.values.width + len(c) for c in columns]):
        walk = CorradoWalk(est.values.width, ar, columns, members, part, plans)
        walk.add(est)
        out += walk.results()
    return out


def corrado_rank_groups(
    ar_estimation: np.ndarray | ArRows | RankedRows, ar_window: np.ndarray, groups: Groups
) -> GroupResult:
    """Corrado (1989) rank test with the Corrado & Zivney (1992) scaling, for every group (see :func:`corrado_rank`).

    ``ar_estimation`` (P, L1) (or its :class:`RankedRows`) and ``ar_window`` (P, L2): each pair's ARs on the
    estimation days and on the event window's days; a pair's ranking sample is both together.
    """
    ar_window = np.asarray(ar_window, dtype=float)
    return corrado_rank_windows(ar_estimation, ar_window, [np.arange(ar_window.shape[1])], [groups])[0]


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
def grank_windows(
    sar_estimation: np.ndarray | ArRows | RankedRows, csars: list[np.ndarray], members: list[Groups]
) -> list[GroupResult]:
    """Kolari & Pynnönen (2011) GRANK-T (see :func:`grank`) of every event window's groups ``members[w]``, each
    pair's CSAR over window w ``csars[w]`` (P,). Each pair's ranked SARs are walked once for all windows
    (:func:`~eventstudy.engine.rank_sums.rank_walk`), windows taken together as far as their sums fit
    ``SUMS_BYTES``; the results equal :func:`grank_groups` of each window bit for bit.

    GSAR_i = CSAR_i / sd(CSAR over the group), so a pair's cumulative day and the shift of its estimation days'
    ranks are computed per membership entry. ``sar_estimation`` may be the ranked ARs with ``scale`` sigma_i
    (:class:`RankedRows`): the estimation days' SARs AR_it / sigma_i, divided as the kernel reads them.
    """
    est = RankedRows.of(sar_estimation)
    out: list[GroupResult] = []
    plans = [slot_plan(groups, max(len(est.count), 1)) for groups in members]  # the pairs in one block
    for part in window_batches(plans, [est.values.width] * len(members)):
        walk = GrankWalk(est.values.width, csars, members, part, plans)
        walk.add(est)
        out += walk.results()
    return out


def grank_groups(sar_estimation: np.ndarray | ArRows | RankedRows, csar: np.ndarray, groups: Groups) -> GroupResult:
    """Kolari & Pynnönen (2011) GRANK-T for every group (see :func:`grank`).

    ``sar_estimation`` (P, L1) (or its :class:`RankedRows`): each pair's estimation-window SARs; ``csar`` (P,).
    """
    return grank_windows(sar_estimation, [csar], [groups])[0]


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

    @classmethod
    def of_counts(cls, positive: np.ndarray, finite: np.ndarray) -> PositiveShare:
        """From each pair's number of positive and of finite estimation ARs (P,) int."""
        return cls(np.where(finite > 0, positive / np.maximum(finite, 1), 0.0), finite)


def positive_share(ar_estimation: np.ndarray | ArRows, valid: np.ndarray | None = None) -> PositiveShare:
    """(1/L1_i) sum_t 1[AR_it > 0] of each pair's estimation ARs ``ar_estimation`` (P, L1), L1_i its finite ones
    (and, with ``valid`` (P, L1), only those where it holds: the clean estimation days, read in place): the same for
    every event window, so a study computes it once (one compiled pass over the rows, each read once into a buffer;
    ``ar_estimation`` an array or :class:`~eventstudy.inference.ar_rows.ArRows`, stored or regenerated rows)."""
    rows = ArRows.of(ar_estimation)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != rows.shape:
            raise ValueError(f"valid {valid.shape} does not match the ARs {rows.shape}")
    positive = np.empty(len(rows), np.int64)
    m = np.empty(len(rows), np.int64)
    args = (rows.source(), valid, positive, m)
    run_chunked(_positive_range, _positive_chunks, args, np.full(len(rows), max(rows.width, 1)))
    return PositiveShare.of_counts(positive, m)


@numba.njit(cache=True, nogil=True)
def _positive_range(src, valid, positive, m, lo, hi):  # pragma: no cover - compiled
    """Rows ``lo:hi``: the number of values above 0 and of finite values (where ``valid``, unless it is None)."""
    width = src[3]
    row = np.empty(width)
    for i in range(lo, hi):
        ar_row(src, i, row)
        above = 0
        finite = 0
        for t in range(width):
            v = row[t]
            use = True
            if valid is not None:
                use = valid[i, t]
            above += use and v > 0.0
            finite += use and np.isfinite(v)
        positive[i] = above
        m[i] = finite


@numba.njit(parallel=True, cache=True, nogil=True)
def _positive_chunks(src, valid, positive, m, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _positive_range(src, valid, positive, m, bounds[c], bounds[c + 1])


def generalized_sign_groups(
    car: np.ndarray, ar_estimation: np.ndarray | ArRows | PositiveShare, groups: Groups
) -> GroupResult:
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

    |CAR| is ranked within each group by one integer sort of (|CAR|, sign) keys (:func:`_size_sign_keys`), then
    by group, average ranks for ties. The p-value is what scipy.stats.wilcoxon(x, zero_method="wilcox",
    method="auto") gives (scipy >= 1.13): for n <= 50 without ties the exact null distribution of W+, with ties and
    n <= 13 the complete sign-flip permutation distribution, otherwise the tie-corrected normal approximation
    without continuity correction.
    """
    car = np.asarray(car, dtype=float)
    x = car[groups.pair]
    use = np.isfinite(x) & (x != 0)
    group, key = groups.group[use], _size_sign_keys(x[use])
    if groups.n_groups == 1:
        key = np.sort(key)
    else:
        order = np.argsort(key)
        order = order[np.argsort(group[order], kind="stable")]
        group, key = group[order], key[order]
    size, positive = key >> 1, (key & 1).astype(bool)
    n = np.bincount(group, minlength=groups.n_groups)
    starts = np.r_[0, np.cumsum(n)]
    new_run = np.r_[True, (group[1:] != group[:-1]) | (size[1:] != size[:-1])] if len(key) else np.zeros(0, bool)
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.r_[run_start, len(key)])
    run_group = group[run_start]
    rank = np.repeat(run_start - starts[run_group] + (run_len + 1) / 2.0, run_len)
    w_plus = np.bincount(group, weights=np.where(positive, rank, 0.0), minlength=groups.n_groups)
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


def _size_sign_keys(x: np.ndarray) -> np.ndarray:
    """uint64 keys of finite non-zero ``x`` in the order of |x|, then sign: the bits of |x| (a positive double's
    bits order as its value; equal bits, equal value) shifted left, 1 for x > 0 in the lowest bit. Sorting them
    (numpy's fast integer sort) orders |x| as a stable sort would but for the order inside a run of equal |x|,
    where all get the same average rank: the ranks in sorted order, and every sum over them, are the same."""
    return (np.abs(x).view(np.uint64) << np.uint64(1)) | (x > 0).view(np.uint8).astype(np.uint64)


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
