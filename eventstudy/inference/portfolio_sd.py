"""The estimation-period standard deviation of every calendar-time portfolio, of several event windows.

For portfolio d of :mod:`eventstudy.inference.calendar_time` (members S_d, n_d of them) the series is the equally
weighted mean of its members' estimation residuals on each calendar date where every member has a clean one; s_d is
its standard deviation (ddof = 1) over those m_d dates (Jaffe 1974; Mandelker 1974: the standardized portfolio
residuals of :func:`~eventstudy.inference.calendar_time.calendar_time_z`).

One compiled pass walks each group's portfolios of every event window in date order, keeping per calendar date the
sum and count of the current members' residuals: a pair is added when it enters and removed when it leaves, in the
merge order of the two portfolios' sorted member lists (the sum reset to 0.0 when the count reaches 0), and (s, m)
are recomputed only when the member set changes, over the dates of one member (every full date is one of its dates).
At a group's end the table's dates its members touched are set to 0.0 and 0, what removing them one by one leaves.
Pairs that share their estimation dates and are members of the same portfolios in every window (a pooled group's
pairs of one day-0 session) move together as a unit, their residuals summed once per group
(:mod:`eventstudy.inference.portfolio_moves`): a pooled group of 1,000,000 pairs reads each pair's row once instead
of twice a window. So the work is O(pair-group memberships x days) however many groups and portfolios there are.

No row is held between moves: each move reads the pair's residuals where they are. A plan made once per pair (one
64-byte line: :data:`PLAN_COLUMNS`) says where: a row regenerated from the session grid
(:class:`~eventstudy.inference.ar_rows.ArRows`) whose kept days are one run on consecutive dates is recomputed over
that run, R_it - ((0.0 + alpha_i) + R_mt beta_i), the same operations as :func:`~eventstudy.inference.ar_rows.ar_row`
(the same bits), from the grid's returns of the dates around the walk's date (a few MB, in the cache: a held copy of
every row in the portfolios was tens of MB, read from memory); a stored row is read in place over that run; any other
row (unkept days inside, dates with gaps or out of order) is read with ``ar_row`` and applied day by day. A step's
plan lines are gathered before any is applied (independent reads, many in flight, instead of one memory latency a
move). Each date's cell sees the additions and removals of a walk of the rows and units themselves, in the same
order, so every (s, m) is that walk's to the bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import NAN_ROW, ArRows, ar_row
from eventstudy.inference.portfolio_moves import (
    ALPHA,
    BETA,
    DAYS,
    FIRST,
    KIND,
    OTHER,
    PLAN_COLUMNS,
    POSITION,
    REGENERATED,
    ROW,
    SKIP,
    STORED,
    UNIT,
    UNSEEN,
    diff_moves,
    group_units,
    move_days,
    move_regenerated,
    move_run,
    move_sums,
)
from eventstudy.inference.row_positions import RowPositions

if TYPE_CHECKING:
    from eventstudy.inference.calendar_time import Portfolios

UNIT_CELLS = 1 << 22  # a group's unit rows held at most (cells: 48 MB)
UNIT_TABLE = 1 << 22  # units only where the estimation rows' date table is at most this long (one int64 a place)
UNIT_TRACK = 1 << 29  # and where the pairs' records of their portfolios take at most this many bytes (512 MB)


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
    kept = RowPositions.of(np.asarray(keep, dtype=bool))  # the mask's rows as windows onto one flat array
    plan = np.empty((len(rows), PLAN_COLUMNS), np.int64)
    _plan(rows.source(), kept.table, kept.offset, positions.table, positions.offset, plan)
    n_groups = max(port.n_groups for port in ports)
    t_at = np.cumsum([0, *(len(port.group) for port in ports)])
    m_at = np.cumsum([0, *(len(port.pair) for port in ports)])
    group_starts = np.stack(  # (W, G + 1) each window's groups' first portfolio, on the windows' portfolios joined
        [
            np.pad(port.group_starts, (0, n_groups - port.n_groups), mode="edge") + t_at[w]
            for w, port in enumerate(ports)
        ]
    )
    starts = np.concatenate([*(port.starts[:-1] + m_at[w] for w, port in enumerate(ports)), m_at[-1:]])
    most = 2 * max(int(np.diff(port.starts).max(initial=0)) for port in ports) + 1  # a step's moves at most
    s, m = np.full(t_at[-1], np.nan), np.zeros(t_at[-1], np.int64)
    track = 4 * len(rows) * (1 + 3 * len(ports))
    units = len(positions.table) <= UNIT_TABLE and track <= UNIT_TRACK and t_at[-1] < 2**31 and rows.width > 0
    pairs = np.concatenate([port.pair for port in ports])
    walked = (group_starts, starts, pairs, ports[0].n_grid, most, UNIT_CELLS if units else 0)
    _walk(*walked, plan, rows.source(), kept.table, kept.offset, positions.table, positions.offset, s, m)
    return [(s[t_at[w] : t_at[w + 1]], m[t_at[w] : t_at[w + 1]]) for w in range(len(ports))]


def estimation_sd(
    port: Portfolios, ar_est: np.ndarray | ArRows, keep: np.ndarray, positions: np.ndarray | RowPositions
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimation_sd_windows` of one window's portfolios: ``(s (T,), m (T,))``."""
    return estimation_sd_windows([port], ar_est, keep, positions)[0]


