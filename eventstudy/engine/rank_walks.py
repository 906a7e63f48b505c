"""Corrado's and GRANK's day sums of every event window, walked over the pairs' ranked estimation rows a block of
pairs at a time.

:class:`CorradoWalk` and :class:`GrankWalk` hold the (window, group, day) sums of a batch of windows
(:func:`window_batches`: as many as fit ``SUMS_BYTES``) and add the pairs of a block at a time in pair order with the
compiled walks of :mod:`~eventstudy.engine.rank_sums`: every sum adds its terms in the same order whatever the
blocks, so the results are those of one walk of all pairs, bit for bit. :func:`corrado_grank_windows` (the engine's
rank tests) reads the estimation ARs (:class:`~eventstudy.inference.ar_rows.ArRows`, stored or regenerated) a block
of ``BLOCK_ROWS`` pairs at a time into a buffer (each row regenerated once), ranks the block's ARs and SARs
(:class:`~eventstudy.engine.ranking.RankedRows`: the SARs in the ARs' order where it sorts them) and walks it once
for both tests on this thread (:func:`~eventstudy.engine.rank_sums.rank_walk`: each row read once, its ARs' ranks
read once, and GRANK's taken from them where the SARs' ties are the ARs'), while another thread reads and ranks the
next block: at 1M pairs x 240 days no (P, L1) array of values or of their sort order (0.48 GB as int16) is ever
held, only two blocks' (4,096 pairs: 7.9 MB of values and 2 MB of order each, so that a block is still in the cache
as it is walked). Both tests' walks are one compiled kernel; :meth:`CorradoWalk.add` and :meth:`GrankWalk.add` run
it with the other test idle (no windows). Each window's statistics are read off its (group, day) sums in one compiled
pass a group (:func:`_corrado_rows`, :func:`_grank_rows`: numpy's formulas and pairwise sums, bit for bit), not by
numpy expressions over (G, L) arrays: with every event's battery (``event+all``) G is the number of events, and at
100,000 events those expressions took 24 s of the rank walk's thread in a 1,000,000-pair fit (now 2.2 s).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.engine import rank_sums
from eventstudy.engine.ranking import RankedRows
from eventstudy.engine.window_pass import _pairwise_sum, pairwise_scratch
from eventstudy.inference import distributions as stats
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.groups import GroupResult, Groups

SUMS_BYTES = 256 << 20  # Corrado's and GRANK's (window, group, day) sums and counts held at once, at most
CELL_BYTES = 8 + 4  # a (window, group, day) cell's sum (float64) and count (int32: exact up to 2**31 pairs)
BLOCK_ROWS = 1 << 12  # pairs whose estimation ARs are read and ranked at a time by corrado_grank_windows
RISE_BITS = 16  # bits of a window's field of packed twice-rises in Corrado's walk (32 for a longer window)


def corrado_grank_windows(
    rows: np.ndarray | ArRows,
    valid: np.ndarray | None,
    sigma: np.ndarray,
    ar: np.ndarray,
    columns: list[np.ndarray],
    csars: list[np.ndarray],
    members: list[Groups],
) -> tuple[list[GroupResult], list[GroupResult]]:
    """Corrado's test (:func:`~eventstudy.engine.rank_tests.corrado_rank_windows`) and GRANK
    (:func:`~eventstudy.engine.rank_tests.grank_windows`, the SARs AR / ``sigma``) of every window's groups
    ``members[w]`` from the estimation ARs ``rows`` (P, L1) (valid where ``valid`` holds), the window days' ARs
    ``ar[:, columns[w]]`` and CSARs ``csars[w]``: the same numbers, bit for bit, a block of pairs at a time (see the
    module docstring)."""
    rows = ArRows.of(rows)
    l1, ar = rows.width, np.asarray(ar, dtype=float)
    columns = [np.asarray(c, dtype=np.int64).reshape(-1) for c in columns]
    corrado: list[GroupResult] = []
    grank: list[GroupResult] = []

    def prepare(first: int) -> tuple[RankedRows, RankedRows]:  # a block's ranked ARs and SARs
        stop = min(first + BLOCK_ROWS, len(rows))
        block = ArRows.of(rows.take(slice(first, stop)))  # each row read (regenerated) once for both tests
        clean = None if valid is None else valid[first:stop]
        ar_ranked = RankedRows.of(block, valid=clean)
        return ar_ranked, RankedRows.of(block, valid=clean, like=ar_ranked, scale=sigma[first:stop])

    with ThreadPoolExecutor(1, thread_name_prefix="eventstudy-ranks") as pool:
        for part in window_batches(members, [2 * l1 + len(c) for c in columns]):
            walks = CorradoWalk(l1, ar, columns, members, part), GrankWalk(l1, csars, members, part)
            ready = pool.submit(prepare, 0) if len(rows) else None
            for first in range(0, len(rows), BLOCK_ROWS):
                ar_ranked, sar_ranked = ready.result()
                if first + BLOCK_ROWS < len(rows):  # the next block is read and ranked while this one is walked
                    ready = pool.submit(prepare, first + BLOCK_ROWS)
                _walk(first, ar_ranked, sar_ranked, walks[0].state(), walks[1].state())  # (releases the GIL)
            corrado += walks[0].results()
            grank += walks[1].results()
    return corrado, grank


class CorradoWalk:
    """Corrado's day sums of the windows ``part`` (indices into ``columns`` and ``members``, see
    :func:`corrado_rank_windows`), added a block of pairs at a time in pair order (:meth:`add`: the sums are those
    of one walk of all pairs, bit for bit), and the windows' results (:meth:`results`)."""

    def __init__(self, l1: int, ar: np.ndarray, columns: list[np.ndarray], members: list[Groups], part: list[int]):
        self.l1, self.ar, self.members = l1, ar, [members[w] for w in part]
        self.widths = [len(columns[w]) for w in part]
        days, index = np.unique(np.concatenate([columns[w] for w in part]), return_inverse=True)
        self.days, self.index = days.astype(np.int64), index.astype(np.int64).reshape(-1)
        self.offsets = np.r_[0, np.cumsum(self.widths)].astype(np.int64)
        self.fields = RISE_BITS if 2 * max(self.widths) < 1 << (RISE_BITS - 1) else 32  # (rank_sums.rank_walk)
        self.pairs, self.groups, self.starts, _ = _by_pair(self.members)
        self.next = self.starts[:-1].copy()  # each window's next membership entry
        shape = (len(part), max(g.n_groups for g in self.members), l1 + max(self.widths))
        self.sums, self.counts, self.n = np.zeros(shape), np.zeros(shape, np.int32), np.zeros(shape[:2], np.int64)
        self.full = np.zeros(shape[:2], np.int64)  # entries whose every estimation day is valid (not in ``counts``)

    def add(self, est: RankedRows, first: int = 0) -> None:
        """Add the pairs ``first:first + len(est.count)``, ranked in ``est``."""
        _walk(first, est, est, self.state(), _idle_grank(self.l1))

    def state(self) -> tuple:
        """The arguments :func:`~eventstudy.engine.rank_sums.rank_walk` adds Corrado's sums with."""
        return (
            self.ar, self.days, self.index, self.offsets, self.fields, self.pairs, self.groups, self.starts, self.next,
            self.sums, self.counts, self.n, self.full,
        )  # fmt: skip

    def results(self) -> list[GroupResult]:
        return [
            _corrado_result(
                *_corrado_rows(self.sums[k], self.counts[k], self.full[k], g.n_groups, self.l1 + width, self.l1),
                self.n[k, : g.n_groups],
            )
            for k, (g, width) in enumerate(zip(self.members, self.widths, strict=True))
        ]


