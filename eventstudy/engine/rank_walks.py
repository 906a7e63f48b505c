"""Corrado's and GRANK's day sums of every event window, walked over the pairs' ranked estimation rows a block of
pairs at a time.

:class:`CorradoWalk` and :class:`GrankWalk` hold the (window, group, day) sums of a batch of windows
(:func:`window_batches`: as many as fit ``SUMS_BYTES``) and add the pairs of a block at a time in pair order with the
compiled walks of :mod:`~eventstudy.engine.rank_sums`: every sum adds its terms in the same order whatever the
blocks, so the results are those of one walk of all pairs, bit for bit. A group's sums take a row only while the
walk is among its pairs (:func:`slot_plan`): once the walk has passed its last pair its results are read off the
row, which is zeroed for a group that opens later. With every event's battery (``event+all``: an event's pairs
are consecutive) 100,000 groups share about 400 rows a window, so every window fits one walk: each pair's row is
read and ranked once, where rows of all the groups at once (0.4 GB a window at 100,000 events) made one walk a
window. :func:`corrado_grank_windows` (the engine's
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
from typing import NamedTuple

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

    plans = [slot_plan(groups, BLOCK_ROWS) for groups in members]
    with ThreadPoolExecutor(1, thread_name_prefix="eventstudy-ranks") as pool:
        for part in window_batches(plans, [2 * l1 + len(c) for c in columns]):
            walks = CorradoWalk(l1, ar, columns, members, part, plans), GrankWalk(l1, csars, members, part, plans)
            ready = pool.submit(prepare, 0) if len(rows) else None
            for first in range(0, len(rows), BLOCK_ROWS):
                ar_ranked, sar_ranked = ready.result()
                if first + BLOCK_ROWS < len(rows):  # the next block is read and ranked while this one is walked
                    ready = pool.submit(prepare, first + BLOCK_ROWS)
                _walk(first, ar_ranked, sar_ranked, walks[0].state(), walks[1].state())  # (releases the GIL)
                for walk in walks:
                    walk.walked_block(first, min(first + BLOCK_ROWS, len(rows)))
            corrado += walks[0].results()
            grank += walks[1].results()
    return corrado, grank


class SlotPlan(NamedTuple):
    """Which row of a window's sums each group's day sums use while its pairs are walked, a block of pairs at a time.

    A group's row is in use from the block of its first pair to the block of its last; its results are then read
    off the row and the row is zeroed for a group that opens later (:meth:`CorradoWalk.walked_block`). With groups of
    consecutive pairs (every event's battery: the pairs of an event are consecutive) a few hundred rows serve
    100,000 groups, and every window fits one walk."""

    row: np.ndarray  # (G,) each group's row; ``rows - 1`` (a row never written: zeros) for a group with no pair
    last: np.ndarray  # (G,) the block of the group's last pair (-1: no pair)
    order: np.ndarray  # (G,) the groups by ``last``
    rows: int  # rows of the sums: the most groups open in one block, plus the zero row
    block_rows: int  # pairs a block


def slot_plan(groups: Groups, block_rows: int) -> SlotPlan:
    """The rows of ``groups``'s day sums for a walk of blocks of ``block_rows`` pairs (``pairs // block_rows``),
    reused greedily: the fewest rows (the most groups open in one block, an interval graph's colouring)."""
    starts = groups.starts  # (entries sorted by group, then pair)
    used = starts[1:] > starts[:-1]
    first, last = np.full(groups.n_groups, -1), np.full(groups.n_groups, -1)
    first[used] = groups.pair[starts[:-1][used]] // block_rows
    last[used] = groups.pair[starts[1:][used] - 1] // block_rows
    order = np.argsort(last, kind="stable")
    row, n_rows = _assign_rows(first, last, np.argsort(first, kind="stable"), order)
    row[~used] = n_rows  # the zero row
    return SlotPlan(row, last, order, n_rows + 1, block_rows)


@numba.njit(cache=True, nogil=True)
def _assign_rows(first, last, by_first, by_last):  # pragma: no cover - compiled
    """Each used group (``first`` >= 0) a row free from block ``first[g]`` to block ``last[g]``: groups taken by
    their first block, the rows of those whose last block is earlier freed first. Returns (rows, their number)."""
    row = np.full(len(first), -1, np.int64)
    free = np.empty(len(first), np.int64)
    n_free, n_rows, k = 0, 0, 0
    for g in by_first:
        if first[g] < 0:
            continue
        while k < len(by_last) and last[by_last[k]] < first[g]:
            if last[by_last[k]] >= 0:
                free[n_free] = row[by_last[k]]
                n_free += 1
            k += 1
        if n_free > 0:
            n_free -= 1
            row[g] = free[n_free]
        else:
            row[g] = n_rows
            n_rows += 1
    return row, n_rows


class _Rows:
    """The rows of a batch of windows' day sums (``part``: indices into ``plans``), their groups' finished results,
    and the closing of each group's row once the walk has passed its last pair (:meth:`close`)."""

    def __init__(self, plans: list[SlotPlan], part: list[int], n_groups: list[int], width: int, results: int):
        self.plans = [plans[w] for w in part]
        self.n_groups, self.block = n_groups, self.plans[0].block_rows
        self.row = np.zeros((len(part), max(n_groups)), np.int64)  # (W, G) each group's row
        for k, plan in enumerate(self.plans):
            self.row[k, : len(plan.row)] = plan.row
        shape = (len(part), max(plan.rows for plan in self.plans), width)
        self.sums, self.counts = np.zeros(shape), np.zeros(shape, np.int32)
        self.closed = [0] * len(part)  # each window's groups closed: a prefix of its plan's order
        self.walked = 0  # pairs walked
        self.out = [np.zeros((len(part), max(n_groups))) for _ in range(results)]  # (W, G) results ...
        self.out_days = [np.zeros((len(part), max(n_groups)), np.int64) for _ in range(results)]  # ... and days

    def check(self, first: int, stop: int) -> None:
        """Refuse pairs ``first:stop`` unless they are the next block (or part of it) of the plans' blocks."""
        if first != self.walked or (stop > first and first // self.block != (stop - 1) // self.block):
            raise ValueError(f"pairs {first}:{stop} are not the next block of {self.block} after {self.walked}")

    def close(self, first: int, stop: int, reduce) -> None:
        """After the walk of pairs ``first:stop`` (:meth:`check`), ``reduce`` (k, groups) the rows of window k's
        groups whose last pair has been walked, which are then zeroed."""
        self.check(first, stop)
        self.walked = stop
        for k, plan in enumerate(self.plans):
            end = int(np.searchsorted(plan.last, stop // self.block - 1, side="right", sorter=plan.order))
            if end > self.closed[k]:
                reduce(k, plan.order[self.closed[k] : end])
                self.closed[k] = end

    def finish(self, reduce) -> None:
        """``reduce`` every group not closed yet (the last block's, those with no pair: the zero row)."""
        for k, plan in enumerate(self.plans):
            reduce(k, plan.order[self.closed[k] :])
            self.closed[k] = len(plan.order)


class CorradoWalk(_Rows):
    """Corrado's day sums of the windows ``part`` (indices into ``columns``, ``members`` and ``plans``, see
    :func:`corrado_rank_windows`), added a block of pairs at a time in pair order (:meth:`add`: the sums are those
    of one walk of all pairs, bit for bit) in the rows of their :func:`slot_plan`, and the windows' results
    (:meth:`results`)."""

    def __init__(
        self,
        l1: int,
        ar: np.ndarray,
        columns: list[np.ndarray],
        members: list[Groups],
        part: list[int],
        plans: list[SlotPlan],
    ):
        self.l1, self.ar, self.members = l1, ar, [members[w] for w in part]
        self.widths = [len(columns[w]) for w in part]
        super().__init__(plans, part, [g.n_groups for g in self.members], l1 + max(self.widths), 2)
        days, index = np.unique(np.concatenate([columns[w] for w in part]), return_inverse=True)
        self.days, self.index = days.astype(np.int64), index.astype(np.int64).reshape(-1)
        self.offsets = np.r_[0, np.cumsum(self.widths)].astype(np.int64)
        self.fields = RISE_BITS if 2 * max(self.widths) < 1 << (RISE_BITS - 1) else 32  # (rank_sums.rank_walk)
        self.pairs, self.groups, self.starts, _ = _by_pair(self.members)
        self.next = self.starts[:-1].copy()  # each window's next membership entry
        self.n = np.zeros(self.row.shape, np.int64)
        self.full = np.zeros(self.row.shape, np.int64)  # entries whose every estimation day is valid (not in counts)

    def add(self, est: RankedRows, first: int = 0) -> None:
        """Add the pairs ``first:first + len(est.count)`` (the next block), ranked in ``est``."""
        self.check(first, first + len(est.count))
        _walk(first, est, est, self.state(), _idle_grank(self.l1))
        self.walked_block(first, first + len(est.count))

    def walked_block(self, first: int, stop: int) -> None:
        """Close the groups whose pairs have all been walked, once pairs ``first:stop`` have been."""
        self.close(first, stop, self._reduce)

    def state(self) -> tuple:
        """The arguments :func:`~eventstudy.engine.rank_sums.rank_walk` adds Corrado's sums with."""
        return (
            self.ar, self.days, self.index, self.offsets, self.fields, self.pairs, self.groups, self.starts, self.next,
            self.sums, self.counts, self.row, self.n, self.full,
        )  # fmt: skip

    def _reduce(self, k: int, groups: np.ndarray) -> None:
        (k_squared, k_window), (n_days, n_win) = self.out, self.out_days
        _corrado_rows(self.sums[k], self.counts[k], self.full[k], self.row[k], groups, self.l1 + self.widths[k],
                      self.l1, k_squared[k], k_window[k], n_days[k], n_win[k])  # fmt: skip

    def results(self) -> list[GroupResult]:
        self.finish(self._reduce)
        (k_squared, k_window), (n_days, n_win) = self.out, self.out_days
        return [
            _corrado_result(k_squared[k, :g], k_window[k, :g], n_days[k, :g], n_win[k, :g], self.n[k, :g])
            for k, g in enumerate(self.n_groups)
        ]


class GrankWalk(_Rows):
    """GRANK's day sums of the windows ``part`` (indices into ``csars``, ``members`` and ``plans``, see
    :func:`grank_windows`), added a block of pairs at a time in pair order (:meth:`add`: the sums are those of one
    walk of all pairs, bit for bit) in the rows of their :func:`slot_plan` (a group's entries with a GSAR are among
    its members), and the windows' results (:meth:`results`)."""

    def __init__(self, l1: int, csars: list[np.ndarray], members: list[Groups], part: list[int], plans: list[SlotPlan]):
        self.l1 = l1
        self.found = [_gsar(csars[w], members[w]) for w in part]
        super().__init__(plans, part, [members[w].n_groups for w in part], l1, 1)
        self.pairs, self.groups, self.starts, orders = _by_pair([f[0] for f in self.found])
        self.gsar = np.concatenate([f[1][o] for f, o in zip(self.found, orders, strict=True)] + [np.zeros(0)])
        self.next = self.starts[:-1].copy()  # each window's next membership entry
        self.cum = np.zeros(self.row.shape)
        self.full = np.zeros(self.row.shape, np.int64)  # entries whose every SAR is valid (not in ``counts``)
        self.most = int(np.bincount(self.pairs).max()) if len(self.pairs) else 1  # entries of a pair, at most

    def add(self, est: RankedRows, first: int = 0) -> None:
        """Add the pairs ``first:first + len(est.count)`` (the next block), their SARs ranked in ``est``."""
        self.check(first, first + len(est.count))
        _walk(first, est, est, _idle_corrado(), self.state())
        self.walked_block(first, first + len(est.count))

    def walked_block(self, first: int, stop: int) -> None:
        """Close the groups whose pairs have all been walked, once pairs ``first:stop`` have been."""
        self.close(first, stop, self._reduce)

    def state(self) -> tuple:
        """The arguments :func:`~eventstudy.engine.rank_sums.rank_walk` adds GRANK's sums with."""
        return (self.gsar, self.pairs, self.groups, self.starts, self.next, self.sums, self.counts, self.row,
                self.cum, self.full, self.most)  # fmt: skip

    def _reduce(self, k: int, groups: np.ndarray) -> None:
        n = self.found[k][2]
        _grank_rows(self.sums[k], self.counts[k], self.full[k], n, self.row[k], groups, self.out[0][k],
                    self.out_days[0][k])  # fmt: skip

    def results(self) -> list[GroupResult]:
        self.finish(self._reduce)
        return [
            _grank_result(self.out[0][k, :g], self.out_days[0][k, :g], self.cum[k, :g], n, usable)
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
            np.zeros((0, 0, 0), np.int32), *np.zeros((3, 0, 0), np.int64))  # fmt: skip


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
        np.zeros((0, 0), np.int64),
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
def _corrado_rows(sums, counts, full, row, groups, width, l1, k_squared, k_window, n_days, n_win):  # pragma: no cover
    """Each group g of ``groups``'s (sum of K_t^2, sum of K_t over the window days, days T with a U, window days L2
    with one) into ``k_squared[g]``, ``k_window[g]``, ``n_days[g]``, ``n_win[g]`` from its day sums of U
    ``sums[row[g], :width]`` and their counts (``counts[row[g]]``, plus ``full[g]`` on each of the ``l1`` estimation
    days), K_t = sqrt(n_t) * mean U_t (0 on a day without one): one pass a group, no (G, L) array; the group's row
    is then zeroed (for a group that opens later). The sums are numpy's pairwise ones over the whole row
    (``(K**2).sum(axis=1)``, the window's with the other days 0.0), so the numbers are those of the same formulas in
    numpy, bit for bit."""
    squares, window = np.empty(width), np.empty(width)
    scratch = pairwise_scratch()
    for g in groups:
        r = row[g]
        n_days[g], n_win[g] = 0, 0
        for t in range(width):
            c = counts[r, t] + (full[g] if t < l1 else 0)
            k = np.sqrt(c) * (sums[r, t] / max(c, 1.0)) if c > 0 else 0.0
            squares[t] = k**2
            window[t] = k if t >= l1 and c > 0 else 0.0
            n_days[g] += c > 0
            n_win[g] += t >= l1 and c > 0
        k_squared[g] = _pairwise_sum(squares, 0, width, scratch)
        k_window[g] = _pairwise_sum(window, 0, width, scratch)
        sums[r, :] = 0.0
        counts[r, :] = 0


def window_batches(plans: list[SlotPlan], widths: list[int]) -> list[list[int]]:
    """Consecutive windows whose (rows, width) sums and counts (:func:`slot_plan`) together take at most
    ``SUMS_BYTES`` (one at least)."""
    out: list[list[int]] = []
    used = 0
    for w, (plan, width) in enumerate(zip(plans, widths, strict=True)):
        size = CELL_BYTES * plan.rows * width
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
def _grank_rows(sums, counts, full, n, row, groups, weighted, n_days):  # pragma: no cover - compiled
    """Each group g of ``groups``'s (sum over the estimation days of (n_t / n) Ubar_t^2, days with a U) into
    ``weighted[g]`` and ``n_days[g]`` from its day sums of U ``sums[row[g]]`` and their counts n_t
    (``counts[row[g]]`` plus ``full[g]``), Ubar_t = sum / n_t (0 without one): one pass a group, no (G, L1) array;
    the group's row is then zeroed. The sum is numpy's pairwise one over the row (``(n_t / n * Ubar**2).sum(axis=1)``),
    bit for bit."""
    l1 = sums.shape[1]
    terms = np.empty(l1)
    scratch = pairwise_scratch()
    for g in groups:
        r = row[g]
        n_days[g] = 0
        for t in range(l1):
            c = counts[r, t] + full[g]
            ubar = sums[r, t] / max(c, 1.0) if c > 0 else 0.0
            terms[t] = c / n[g] * ubar**2
            n_days[g] += c > 0
        weighted[g] = _pairwise_sum(terms, 0, l1, scratch)
        sums[r, :] = 0.0
        counts[r, :] = 0