@numba.njit(cache=True, nogil=True)
def _plan(src, kept, kept_at, table, offset, plan):  # pragma: no cover - compiled
    """Each pair's plan line: ``SKIP`` (a NaN row, or no kept day with a value), else for a row whose positions are
    consecutive dates and whose kept days of its values (a regenerated row's days inside its grid block, a stored
    row's every day) are one run: ``REGENERATED`` (``ROW`` its ticker column, ``FIRST`` the session of the run's
    first day, ``ALPHA`` 0.0 + alpha, ``BETA`` beta) or ``STORED`` (``ROW`` its stored row, ``FIRST`` the column of
    the run's first day); ``POSITION`` and ``DAYS`` the run's first date and length. Else ``OTHER``, ``POSITION`` and
    ``DAYS`` the span of its dates (what a group's end clears)."""
    stored, slot, col0, width, returns, market, start, column, lo, hi, alpha, beta = src
    bits = plan.view(np.float64)
    n = len(table)
    run = np.zeros(n + 1, np.int64)  # how many consecutive dates the table holds from each place on
    for j in range(n - 1, -1, -1):
        if table[j] >= 0:
            run[j] = 1 + (run[j + 1] if j + 1 < n and table[j + 1] == table[j] + 1 else 0)
    for i in range(len(slot)):
        plan[i, :] = 0
        s = slot[i]
        if s == NAN_ROW or width == 0:
            continue  # SKIP
        first, stop = 0, width
        if s < 0:  # regenerated: its days inside the grid block
            first = min(max(lo[i] - start[i], 0), width)
            stop = max(min(hi[i] - start[i], width), first)
        mask = kept[kept_at[i] + first : kept_at[i] + stop]
        days = 0
        for t in range(len(mask)):
            days += mask[t]
        if days == 0:
            continue  # SKIP
        a = 0
        while not mask[a]:
            a += 1
        b = len(mask)
        while not mask[b - 1]:
            b -= 1
        o = offset[i]
        if run[o] < width or days != b - a:
            plan[i, KIND] = OTHER
            low, high = n, -1
            for t in range(width):
                if table[o + t] >= 0:
                    low, high = min(low, table[o + t]), max(high, table[o + t])
            plan[i, POSITION], plan[i, DAYS] = low, max(high - low + 1, 0)
            continue
        plan[i, POSITION], plan[i, DAYS] = table[o] + first + a, b - a
        if s >= 0:
            plan[i, KIND], plan[i, ROW], plan[i, FIRST] = STORED, s, col0 + first + a
        else:
            plan[i, KIND], plan[i, ROW], plan[i, FIRST] = REGENERATED, column[i], start[i] + first + a
            bits[i, ALPHA], bits[i, BETA] = 0.0 + alpha[i], beta[i]