class GrankWalk:
    """GRANK's day sums of the windows ``part`` (indices into ``csars`` and ``members``, see :func:`grank_windows`),
    added a block of pairs at a time in pair order (:meth:`add`: the sums are those of one walk of all pairs, bit for
    bit), and the windows' results (:meth:`results`)."""

    def __init__(self, l1: int, csars: list[np.ndarray], members: list[Groups], part: list[int]):
        self.found = [_gsar(csars[w], members[w]) for w in part]
        self.pairs, self.groups, self.starts, orders = _by_pair([f[0] for f in self.found])
        self.gsar = np.concatenate([f[1][o] for f, o in zip(self.found, orders, strict=True)] + [np.zeros(0)])
        self.next = self.starts[:-1].copy()  # each window's next membership entry
        self.n_groups = [members[w].n_groups for w in part]
        shape = (len(part), max(self.n_groups), l1)
        self.sums, self.counts, self.cum = np.zeros(shape), np.zeros(shape, np.int32), np.zeros(shape[:2])
        self.full = np.zeros(shape[:2], np.int64)  # entries whose every SAR is valid (not in ``counts``)
        self.most = int(np.bincount(self.pairs).max()) if len(self.pairs) else 1  # entries of a pair, at most

    def add(self, est: RankedRows, first: int = 0) -> None:
        """Add the pairs ``first:first + len(est.count)``, their SARs ranked in ``est``."""
        _walk(first, est, est, _idle_corrado(), self.state())

    def state(self) -> tuple:
        """The arguments :func:`~eventstudy.engine.rank_sums.rank_walk` adds GRANK's sums with."""
        return (self.gsar, self.pairs, self.groups, self.starts, self.next, self.sums, self.counts, self.cum, self.full,
                self.most)  # fmt: skip

    def results(self) -> list[GroupResult]:
        return [
            _grank_result(*_grank_rows(self.sums[k], self.counts[k], self.full[k], n, g), self.cum[k, :g], n, usable)
            for k, (g, (_, _, n, usable)) in enumerate(zip(self.n_groups, self.found, strict=True))
        ]


