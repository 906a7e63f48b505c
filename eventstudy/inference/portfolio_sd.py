"""The estimation-period standard deviation of every calendar-time portfolio, of several event windows in one walk.

For portfolio d of :mod:`eventstudy.inference.calendar_time` (members S_d, n_d of them) the series is the equally
weighted mean of its members' estimation residuals on each calendar date where every member has a clean one; s_d is
its standard deviation (ddof = 1) over those m_d dates (Jaffe 1974; Mandelker 1974: the standardized portfolio
residuals of :func:`~eventstudy.inference.calendar_time.calendar_time_z`).

One compiled pass walks each group's portfolios in date order, keeping per calendar date the sum and count of the
current members' residuals: a pair is added when it enters and removed when it leaves (the sum reset to 0.0 when the
count reaches 0), and (s, m) are recomputed only when the member set changes, over the dates of one member (every
full date is one of its dates). So the work is O(pair-group memberships x days) however many groups and
portfolios there are.

The event windows of a study share their pairs' estimation rows and differ only in when a pair enters and leaves,
so :func:`estimation_sd_windows` walks all of them at once, each with its own (date -> sum, count) table, on the
union of their dates: a pair's row (regenerated or stored, :class:`~eventstudy.inference.ar_rows.ArRows`, its
unkept days set to NaN) is read once when it first enters a window and held until it has left every window, instead
of at each entry and exit of each window (at most ``CACHE_BYTES`` of rows are held; beyond them a row is read again
at each use). Each table sees the same additions and removals in the same order as in a walk of its window alone,
so every (s, m) is the same to the bit. A row whose positions are consecutive dates (the usual case) updates its
slice of the table in one branch-free loop that vectorises.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import ArRows, ar_row
from eventstudy.inference.row_positions import RowPositions

if TYPE_CHECKING:
    from eventstudy.inference.calendar_time import Portfolios

CACHE_BYTES = 64 << 20  # rows held at most (beyond them a held row is read again at each use)
UNCACHED = -2  # ``slot`` of a held pair whose row is not in the cache


def estimation_sd_windows(
    ports: list[Portfolios], ar_est: np.ndarray | ArRows, keep: np.ndarray, positions: np.ndarray | RowPositions
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each portfolio's standard deviation over the estimation period, ``(s (T,), m (T,))`` for each of ``ports``
    (the portfolios of several event windows on one calendar grid, same pairs).

    The series of portfolio d is the equally weighted mean of its members' estimation residuals (``ar_est`` (P, L1),
    an array or :class:`~eventstudy.inference.ar_rows.ArRows`, where ``keep`` (P, L1) holds and the value is finite)
    on each calendar date (``positions`` (P, L1) on the portfolios' grid; an array or
    :class:`~eventstudy.inference.row_positions.RowPositions`) where every member has one; s_d is its sd (ddof = 1)
    over those m_d dates (NaN when m_d < 2).
    """
    if not ports:
        return []
    if any(port.n_grid != ports[0].n_grid for port in ports):
        raise ValueError("the windows' portfolios must be on one calendar grid")
    rows, positions = ArRows.of(ar_est), RowPositions.of(positions)
    sizes = np.cumsum([0, *(len(port.group) for port in ports)])
    steps = [_steps(port.group_starts, port.date, port.starts, port.pair, port.n_grid) for port in ports]
    moved = np.cumsum([0, *(len(step[-1]) for step in steps)])
    for step, port_at, move_at in zip(steps, sizes, moved, strict=False):
        step[2][step[2] >= 0] += port_at  # each window's portfolios and moves at their place in the joint arrays
        step[5][:] += move_at
    group, date, port, lead, size, move_end, moves = (np.concatenate(part) for part in zip(*steps, strict=True))
    window = np.repeat(np.arange(len(ports)), [len(step[0]) for step in steps])
    order = np.lexsort((window, date, group))  # the steps of one (group, date) together
    key = (group[order], date[order])
    change = np.flatnonzero((key[0][1:] != key[0][:-1]) | (key[1][1:] != key[1][:-1])) + 1
    batches = np.r_[0, change, len(order)] if len(order) else np.zeros(1, np.int64)
    most = sum(2 * int(np.diff(port.starts).max(initial=0)) for port in ports)  # held: in a last or next portfolio
    capacity = min(most, len(rows), max(CACHE_BYTES // max(8 * rows.width, 1), 1))
    s, m = np.full(sizes[-1], np.nan), np.zeros(sizes[-1], np.int64)
    steps = (order, batches, window, port, lead, size, move_end, moves)
    _walk(*steps, len(ports), ports[0].n_grid, capacity, rows.source(), keep, positions.table, positions.offset, s, m)
    return [(s[a:b], m[a:b]) for a, b in pairwise(sizes)]


def estimation_sd(
    port: Portfolios, ar_est: np.ndarray | ArRows, keep: np.ndarray, positions: np.ndarray | RowPositions
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimation_sd_windows` of one window's portfolios: ``(s (T,), m (T,))``."""
    return estimation_sd_windows([port], ar_est, keep, positions)[0]


@numba.njit(cache=True, nogil=True)
def _steps(group_starts, date, starts, pair, n_grid):  # pragma: no cover - compiled
    """One window's walk as steps: each portfolio k in (group, date) order, then a closing step per group (date
    ``n_grid``: its last members leave, so the tables are empty for the next group). A step's moves are
    ``moves[move_end[step - 1]:move_end[step]]`` in the merge order of the member lists (``i``: pair i enters,
    ``~i``: it leaves); ``port`` is its portfolio (-1: closing), ``lead`` the member whose dates (s, m) are computed
    over when the member set changed (or the group starts), else -1 (the previous portfolio's (s, m)), ``size`` its
    members. Returns (group, date, port, lead, size, move_end, moves)."""
    n_groups = len(group_starts) - 1
    n_steps = len(date)
    n_moves = 0
    for g in range(n_groups):
        if group_starts[g + 1] > group_starts[g]:
            n_steps += 1
            prev = 0, 0
            for k in range(group_starts[g], group_starts[g + 1]):
                n_moves += _diff(pair, prev, (starts[k], starts[k + 1]), pair[:0])
                prev = starts[k], starts[k + 1]
            n_moves += prev[1] - prev[0]
    group = np.empty(n_steps, np.int64)
    day = np.empty(n_steps, np.int64)
    port = np.empty(n_steps, np.int64)
    lead = np.empty(n_steps, np.int64)
    size = np.empty(n_steps, np.int64)
    move_end = np.empty(n_steps, np.int64)
    moves = np.empty(n_moves, np.int64)
    x, n_moves = 0, 0
    for g in range(n_groups):
        if group_starts[g + 1] == group_starts[g]:
            continue
        prev = 0, 0
        for k in range(group_starts[g], group_starts[g + 1]):
            now = starts[k], starts[k + 1]
            moved = _diff(pair, prev, now, moves[n_moves:])
            n_moves += moved
            changed = k == group_starts[g] or moved > 0
            group[x], day[x], port[x], size[x], move_end[x] = g, date[k], k, now[1] - now[0], n_moves
            lead[x] = pair[now[0]] if changed else -1
            prev = now
            x += 1
        for y in range(prev[0], prev[1]):
            moves[n_moves] = ~pair[y]
            n_moves += 1
        group[x], day[x], port[x], lead[x], size[x], move_end[x] = g, n_grid, -1, -1, 0, n_moves
        x += 1
    return group, day, port, lead, size, move_end, moves


@numba.njit(cache=True, inline="always")
def _diff(pair, prev, now, moves):  # pragma: no cover - compiled
    """The moves from members ``pair[prev[0]:prev[1]]`` to ``pair[now[0]:now[1]]`` (both sorted) in merge order,
    into ``moves`` (``i``: pair i enters, ``~i``: it leaves; an empty ``moves``: only counted); returns how many."""
    n = 0
    (x, prev_b), (y, b) = prev, now
    write = len(moves) > 0
    while x < prev_b or y < b:
        if y >= b or (x < prev_b and pair[x] < pair[y]):
            if write:
                moves[n] = ~pair[x]
            n += 1
            x += 1
        elif x >= prev_b or pair[y] < pair[x]:
            if write:
                moves[n] = pair[y]
            n += 1
            y += 1
        else:
            x += 1
            y += 1
    return n


@numba.njit(cache=True, nogil=True)
def _walk(
    order, batches, window, port, lead, size, move_end, moves, n_win, n_grid, capacity, src, keep, table, offset, s, m
):  # pragma: no cover - compiled
    """Walk the steps of every window (:func:`_steps`) in (group, date) order with a (date -> sum, count) table per
    window. In each batch of steps of one (group, date) each step applies its moves (an entering pair's row is taken
    in first, read if no window holds it) and sets its portfolio's (s, m); then the leaving pairs' rows are released
    (freed when no window holds them), after every step of the batch, so a pair that leaves one window and enters
    another on one date is read once. Freed slots are reused in the order they were freed (a queue, not a stack):
    the pairs that enter together (in pair order) then mostly hold consecutive slots and leave together in the same
    order, so the rows a transition reads follow each other in memory (1M pairs, 4 windows: 25% less time)."""
    width = src[3]
    total = np.zeros((n_win, n_grid))
    count = np.zeros((n_win, n_grid), np.int64)
    slot = np.full(len(keep), -1, np.int64)  # pair -> its row's slot (-1: not held; UNCACHED: held, no slot)
    refs = np.zeros(len(keep), np.int32)  # pair -> the windows that hold it
    rows = np.empty((capacity + 1, width))  # the held rows (unkept days NaN); the last one is scratch
    run = np.empty(capacity + 1, np.int64)  # a row's first position if its positions are consecutive, else -1
    free = np.empty(capacity, np.int64)  # slots freed, reused first freed first: see below
    n_free, used, head = 0, 0, 0  # the free slots are free[head:head + n_free] (a ring)
    for b in range(len(batches) - 1):
        for z in range(batches[b], batches[b + 1]):
            step, w = order[z], window[order[z]]
            for j in range(move_end[step - 1] if step > 0 else 0, move_end[step]):
                i = moves[j] if moves[j] >= 0 else ~moves[j]
                if moves[j] >= 0:  # a pair that enters: held, read if no window holds it
                    if refs[i] == 0:
                        if n_free > 0:
                            n_free -= 1
                            slot[i] = free[head]
                            head = head + 1 if head + 1 < capacity else 0
                        elif used < capacity:
                            slot[i] = used
                            used += 1
                        else:
                            slot[i] = UNCACHED
                        if slot[i] >= 0:
                            run[slot[i]] = _load(i, src, keep, table, offset, rows[slot[i]])
                    refs[i] += 1
                k = slot[i]
                if k < 0:
                    k = capacity
                    run[k] = _load(i, src, keep, table, offset, rows[k])
                _move(1.0 if moves[j] >= 0 else -1.0, rows[k], run[k], table[offset[i] :], total[w], count[w])
            k = port[step]
            if k >= 0 and lead[step] >= 0:
                i = lead[step]
                row = rows[slot[i]] if slot[i] >= 0 else rows[capacity]
                if slot[i] < 0:
                    _load(i, src, keep, table, offset, row)
                s[k], m[k] = _sd(row, size[step], table[offset[i] :], total[w], count[w])
            elif k >= 0:
                s[k], m[k] = s[k - 1], m[k - 1]
        for z in range(batches[b], batches[b + 1]):
            step = order[z]
            for j in range(move_end[step - 1] if step > 0 else 0, move_end[step]):
                if moves[j] < 0:
                    i = ~moves[j]
                    refs[i] -= 1
                    if refs[i] == 0:
                        if slot[i] >= 0:
                            free[(head + n_free) % capacity] = slot[i]
                            n_free += 1
                        slot[i] = -1


@numba.njit(cache=True, inline="always")
def _load(i, src, keep, table, offset, row):  # pragma: no cover - compiled
    """Pair i's residuals into ``row``, NaN where not kept; returns its first position if its positions are
    consecutive, else -1."""
    ar_row(src, i, row)
    kept = keep[i]
    width = len(row)
    for t in range(width):
        row[t] = row[t] if kept[t] else np.nan
    first = table[offset[i]] if width else -1  # a row of no days reads no position
    return first if first >= 0 and _consecutive(table[offset[i] : offset[i] + width], first) else -1


@numba.njit(cache=True, inline="always")
def _move(sign, row, first, positions, total, count):  # pragma: no cover - compiled
    """Add (``sign`` 1.0) or remove (-1.0) a row: on each of its dates with a finite (kept) residual v the count
    moves by 1 or -1 and the sum by v or -v, the sum reset to 0.0 when the count reaches 0. ``first`` >= 0: the
    row's positions are ``first, first + 1, ...`` (:func:`_move_run`), else ``positions`` (-1: no date)."""
    width = len(row)
    if first >= 0:
        _move_run(sign, row, total[first : first + width], count[first : first + width])
        return
    for t in range(width):
        p = positions[t]
        if p >= 0 and np.isfinite(row[t]):
            count[p] += int(sign)
            total[p] = 0.0 if count[p] == 0 else total[p] + sign * row[t]


@numba.njit(cache=True, inline="always")
def _consecutive(positions, first):  # pragma: no cover - compiled
    """Whether ``positions`` are ``first, first + 1, ...`` (no gap, no -1): a reduction without branches."""
    off = 0
    for t in range(len(positions)):
        off |= positions[t] - first - t
    return off == 0


@numba.njit(cache=True, inline="always")
def _move_run(sign, row, total, count):  # pragma: no cover - compiled
    """:func:`_move` of a row on consecutive dates (``total`` and ``count`` its slices), branch-free so the loop
    vectorises: a day without a residual adds 0 to the count and +0.0 to the sum, which leaves a sum that is never
    -0.0 (it starts at +0.0 and is a rounded sum) bit for bit unchanged, and a sum whose count stays 0 is 0.0
    already. ``&``, not ``and``: a short circuit is a branch."""
    step = int(sign)
    for t in range(len(row)):
        v = row[t]
        ok = np.isfinite(v)
        c = count[t] + (step if ok else 0)
        total_t = total[t] + (sign * v if ok else 0.0)
        count[t] = c
        total[t] = 0.0 if c == 0 else total_t


@numba.njit(cache=True, inline="always")
def _sd(row, n, positions, total, count):  # pragma: no cover - compiled
    """(s, m) of the portfolio of ``n`` members one of which has the residuals ``row`` (unkept days NaN) on the
    ``positions``: the sd (ddof = 1) of ``total / n`` over its dates where all ``n`` members have a residual
    (count == n), and how many there are."""
    m = 0
    acc = 0.0
    for t in range(len(row)):
        p = positions[t]
        if p >= 0 and np.isfinite(row[t]) and count[p] == n:
            m += 1
            acc += total[p] / n
    if m < 2:
        return np.nan, m
    mean = acc / m
    var = 0.0
    for t in range(len(row)):
        p = positions[t]
        if p >= 0 and np.isfinite(row[t]) and count[p] == n:
            d = total[p] / n - mean
            var += d * d
    return np.sqrt(var / (m - 1)), m