@numba.njit(cache=True, nogil=True)
def _walk(
    group_starts, starts, pair, n_grid, most, unit_cells, plan, src, kept, kept_at, table, offset, s, m
):  # pragma: no cover - compiled
    """Walk every window's portfolios, group by group (:func:`_walk_groups`), with its buffers: the (date -> sum,
    count) table, a row, a step's moves and plan lines, and the units' (at most ``unit_cells`` cells of unit rows;
    0: no unit)."""
    n_pairs, n_windows, width = len(plan), group_starts.shape[0], src[3]
    total = np.zeros(n_grid)
    count = np.zeros(n_grid, np.int32)  # a date's members (fewer than 2**31): int32 loops 10% faster than int64
    lines = np.empty((most, PLAN_COLUMNS), np.int64)
    buffers = (total, count, np.empty(width), np.empty(most, np.int64), lines, lines.view(np.float64))
    room = min(n_pairs // 2, unit_cells // max(width, 1))  # units held at once (of two pairs at least)
    n = n_pairs if room > 0 else 0
    track = np.zeros((n, 1 + 3 * n_windows), np.int32)  # a pair's unit, then per window: entry, exit, entries
    track[:, 0] = UNSEEN
    units = (
        track,
        np.empty(n, np.int64),  # the group's pairs, in the order first seen
        np.full(len(table) if room > 0 else 0, -1, np.int64),  # a unit of each estimation row (-1: none yet)
        np.empty(n, np.int64),  # each unit's first pair (then: where each held unit's pairs start)
        np.empty(n, np.int64),  # the next unit of the same estimation row (then: the held units' pairs)
        np.empty(n, np.int64),  # its pairs
        np.empty(n, np.int64),  # its place among the units held (-1: not held)
        np.empty((room, width)),  # a held unit's sums on its row's dates (zeroed when held),
        np.empty((room, width), np.int32),  # counts,
        np.empty(room, np.int64),  # first date
        np.full(room, -1, np.int64),  # and the step that last moved it
    )
    _walk_groups(group_starts, starts, pair, plan, plan.view(np.float64), src, kept, kept_at, table, offset, s, m,
                 buffers, units)  # fmt: skip


@numba.njit(cache=True, nogil=True, _nrt=False)
def _walk_groups(
    group_starts, starts, pair, plan, plan_bits, src, kept, kept_at, table, offset, s, m, buffers, units
):  # pragma: no cover - compiled
    """:func:`_walk`'s loop over the groups: the group's units made and summed (:func:`group_units`), then each
    window's portfolios walked in date order, a unit moved once a step (its first pair's move), any other pair by its
    plan line. Without reference counting: numba counts each view's references with atomic instructions, and a move
    makes several views (200,000 pairs' walks 0.28 -> 0.27 s without them)."""
    total, count, row, moves, lines, bits = buffers
    track, seen, sums, counts, base, moved = units[0], units[1], units[7], units[8], units[9], units[10]
    stored, returns, market, width = src[0], src[4], src[5], src[3]
    n_grid, n_windows = len(total), group_starts.shape[0]
    step = 0
    for g in range(group_starts.shape[1] - 1):
        n_seen = (
            group_units(g, group_starts, starts, pair, moves, plan, plan_bits, src, table, offset, units)
            if len(sums)
            else 0
        )
        for w in range(n_windows):
            a, b = 0, 0  # the previous portfolio's members
            low, high = n_grid, 0  # the dates touched
            for k in range(group_starts[w, g], group_starts[w, g + 1]):
                c, d = starts[k], starts[k + 1]
                n_moves = diff_moves(pair, a, b, c, d, moves)
                step += 1
                for j in range(n_moves):  # independent reads: many in flight
                    i = moves[j] if moves[j] >= 0 else ~moves[j]
                    if n_seen and track[i, 0] >= 0:  # a unit's pair: its unit, not its plan line
                        lines[j, KIND], lines[j, ROW] = UNIT, track[i, 0]
                    else:
                        for f in range(PLAN_COLUMNS):
                            lines[j, f] = plan[i, f]
                for j in range(n_moves):
                    i = moves[j] if moves[j] >= 0 else ~moves[j]
                    sign, kind = 1.0 if moves[j] >= 0 else -1.0, lines[j, KIND]
                    if kind == UNIT:  # the unit's pairs all move in this step: once
                        u = lines[j, ROW]
                        if moved[u] != step:
                            moved[u], p = step, base[u]
                            move_sums(sign, sums[u], counts[u], total[p : p + width], count[p : p + width])
                            low, high = min(low, p), max(high, p + width)
                        continue
                    p, days, r, first = lines[j, POSITION], lines[j, DAYS], lines[j, ROW], lines[j, FIRST]
                    if kind == REGENERATED:
                        x = market[first : first + days]
                        y = returns[r, first : first + days]
                        move_regenerated(
                            sign, y, x, bits[j, ALPHA], bits[j, BETA], total[p : p + days], count[p : p + days]
                        )
                    elif kind == STORED:
                        move_run(sign, stored[r, first : first + days], total[p : p + days], count[p : p + days])
                    elif kind == OTHER:
                        ar_row(src, i, row)
                        move_days(sign, row, kept[kept_at[i] :], table[offset[i] :], total, count)
                    if kind != SKIP:
                        low, high = min(low, p), max(high, p + days)
                if k == group_starts[w, g] or n_moves > 0:
                    u = track[pair[c], 0] if n_seen else -1
                    if u >= 0:  # over its unit's row of dates (the sums are finite)
                        s[k], m[k] = _sd(sums[u], table[:0], d - c, total[base[u] :], count[base[u] :])
                    else:
                        s[k], m[k] = _lead_sd(
                            pair[c], d - c, plan, plan_bits, src, kept, kept_at, table, offset, total, count, row
                        )
                else:
                    s[k], m[k] = s[k - 1], m[k - 1]
                a, b = c, d
            if high > low:  # every member leaves: the table of no member
                total[low:high] = 0.0
                count[low:high] = 0
        for q in range(n_seen):  # the group's pairs as unseen again
            track[seen[q], :] = 0
            track[seen[q], 0] = UNSEEN


@numba.njit(cache=True, inline="always")
def _lead_sd(i, n, plan, bits, src, kept, kept_at, table, offset, total, count, row):  # pragma: no cover - compiled
    """(s, m) of a portfolio of ``n`` members, pair ``i`` one of them, over pair i's kept dates with a residual
    (:func:`_sd`): a run (regenerated or stored) read over its dates, any other row through ``row``."""
    kind, p, days, r, first = plan[i, KIND], plan[i, POSITION], plan[i, DAYS], plan[i, ROW], plan[i, FIRST]
    if kind == SKIP:
        return np.nan, 0
    if kind == STORED:
        return _sd(src[0][r, first : first + days], table[:0], n, total[p:], count[p:])
    if kind == REGENERATED:
        y, x, alpha, beta = src[4][r, first : first + days], src[5][first : first + days], bits[i, ALPHA], bits[i, BETA]
        for t in range(days):
            row[t] = y[t] - (alpha + x[t] * beta)
        return _sd(row[:days], table[:0], n, total[p:], count[p:])
    ar_row(src, i, row)
    mask = kept[kept_at[i] :]
    for t in range(len(row)):
        row[t] = row[t] if mask[t] else np.nan
    return _sd(row, table[offset[i] : offset[i] + len(row)], n, total, count)


@numba.njit(cache=True, inline="always")
def _sd(values, positions, n, total, count):  # pragma: no cover - compiled
    """(s, m): the sd (ddof = 1) of ``total / n`` over the dates of the finite ``values`` where all ``n`` members
    have a residual (count == n), and how many there are (s NaN when m < 2). Day t's date is ``positions[t]`` (-1:
    none), or t when ``positions`` is empty (a run: ``total`` and ``count`` start at its first date)."""
    run = len(positions) == 0
    m = 0
    acc = 0.0
    for t in range(len(values)):
        p = t if run else positions[t]
        if p >= 0 and np.isfinite(values[t]) and count[p] == n:
            m += 1
            acc += total[p] / n
    if m < 2:
        return np.nan, m
    mean = acc / m
    var = 0.0
    for t in range(len(values)):
        p = t if run else positions[t]
        if p >= 0 and np.isfinite(values[t]) and count[p] == n:
            d = total[p] / n - mean
            var += d * d
    return np.sqrt(var / (m - 1)), m