def _walk(first: int, ars: RankedRows, sars: RankedRows, corrado: tuple, grank: tuple) -> None:
    """Corrado's and GRANK's sums (:meth:`CorradoWalk.state`, :meth:`GrankWalk.state`) of the pairs ``first:first +
    len(ars.count)``: ranked ARs ``ars`` and SARs ``sars`` (the ARs' ranks reused in the rows that share their order:
    see :func:`~eventstudy.engine.rank_sums.rank_walk`; a test's idle state adds nothing)."""
    if sars.order is ars.order and sars.count is ars.count:
        shared = np.full(len(ars.count), sars is not ars)  # (a test alone: its own ranks)
    else:
        shared = (sars.order == ars.order).all(axis=1) & (sars.count == ars.count)
    a_dense, a_src = ars.source()[:2]
    rank_sums.rank_walk(first, (a_dense, a_src, ars.order, ars.count), (*sars.source(), sars.order, sars.count),
                        shared, corrado, grank)  # fmt: skip


def _idle_corrado() -> tuple:
    """A :meth:`CorradoWalk.state` of no windows."""
    none, index = np.zeros(0, np.int64), np.zeros(1, np.int64)
    return (np.zeros((0, 0)), none, none, index, RISE_BITS, none, none, index, none, np.zeros((0, 0, 0)),
            np.zeros((0, 0, 0), np.int32), *np.zeros((2, 0, 0), np.int64))  # fmt: skip


def _idle_grank(l1: int) -> tuple:
    """A :meth:`GrankWalk.state` of no windows."""
    none, index = np.zeros(0, np.int64), np.zeros(1, np.int64)
    return (
        np.zeros(0),
        none,
        none,
        index,
        none,
        np.zeros((0, 0, l1)),
        np.zeros((0, 0, l1), np.int32),
        np.zeros((0, 0)),
        np.zeros((0, 0), np.int64),
        1,
    )


def _corrado_result(
    k_squared: np.ndarray, k_window: np.ndarray, n_days: np.ndarray, n_win: np.ndarray, n: np.ndarray
) -> GroupResult:
    """Z = sum over the window's days of K_t / (sqrt(L2) S_K), S_K = sqrt(sum_t K_t^2 / T), from each group's sums
    of K_t^2 over its T days and of K_t over its L2 window days (:func:`_corrado_rows`)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        s_k = np.sqrt(k_squared / np.maximum(n_days, 1))
        z = k_window / (np.sqrt(n_win) * s_k)
    usable = (n > 0) & (n_days >= 3) & (n_win > 0)
    z = np.where(usable, z, np.nan)
    return GroupResult(z, np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan), n)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _corrado_rows(sums, counts, full, n_groups, width, l1):  # pragma: no cover - compiled
    """Each group's (sum of K_t^2, sum of K_t over the window days, days T with a U, window days L2 with one) from
    its day sums of U ``sums[g, :width]`` and their counts (``counts[g]``, plus ``full[g]`` on each of the ``l1``
    estimation days), K_t = sqrt(n_t) * mean U_t (0 on a day without one): one pass a group, no (G, L) array. The
    sums are numpy's pairwise ones over the whole row (``(K**2).sum(axis=1)``, the window's with the other days 0.0),
    so the numbers are those of the same formulas in numpy, bit for bit."""
    k_squared, k_window = np.empty(n_groups), np.empty(n_groups)
    n_days, n_win = np.zeros(n_groups, np.int64), np.zeros(n_groups, np.int64)
    squares, window = np.empty(width), np.empty(width)
    scratch = pairwise_scratch()
    for g in range(n_groups):
        for t in range(width):
            c = counts[g, t] + (full[g] if t < l1 else 0)
            k = np.sqrt(c) * (sums[g, t] / max(c, 1.0)) if c > 0 else 0.0
            squares[t] = k**2
            window[t] = k if t >= l1 and c > 0 else 0.0
            n_days[g] += c > 0
            n_win[g] += t >= l1 and c > 0
        k_squared[g] = _pairwise_sum(squares, 0, width, scratch)
        k_window[g] = _pairwise_sum(window, 0, width, scratch)
    return k_squared, k_window, n_days, n_win


def window_batches(members: list[Groups], widths: list[int]) -> list[list[int]]:
    """Consecutive windows whose (G, width) sums and counts together take at most ``SUMS_BYTES`` (one at least)."""
    out: list[list[int]] = []
    used = 0
    for w, (groups, width) in enumerate(zip(members, widths, strict=True)):
        size = CELL_BYTES * groups.n_groups * width
        if out and used + size <= SUMS_BYTES:
            out[-1].append(w)
            used += size
        else:
            out.append([w])
            used = size
    return out


def _by_pair(members: list[Groups]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The windows' membership entries, each window's sorted by pair (stably: a group's stay in pair order), one
    after another: pairs, groups, the windows' offsets (W + 1,) and each window's sort order of its entries."""
    orders = [np.argsort(groups.pair, kind="stable") for groups in members]
    pairs = np.concatenate([groups.pair[o] for groups, o in zip(members, orders, strict=True)]).astype(np.int64)
    groups = np.concatenate([groups.group[o] for groups, o in zip(members, orders, strict=True)]).astype(np.int64)
    return pairs, groups, np.r_[0, np.cumsum([len(o) for o in orders])].astype(np.int64), orders


