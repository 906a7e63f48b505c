"""The moves of the calendar-time walk (:mod:`eventstudy.inference.portfolio_sd`): a pair's plan line, the pairs that
enter and leave between two portfolios, a row of residuals or a unit's row added to or removed from the walk's
(date -> sum, count) table, and a group's units.

A unit is two or more pairs of a group that are members of the same portfolios in every window and whose estimation
residuals lie on one row of dates: their residuals are summed once, on that row, and the walk moves the sum where it
would move each pair (a pooled group of 1,000,000 pairs on 1,700 day-0 sessions: 1,700 units, each pair's row read
once instead of twice a window). The sums' order is fixed (a unit's pairs in the order first seen), so the walk's
(s, m) are one walk's to the bit; they differ from a walk of every pair alone by rounding only (the same residuals
added in another order).
"""

from __future__ import annotations

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)

SKIP, REGENERATED, STORED, OTHER = 0, 1, 2, 3  # a pair's plan: no kept residual, a run regenerated or stored, other
KIND, ROW, FIRST, POSITION, DAYS, ALPHA, BETA = range(7)  # plan columns (int64; ALPHA and BETA hold float64 bits)
PLAN_COLUMNS = 8  # one 64-byte line a pair
UNSEEN, NO_UNIT = -2, -1  # a pair's unit: not (yet) one of the group's pairs; of none
UNIT = -1  # a move's plan line: its pair's unit moves (``ROW``: the unit)


@numba.njit(cache=True, nogil=True, _nrt=False)
def group_units(
    g, group_starts, starts, pair, moves, plan, bits, src, table, offset, units
):  # pragma: no cover - compiled
    """Group ``g``'s units and their rows; returns how many pairs the group has (its pairs ``units[1][:n]``).

    A unit is two or more of the group's pairs with one estimation row of dates (``offset``) and a run of residuals
    on it (plan ``REGENERATED`` or ``STORED``) that are members of the same portfolios in every window: for each
    window, the same first and last portfolio of the group and every one between (a pair's portfolios consecutive).
    Its row holds, on each date of that estimation row, how many of its pairs have a finite residual and their sum
    (from 0.0, its pairs in the order first seen: window by window, portfolio by portfolio, each one's members in
    order). Units are held in the order made while ``room`` (the rows' buffers) lasts; a pair of no held unit moves
    alone."""
    track, seen, head, lead, next_unit, size, place, sums, counts, base = units[:10]
    n_windows, n_seen, n_units = group_starts.shape[0], 0, 0
    for w in range(n_windows):  # each pair's entries and exits: the moves between the group's portfolios
        f, a, b = 1 + 3 * w, 0, 0
        for k in range(group_starts[w, g], group_starts[w, g + 1]):
            c, d = starts[k], starts[k + 1]
            for j in range(diff_moves(pair, a, b, c, d, moves)):
                if moves[j] < 0:
                    track[~moves[j], f + 1] = k  # leaves at portfolio k
                    continue
                i = moves[j]
                if track[i, 0] == UNSEEN:
                    track[i, 0], seen[n_seen] = NO_UNIT, i
                    n_seen += 1
                if track[i, f + 2] == 0:
                    track[i, f] = k  # enters at k
                track[i, f + 2] += 1
            a, b = c, d
        for e in range(a, b):  # the last portfolio's members leave at the group's end
            track[pair[e], f + 1] = group_starts[w, g + 1]
    for q in range(n_seen):
        i = seen[q]
        if plan[i, KIND] != REGENERATED and plan[i, KIND] != STORED:
            continue
        apart = False  # entered twice in some window: its portfolios there not consecutive
        for f in range(1, 1 + 3 * n_windows, 3):
            apart |= track[i, f + 2] > 1
        if apart:
            continue
        u = head[offset[i]]
        while u >= 0 and not _same_portfolios(track[lead[u]], track[i]):
            u = next_unit[u]
        if u < 0:
            u, n_units = n_units, n_units + 1
            lead[u], next_unit[u], size[u], head[offset[i]] = i, head[offset[i]], 0, u
        track[i, 0] = u
        size[u] += 1
    held = 0
    for u in range(n_units):
        head[offset[lead[u]]] = -1  # (for the next group)
        place[u] = -1
        if size[u] >= 2 and held < len(sums):
            place[u], base[held] = held, table[offset[lead[u]]]
            sums[held, :] = 0.0
            counts[held, :] = 0
            held += 1
    at = lead  # (reused) where each held unit's pairs start in ``order``: a stable counting sort by unit
    at[: held + 1] = 0
    for q in range(n_seen):
        i = seen[q]
        track[i, 0] = place[track[i, 0]] if track[i, 0] >= 0 else NO_UNIT
        if track[i, 0] >= 0:
            at[track[i, 0] + 1] += 1
    for u in range(held):
        at[u + 1] += at[u]
    order = next_unit  # (reused) the held units' pairs, unit by unit, each unit's in the order first seen
    for q in range(n_seen):
        u = track[seen[q], 0]
        if u >= 0:
            order[at[u]] = seen[q]
            at[u] += 1
    for j in range(at[held - 1] if held else 0):  # a unit's row stays in the cache while its pairs are added
        i = order[j]
        u = track[i, 0]
        _add_to_unit(i, plan, bits, src, sums[u], counts[u], plan[i, POSITION] - base[u])
    return n_seen


