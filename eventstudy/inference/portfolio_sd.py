"""The estimation-period standard deviation of every calendar-time portfolio, of several event windows.

For portfolio d of :mod:`eventstudy.inference.calendar_time` (members S_d, n_d of them) the series is the equally
weighted mean of its members' estimation residuals on each calendar date where every member has a clean one; s_d is
its standard deviation (ddof = 1) over those m_d dates (Jaffe 1974; Mandelker 1974: the standardized portfolio
residuals of :func:`~eventstudy.inference.calendar_time.calendar_time_z`).

One compiled pass per event window walks each group's portfolios in date order, keeping per calendar date the sum and
count of the current members' residuals: a pair is added when it enters and removed when it leaves, in the merge
order of the two portfolios' sorted member lists (the sum reset to 0.0 when the count reaches 0), and (s, m) are
recomputed only when the member set changes, over the dates of one member (every full date is one of its dates). At
a group's end the table's dates its members touched are set to 0.0 and 0, what removing them one by one leaves. So
the work is O(pair-group memberships x days) however many groups and portfolios there are.

No row is held between moves: each move reads the pair's residuals where they are. A plan made once per pair (one
64-byte line: :data:`PLAN_COLUMNS`) says where: a row regenerated from the session grid
(:class:`~eventstudy.inference.ar_rows.ArRows`) whose kept days are one run on consecutive dates is recomputed over
that run, R_it - ((0.0 + alpha_i) + R_mt beta_i), the same operations as :func:`~eventstudy.inference.ar_rows.ar_row`
(the same bits), from the grid's returns of the dates around the walk's date (a few MB, in the cache: a held copy of
every row in the portfolios was tens of MB, read from memory); a stored row is read in place over that run; any other
row (unkept days inside, dates with gaps or out of order) is read with ``ar_row`` and applied day by day. A step's
plan lines are gathered before any is applied (independent reads, many in flight, instead of one memory latency a
move). Each date's cell sees the additions and removals of a walk of the rows themselves, in the same order, so every
(s, m) is that walk's to the bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.ar_rows import NAN_ROW, ArRows, ar_row
from eventstudy.inference.row_positions import RowPositions

if TYPE_CHECKING:
    from eventstudy.inference.calendar_time import Portfolios

SKIP, REGENERATED, STORED, OTHER = 0, 1, 2, 3  # a pair's plan: no kept residual, a run regenerated or stored, other
KIND, ROW, FIRST, POSITION, DAYS, ALPHA, BETA = range(7)  # plan columns (int64; ALPHA and BETA hold float64 bits)
PLAN_COLUMNS = 8  # one 64-byte line a pair


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
    out = []
    for port in ports:
        s, m = np.full(len(port.group), np.nan), np.zeros(len(port.group), np.int64)
        most = 2 * int(np.diff(port.starts).max(initial=0)) + 1  # moves of a step: at most both member lists
        walked = (port.group_starts, port.starts, port.pair, port.n_grid, most)
        _walk(*walked, plan, rows.source(), kept.table, kept.offset, positions.table, positions.offset, s, m)
        out.append((s, m))
    return out


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
    group_starts, starts, pair, n_grid, most, plan, src, kept, kept_at, table, offset, s, m
):  # pragma: no cover - compiled
    """Walk one window's portfolios (group by group, in date order) with a (date -> sum, count) table: each
    portfolio's moves from the previous one (``i``: pair i enters, ``~i``: it leaves, in merge order), their plan
    lines gathered, then applied; (s, m) over the first member's dates when the members changed (or the group
    starts), else the previous portfolio's. At the group's end the dates its members touched are cleared."""
    total = np.zeros(n_grid)
    count = np.zeros(n_grid, np.int32)  # a date's members (fewer than 2**31): int32 loops 10% faster than int64
    lines = np.empty((most, PLAN_COLUMNS), np.int64)
    buffers = (total, count, np.empty(src[3]), np.empty(most, np.int64), lines, lines.view(np.float64))
    _walk_groups(group_starts, starts, pair, plan, plan.view(np.float64), src, kept, kept_at, table, offset, s, m,
                 buffers)  # fmt: skip


@numba.njit(cache=True, nogil=True, _nrt=False)
def _walk_groups(
    group_starts, starts, pair, plan, plan_bits, src, kept, kept_at, table, offset, s, m, buffers
):  # pragma: no cover - compiled
    """:func:`_walk`'s loop over the groups, with its ``buffers`` (the table's sums and counts, a row, a step's
    moves and plan lines, those as float64). Without reference counting: numba counts each view's references with
    atomic instructions, and a move makes several views (200,000 pairs' walks 0.28 -> 0.27 s without them)."""
    total, count, row, moves, lines, bits = buffers
    stored, returns, market = src[0], src[4], src[5]
    n_grid = len(total)
    for g in range(len(group_starts) - 1):
        a, b = 0, 0  # the previous portfolio's members
        low, high = n_grid, 0  # the dates touched
        for k in range(group_starts[g], group_starts[g + 1]):
            c, d = starts[k], starts[k + 1]
            n_moves = _diff(pair, a, b, c, d, moves)
            for j in range(n_moves):  # independent reads: many in flight
                i = moves[j] if moves[j] >= 0 else ~moves[j]
                for f in range(PLAN_COLUMNS):
                    lines[j, f] = plan[i, f]
            for j in range(n_moves):
                sign, kind = 1.0 if moves[j] >= 0 else -1.0, lines[j, KIND]
                p, days, r, first = lines[j, POSITION], lines[j, DAYS], lines[j, ROW], lines[j, FIRST]
                if kind == REGENERATED:
                    x = market[first : first + days]
                    y = returns[r, first : first + days]
                    _move_regenerated(
                        sign, y, x, bits[j, ALPHA], bits[j, BETA], total[p : p + days], count[p : p + days]
                    )
                elif kind == STORED:
                    _move_run(sign, stored[r, first : first + days], total[p : p + days], count[p : p + days])
                elif kind == OTHER:
                    i = moves[j] if moves[j] >= 0 else ~moves[j]
                    ar_row(src, i, row)
                    _move_days(sign, row, kept[kept_at[i] :], table[offset[i] :], total, count)
                if kind != SKIP:
                    low, high = min(low, p), max(high, p + days)
            if k == group_starts[g] or n_moves > 0:
                s[k], m[k] = _lead_sd(
                    pair[c], d - c, plan, plan_bits, src, kept, kept_at, table, offset, total, count, row
                )
            else:
                s[k], m[k] = s[k - 1], m[k - 1]
            a, b = c, d
        if high > low:  # every member leaves: the table of no member
            total[low:high] = 0.0
            count[low:high] = 0


@numba.njit(cache=True, inline="always")
def _diff(pair, a, b, c, d, moves):  # pragma: no cover - compiled
    """The moves from members ``pair[a:b]`` to ``pair[c:d]`` (both sorted) in merge order into ``moves`` (``i``:
    pair i enters, ``~i``: it leaves); returns how many."""
    n = 0
    x, y = a, c
    while x < b or y < d:
        if y >= d or (x < b and pair[x] < pair[y]):
            moves[n] = ~pair[x]
            n += 1
            x += 1
        elif x >= b or pair[y] < pair[x]:
            moves[n] = pair[y]
            n += 1
            y += 1
        else:
            x += 1
            y += 1
    return n


@numba.njit(cache=True, inline="always")
def _move_regenerated(sign, y, x, alpha, beta, total, count):  # pragma: no cover - compiled
    """:func:`_move_run` of a regenerated run: the residual y - (alpha + x beta) of returns ``y`` and market ``x``
    (``alpha`` already 0.0 + alpha: :func:`~eventstudy.inference.ar_rows.ar_row`'s operations, its bits)."""
    step = np.int32(sign)
    for t in range(len(y)):
        v = y[t] - (alpha + x[t] * beta)
        ok = np.isfinite(v)
        c = count[t] + (step if ok else np.int32(0))
        total_t = total[t] + (sign * v if ok else 0.0)
        count[t] = c
        total[t] = 0.0 if c == 0 else total_t


@numba.njit(cache=True, inline="always")
def _move_run(sign, row, total, count):  # pragma: no cover - compiled
    """Add (``sign`` 1.0) or remove (-1.0) a row on consecutive dates (``total`` and ``count`` its slices): on each
    date with a finite residual v the count moves by 1 or -1 and the sum by v or -v, the sum reset to 0.0 when the
    count reaches 0. Branch-free so the loop vectorises: a day without a residual adds 0 to the count and +0.0 to the
    sum, which leaves a sum that is never -0.0 (it starts at +0.0 and is a rounded sum) bit for bit unchanged, and a
    sum whose count stays 0 is 0.0 already."""
    step = np.int32(sign)
    for t in range(len(row)):
        v = row[t]
        ok = np.isfinite(v)
        c = count[t] + (step if ok else np.int32(0))
        total_t = total[t] + (sign * v if ok else 0.0)
        count[t] = c
        total[t] = 0.0 if c == 0 else total_t


@numba.njit(cache=True, inline="always")
def _move_days(sign, row, kept, positions, total, count):  # pragma: no cover - compiled
    """:func:`_move_run` of a row day by day: its kept days with a finite residual and a date (``positions`` -1:
    none)."""
    for t in range(len(row)):
        p = positions[t]
        if p >= 0 and kept[t] and np.isfinite(row[t]):
            count[p] += int(sign)
            total[p] = 0.0 if count[p] == 0 else total[p] + sign * row[t]


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