def _gsar(csar: np.ndarray, groups: Groups) -> tuple[Groups, np.ndarray, np.ndarray, np.ndarray]:
    """The entries with a finite CSAR, their GSAR = CSAR / sd(CSAR over the group) (NaN in a group with fewer than
    two or no spread), each group's number of them and whether it is usable."""
    csar = np.asarray(csar, dtype=float)
    entries = groups.subset(np.isfinite(csar))
    n = np.bincount(entries.group, minlength=groups.n_groups)
    x = csar[entries.pair]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(entries.group, weights=x, minlength=groups.n_groups) / n
        dev = x - mean[entries.group]
        sd = np.sqrt(np.bincount(entries.group, weights=dev**2, minlength=groups.n_groups) / (n - 1))
        gsar = x / sd[entries.group]
    usable = (n >= 2) & (sd != 0)
    return entries, np.where(usable[entries.group], gsar, np.nan), n, usable


def _grank_result(weighted: np.ndarray, n_days: np.ndarray, cum: np.ndarray, n: np.ndarray, usable: np.ndarray):
    """t_grank from each group's sum over its estimation days of (n_t / n) Ubar_t^2 and number of them
    (:func:`_grank_rows`) and the cumulative day's sums of U (G,)."""
    big_t = n_days + (n > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar0 = cum / n
        total = weighted + ubar0**2
        s_u = np.sqrt(total / big_t)
        z = ubar0 / s_u
        room = big_t - 1 - z**2
        t = z * np.sqrt((big_t - 2) / room)
    t = np.where(usable & (big_t >= 3) & (room > 0), t, np.nan)
    p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(t), np.maximum(big_t - 2, 1)), np.nan)
    return GroupResult(t, p, n)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grank_rows(sums, counts, full, n, n_groups):  # pragma: no cover - compiled
    """Each group's (sum over the estimation days of (n_t / n) Ubar_t^2, days with a U) from its day sums of U
    ``sums[g]`` and their counts n_t (``counts[g]`` plus ``full[g]``), Ubar_t = sum / n_t (0 without one): one pass a
    group, no (G, L1) array; the sum is numpy's pairwise one over the row (``(n_t / n * Ubar**2).sum(axis=1)``), bit
    for bit."""
    l1 = sums.shape[1]
    weighted, n_days = np.empty(n_groups), np.zeros(n_groups, np.int64)
    terms = np.empty(l1)
    scratch = pairwise_scratch()
    for g in range(n_groups):
        for t in range(l1):
            c = counts[g, t] + full[g]
            ubar = sums[g, t] / max(c, 1.0) if c > 0 else 0.0
            terms[t] = c / n[g] * ubar**2
            n_days[g] += c > 0
        weighted[g] = _pairwise_sum(terms, 0, l1, scratch)
    return weighted, n_days