@numba.njit(cache=True, inline="always")
def _same_portfolios(a, b):  # pragma: no cover - compiled
    """Whether two pairs' ``track`` rows put them in the same portfolios in every window (equal counts, and equal
    first and last portfolios where the count is not 0)."""
    for f in range(1, len(a), 3):
        if a[f + 2] != b[f + 2] or a[f + 2] > 0 and (a[f] != b[f] or a[f + 1] != b[f + 1]):
            return False
    return True


@numba.njit(cache=True, inline="always")
def _add_to_unit(i, plan, bits, src, sums, counts, at):  # pragma: no cover - compiled
    """Pair ``i``'s run of residuals (regenerated with :func:`~eventstudy.inference.ar_rows.ar_row`'s operations, or
    stored) added to its unit's row from day ``at``: each finite value to the sum, 1 to the count."""
    days, r, first = plan[i, DAYS], plan[i, ROW], plan[i, FIRST]
    if plan[i, KIND] == REGENERATED:
        y, x = src[4][r, first : first + days], src[5][first : first + days]
        move_regenerated(1.0, y, x, bits[i, ALPHA], bits[i, BETA], sums[at : at + days], counts[at : at + days])
    else:
        move_run(1.0, src[0][r, first : first + days], sums[at : at + days], counts[at : at + days])


@numba.njit(cache=True, inline="always")
def move_sums(sign, sums, counts, total, count):  # pragma: no cover - compiled
    """Add (``sign`` 1.0) or remove (-1.0) a unit's row on consecutive dates: each date's count moves by the unit's
    count and its sum by the unit's sum, the sum reset to 0.0 when the count reaches 0 (branch-free as
    :func:`move_run`: a date of the unit without a residual adds 0 and +-0.0)."""
    step = np.int32(sign)
    for t in range(len(sums)):
        c = count[t] + step * counts[t]
        total_t = total[t] + sign * sums[t]
        count[t] = c
        total[t] = 0.0 if c == 0 else total_t


@numba.njit(cache=True, inline="always")
def diff_moves(pair, a, b, c, d, moves):  # pragma: no cover - compiled
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
def move_regenerated(sign, y, x, alpha, beta, total, count):  # pragma: no cover - compiled
    """:func:`move_run` of a regenerated run: the residual y - (alpha + x beta) of returns ``y`` and market ``x``
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
def move_run(sign, row, total, count):  # pragma: no cover - compiled
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
def move_days(sign, row, kept, positions, total, count):  # pragma: no cover - compiled
    """:func:`move_run` of a row day by day: its kept days with a finite residual and a date (``positions`` -1:
    none)."""
    for t in range(len(row)):
        p = positions[t]
        if p >= 0 and kept[t] and np.isfinite(row[t]):
            count[p] += int(sign)
            total[p] = 0.0 if count[p] == 0 else total[p] + sign * row[t]
