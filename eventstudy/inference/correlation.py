"""Average pairwise correlation rbar of CARs whose event windows overlap in calendar time (Kolari-Pynnönen).

Two pairs' CARs correlate only through the calendar days their event windows share. With rho_ij the
correlation of their estimation residuals over the dates both have one (pairwise complete) and W_i the set of
calendar dates of pair i's event window (L2_i = |W_i|),

    Corr(CAR_i, CAR_j) = w_ij rho_ij,   w_ij = |W_i & W_j| / sqrt(L2_i L2_j)

(for equal L2 the weight is the share of window days in common, ``STATISTICS.md``), and
rbar = sum over i < j of w_ij rho_ij / (N (N - 1) / 2). Pairs whose windows never meet count zero, whatever
their neighbours do: there is no chaining through a third pair. For N pairs on one date w_ij = 1 and rbar is the
plain average pairwise residual correlation of Kolari & Pynnönen (2010).

Computation, for every group of pairs at once: the members of a group with the same window dates form a *window
class*; only classes of one group whose windows overlap are visited (a sweep over classes sorted by group and
start). Dates are int positions on one calendar (:func:`correlations_at_positions`: the engine passes its session
grid's as windows onto one table, no (pairs x days) array of dates or positions), renumbered on the sorted union of
the pairs' dates, and each pair keeps only the residuals it has (in date order). Inside a class, members with the
same available dates form a *cell*.
For two cells p, q the dates S both have are common to all their pairs, so with
u_i = (x_i - mean_i) / ||x_i - mean_i|| over S,
sum_{i in p, j in q} rho_ij = (sum_i u_i) . (sum_j u_j): O((|p| + |q|) |S|) instead of O(|p| |q| |S|) (within one
cell the i = j terms are taken out and each pair counted once); cells of complete rows (dates a run) take these sums
for all their partners at once (:mod:`~eventstudy.inference.correlation_runs`). Every pair of overlapping classes
whose cells are few for its pairs takes this path (complete data: one cell per class); a large pair of classes with
scattered gaps takes every pair's pairwise-complete moments from masked matrix products (BLAS); the rest (tiny
cells) is computed pair by pair in a compiled kernel: rows whose dates span at most D positions are laid out densely
on their span (0 with a 0 mask where a residual is missing) and take the six masked sums of a pair in one aligned,
vectorised pass; other rows merge their date positions. No missing residual enters a sum (the masks drop them);
compiled loops run in parallel over pairs of classes or cells, each writing its own slot, and the slots are summed
in a fixed order (the result does not depend on threads). Only w_ij depends on the event window: the windows of one
study (:func:`correlations_of_windows`) share the rows' patterns and every pair of classes' sum of rho_ij, computed
once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.calendar_time import calendar_positions
from eventstudy.inference.correlation_kernels import batch_bounds, class_entries, shared_days
from eventstudy.inference.correlation_kernels import pair_sums as _kernel_sum
from eventstudy.inference.correlation_packing import compress, patterns, renumbering, runs_of_keys
from eventstudy.inference.correlation_runs import cell_runs
from eventstudy.inference.correlation_runs import cell_sums as _cell_sums
from eventstudy.inference.groups import Groups
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.rows import factorize_rows

CELL_MIN_PAIRS = 20_000  # a pair of classes with this many pairs, cells that do not pay and rows to merge: BLAS
ROWS_PER_BATCH = 1 << 14  # rows packed at a time (their values and positions: about 3 kB a row of 250 days)


def mean_pairwise_correlation(
    residuals: np.ndarray | ArRows,
    dates: np.ndarray,
    window_dates: np.ndarray,
    min_shared: int = 20,
) -> float:
    """rbar for the Kolari & Pynnönen (2010) adjustment of the pairs' cumulative abnormal returns.

    Parameters
    ----------
    residuals
        (N, D) estimation-window abnormal returns, NaN where a pair has none: an array or rows stored or regenerated
        (:class:`~eventstudy.inference.ar_rows.ArRows`, read a row at a time, never all at once).
    dates
        (N, D) their calendar dates, ascending along each row (NaT where none).
    window_dates
        (N, L) calendar dates of each pair's event-window days (NaT where the calendar has none).
    min_shared
        Fewest shared estimation dates for a correlation; pairs with fewer (or a constant series) count 0.

    Returns
    -------
    float
        sum over i < j of w_ij rho_ij / (N (N - 1) / 2), with w_ij = |W_i & W_j| / sqrt(L2_i L2_j); 0 when N < 2.
    """
    groups = Groups.one(len(residuals))
    return float(mean_pairwise_correlations(residuals, dates, window_dates, groups, min_shared)[0])


def mean_pairwise_correlations(
    residuals: np.ndarray | ArRows,
    dates: np.ndarray,
    window_dates: np.ndarray,
    groups: Groups,
    min_shared: int = 20,
) -> np.ndarray:
    """rbar of every group at once (:func:`mean_pairwise_correlation` of each group's pairs).

    Parameters
    ----------
    residuals, dates, window_dates
        (P, D), (P, D) and (P, L) arrays of all pairs, as in :func:`mean_pairwise_correlation`.
    groups
        The groups' members (pairs in no group are not read).
    min_shared
        Fewest shared estimation dates for a correlation.

    Returns
    -------
    np.ndarray
        (G,) rbar of each group: sum over its pairs i < j of w_ij rho_ij / (N_g (N_g - 1) / 2), N_g its members;
        0 for a group of fewer than two pairs.
    """
    _, (positions, window_positions) = calendar_positions(dates, window_dates)
    return correlations_at_positions(residuals, positions, window_positions, groups, min_shared)


def correlations_at_positions(
    residuals: np.ndarray | ArRows,
    positions: np.ndarray | RowPositions,
    window_positions: np.ndarray,
    groups: Groups,
    min_shared: int = 20,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`mean_pairwise_correlations` with the dates given as int positions on one calendar (-1: no date).

    ``positions`` (P, D) of the residuals' dates, ascending along each row where >= 0 (an array or the rows of one
    table, :class:`~eventstudy.inference.row_positions.RowPositions`), and ``window_positions`` (P, L) of the event
    windows' dates, on the same calendar: any numbering that keeps the dates' order and equality gives the same
    rbar (e.g. :meth:`eventstudy.engine.grid.SessionGrid.calendar_rows`). ``valid``
    (P, D): only the residuals where it holds count (as if the others were NaN; default: every finite one), so
    that a view of the stage's ARs and its clean-estimation mask serve without a NaN-filled copy. Views are read
    in place; no (P, D) array of dates is built, and the rows are packed (compressed to the residuals they have)
    ``ROWS_PER_BATCH`` at a time, never all at once.
    """
    return correlations_of_windows(residuals, positions, [window_positions], [groups], min_shared, valid)[0]


def correlations_of_windows(
    residuals: np.ndarray | ArRows,
    positions: np.ndarray | RowPositions,
    window_positions: list[np.ndarray | RowPositions],
    members: list[Groups],
    min_shared: int = 20,
    valid: np.ndarray | None = None,
) -> list[np.ndarray]:
    """:func:`correlations_at_positions` of several event windows of the same estimation residuals (those where
    ``valid`` holds, if given): window w's dates ``window_positions[w]`` (P, L_w; an array or the rows of one table,
    read at its distinct offsets only) and groups ``members[w]``; each window's (G_w,) rbar, the same bits as one
    call per window.

    rbar_w = sum over i < j of w_ij^(w) rho_ij / (N (N - 1) / 2) (Kolari & Pynnönen 2010): only the weights depend
    on the window, so what does not is done once. Windows whose groups hold the same pairs share the rows'
    renumbered dates, availability patterns and spans; those whose window classes also have the same members (pairs
    with one event date share every window's dates: the usual case) share the sums of rho_ij over their pairs of
    classes, computed once for the union of the windows' overlapping pairs of classes (each batch of rows packed
    once) and weighted by each window's w_ij.
    """
    x, positions = ArRows.of(residuals), RowPositions.of(positions)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != x.shape:
            raise ValueError(f"valid {valid.shape} does not match the residuals {x.shape}")
    out = [np.zeros(groups.n_groups) for groups in members]
    for family in _alike(list(range(len(members))), lambda v, w: _same_members(members[v], members[w])):
        groups = members[family[0]]
        size = groups.sizes
        if not (size >= 2).any():
            continue
        used = np.flatnonzero(np.bincount(groups.pair, minlength=groups.n_pairs) > 0)
        rows = _Rows(x, positions, used, valid)
        overlaps = _window_overlaps(rows, groups, {w: window_positions[w] for w in family})
        many = size >= 2
        for part in _alike(list(overlaps.items()), lambda v, w: _classes_equal(v[1][0], w[1][0])):
            partials = _shared_pair_sums(rows, [overlap for _, overlap in part], int(min_shared))
            for (w, (classes, ca, _, weight, _)), partial in zip(part, partials, strict=True):
                total = np.bincount(classes.group[ca], weights=weight * partial, minlength=groups.n_groups)
                out[w][many] = total[many] / (size[many] * (size[many] - 1) / 2)
    return out


def _window_overlaps(rows: _Rows, groups: Groups, windows: dict) -> dict[int, tuple]:
    """Each window w's classes and their overlapping pairs (:func:`_overlapping_classes`) for the pairs ``rows.used``
    in ``groups`` and the window dates ``windows[w]``; windows whose classes have the same members share them. The
    (P,) codes of the windows' dates are dropped on return, before the pair sums, the largest step, begin."""
    local = np.full(groups.n_pairs, -1, dtype=np.int64)
    local[rows.used] = np.arange(len(rows.used))
    overlaps, known, seen = {}, [], []
    for w, dates in windows.items():
        window, wpos = _window_classes_of(dates, rows.used, seen)
        same = next((classes for code, classes in known if np.array_equal(code, window)), None)
        classes = _Classes(groups.group, local[groups.pair], window, rows.pattern) if same is None else same
        known.append((window, classes))
        overlaps[w] = (classes, *_overlapping_classes(wpos, classes.group, classes.window))
    return overlaps


def _shared_pair_sums(rows: _Rows, overlaps: list[tuple], min_shared: int) -> list[np.ndarray]:
    """:func:`_class_pair_sums` of each window's pairs of classes ``overlaps[k]`` = (classes, a, b, weight, rank)
    (:func:`_overlapping_classes`; the same classes in every window), each distinct pair computed once: in order of
    the first window's ranks, so that a batch of rows serves neighbouring classes."""
    classes, rank = overlaps[0][0], overlaps[0][4]
    n = len(classes.ptr) - 1
    keys = [a * n + b for _, a, b, _, _ in overlaps]
    union, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    a, b = union // n, union % n
    order = np.lexsort((np.maximum(rank[a], rank[b]), np.minimum(rank[a], rank[b])))
    partial = np.empty(len(union))
    partial[order] = _class_pair_sums(rows, classes, a[order], b[order], min_shared)
    return np.split(partial[inverse], np.cumsum([len(k) for k in keys])[:-1])


def _alike(items: list, same: Callable[[Any, Any], bool]) -> list[list]:
    """``items`` in runs of those ``same`` as a run's first, each run in the items' order."""
    runs: list[list] = []
    for item in items:
        run = next((r for r in runs if same(r[0], item)), None)
        if run is None:
            runs.append([item])
        else:
            run.append(item)
    return runs


def _same_members(a: Groups, b: Groups) -> bool:
    return a.n_groups == b.n_groups and np.array_equal(a.group, b.group) and np.array_equal(a.pair, b.pair)


def _classes_equal(a: _Classes, b: _Classes) -> bool:
    return (
        a is b or np.array_equal(a.ptr, b.ptr) and np.array_equal(a.rows, b.rows) and np.array_equal(a.group, b.group)
    )


class _Rows:
    """The residual rows ``used`` of ``x`` (P, D; stored or regenerated: :class:`~eventstudy.inference.ar_rows.ArRows`)
    with their date ``positions`` (P, D) (and ``valid`` (P, D) or None: which residuals count), read a row at a time
    and packed on demand: ``pack(r)`` gives rows ``used[r]`` (packed row r is row ``used[r]``) as ``(xv, pv, cnt)``
    (:func:`~eventstudy.inference.correlation_packing.compress`); ``pattern`` (the code of each row's available
    dates), ``span`` (of their positions), ``start``, ``count`` (their run: -1 and 0 for none) and ``lead`` (the first
    of their consecutive days, -1 if they are not: :func:`~eventstudy.inference.correlation_packing.patterns`) are
    known for every row without packing; ``source`` is what kernels read rows from
    (:func:`~eventstudy.inference.correlation_runs.run_cell_sums`)."""

    def __init__(self, x: ArRows, positions: RowPositions, used: np.ndarray, valid: np.ndarray | None = None):
        self.x, self.positions, self.used, self.valid = x, positions, used, valid
        self.renumber = renumbering(positions, used)
        self.pattern, self.span, keys, self.lead = patterns(x, positions, self.renumber, used, valid)
        self.start, self.count = runs_of_keys(keys)
        self.width = x.width
        self.source = (x.source(), valid, positions.table, positions.offset)

    def pack(self, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return compress(self.x, self.positions, self.renumber, self.used[rows], self.valid)

    def of_classes(self, classes: _Classes, chosen: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, ...]:
        """The packed members of the classes ``chosen`` and ``at`` (entries of ``classes.rows``), whose entries of
        those classes are numbered on them in place (other entries keep what they held: no kernel reads them). The
        work is the batch's own entries, never a pass over every row of the study (batches x rows)."""
        entries = class_entries(classes.ptr, np.unique(chosen))
        needed, at[entries] = np.unique(classes.rows[entries], return_inverse=True)
        return (*self.pack(needed), at)

    def runs_of_classes(self, classes: _Classes, ca, cb, runs: np.ndarray, at: np.ndarray, pack: np.ndarray):
        """:meth:`of_classes` of each run ``runs[r]:runs[r + 1]`` of the pairs of classes (ca, cb) in turn, as a
        generator, each row packed once while the runs from the first to the last that need one of its classes
        are taken (runs of neighbouring classes share most of them: each row packed once, not once per run). The
        packed rows of a run are rows of one buffer (other rows in it belong to other runs' classes). Only the
        entries where ``pack`` holds are packed (the others are read from the residuals where needed)."""
        n_runs, n_classes = len(runs) - 1, len(classes.ptr) - 1
        run = np.repeat(np.arange(n_runs), np.diff(runs))
        first, last = np.full(n_classes, n_runs), np.full(n_classes, -1)
        for c in (ca, cb):
            np.minimum.at(first, c, run)
            np.maximum.at(last, c, run)
        by_first, by_last = np.argsort(first, kind="stable"), np.argsort(last, kind="stable")
        opens = np.searchsorted(first[by_first], np.arange(n_runs + 1))
        closes = np.searchsorted(last[by_last], np.arange(n_runs + 1))
        slot = np.full(len(self.used), -1, dtype=np.int64)  # each row's place in the buffer (-1: not packed)
        live = np.zeros(len(self.used), dtype=np.int64)  # the classes taken and not done that hold each row
        buffer = (np.empty((0, self.width)), np.empty((0, self.width), np.int32), np.zeros(0, np.int64))
        free = np.zeros(0, dtype=np.int64)
        for r in range(n_runs):
            entries = class_entries(classes.ptr, by_first[opens[r] : opens[r + 1]])
            rows = classes.rows[entries[pack[entries]]]
            np.add.at(live, rows, 1)
            fresh = np.unique(rows[slot[rows] < 0])
            if len(fresh) > len(free):  # a larger buffer: the packed rows copied over, the new places free
                size = max(len(buffer[2]) + len(fresh) - len(free), len(buffer[2]) * 3 // 2)
                free = np.r_[free, np.arange(len(buffer[2]), size)]
                buffer = tuple(_grown(array, size) for array in buffer)
            slot[fresh], free = free[: len(fresh)], free[len(fresh) :]
            into = (*buffer, slot[fresh], self.lead[fresh], self.start[fresh], self.count[fresh])  # runs: no test a day
            compress(self.x, self.positions, self.renumber, self.used[fresh], self.valid, into)
            entries = class_entries(classes.ptr, np.unique(np.r_[ca[runs[r] : runs[r + 1]], cb[runs[r] : runs[r + 1]]]))
            at[entries] = slot[classes.rows[entries]]
            yield (*buffer, at)
            entries = class_entries(classes.ptr, np.sort(by_last[closes[r] : closes[r + 1]]))
            rows = classes.rows[entries[pack[entries]]]
            np.subtract.at(live, rows, 1)
            done = np.unique(rows[live[rows] == 0])
            free, slot[done] = np.r_[slot[done], free], -1


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


def _window_classes_of(
    windows: np.ndarray | RowPositions, used: np.ndarray, seen: list | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_window_classes` of the rows ``used`` of ``windows`` (P, L): an array, or the rows of one table
    (:class:`~eventstudy.inference.row_positions.RowPositions`), whose rows at one offset are one window: then only
    the distinct offsets' rows are read (the same codes: each offset in order of its first row, and so each window).
    ``seen``: (shifted offsets, inverse, first) of the windows read before, appended to; a window whose offsets are
    one of theirs plus a constant (other days of the same rows' calendar) has its distinct offsets, not hashed again."""
    if not isinstance(windows, RowPositions):
        return _window_classes(np.asarray(windows)[used])
    offsets = windows.offset[used]
    shifted = offsets - offsets[0] if len(offsets) else offsets
    known = next(((inverse, first) for other, inverse, first in seen or [] if np.array_equal(other, shifted)), None)
    inverse, first = known or factorize_rows(offsets[:, None])  # the distinct offsets in order of their first row
    if seen is not None:
        seen.append((shifted, inverse, first))
    code, wpos = _window_classes(RowPositions(windows.table, offsets[first], windows.width).dense())
    return code[inverse], wpos


def _window_classes(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) code of each row's window positions (as a set) and (W, L) each distinct window's positions, sorted (-1
    for no date, which sorts first)."""
    if not (windows[:, 1:] >= windows[:, :-1]).all():
        windows = np.sort(windows, axis=1)
    code, first = factorize_rows(windows)
    return code, windows[first]


class _Classes:
    """Window classes (group, window dates) and their cells (members with one pattern of available dates).

    Entries are sorted by (group, window, pattern, pair): ``rows[ptr[c]:ptr[c + 1]]`` are class c's members,
    ``rows[cell_ptr[k]:cell_ptr[k + 1]]`` cell k's, and class c's cells are ``cells[c]:cells[c + 1]``.
    """

    def __init__(self, group: np.ndarray, row: np.ndarray, window: np.ndarray, pattern: np.ndarray):
        order = np.lexsort((row, pattern[row], window[row], group))
        group, self.rows = group[order], row[order]
        win, pat = window[self.rows], pattern[self.rows]
        new_class = np.r_[True, (group[1:] != group[:-1]) | (win[1:] != win[:-1])]
        new_cell = new_class | np.r_[True, pat[1:] != pat[:-1]]
        self.ptr = np.r_[np.flatnonzero(new_class), len(order)]
        self.cell_ptr = np.r_[np.flatnonzero(new_cell), len(order)]
        self.cells = np.r_[np.cumsum(new_cell)[self.ptr[:-1]] - 1, len(self.cell_ptr) - 1]
        self.group, self.window = group[new_class], win[new_class]


def _overlapping_classes(wpos: np.ndarray, group: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pairs of classes (a <= b) of one group that share a date, their weight |W_a & W_b| / sqrt(L2_a L2_b), and
    each class's rank by (group, window start) (classes without a date last)."""
    valid = wpos >= 0
    size = valid.sum(axis=1)
    span = int(wpos.max(initial=0)) + 1
    start = group * span + np.where(valid, wpos, span).min(axis=1)[window]
    end = group * span + wpos.max(axis=1)[window]
    order = np.flatnonzero(size[window] > 0)
    order = order[np.argsort(start[order], kind="stable")]
    hi = np.searchsorted(start[order], end[order], side="right")
    reach = hi - np.arange(len(order))  # classes from this one on that start before it ends (itself included)
    first = np.repeat(np.arange(len(order)), reach)
    second = first + np.arange(reach.sum()) - np.repeat(np.cumsum(reach) - reach, reach)
    a, b = order[first], order[second]
    shared = shared_days(wpos, window[a], window[b])
    keep = shared > 0
    a, b = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    rank = np.full(len(window), len(window), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return a, b, shared[keep] / np.sqrt(size[window[a]] * size[window[b]]), rank


def _class_pair_sums(rows: _Rows, classes: _Classes, ca, cb, min_shared: int) -> np.ndarray:
    """sum of rho_ij over i in a, j in b (i < j when a = b) for every listed pair of classes, by the cheapest path.

    Per-cell sums cost about 2 (|a| cells_b + |b| cells_a + cell pairs) member-dates, the pairwise kernel
    |a| |b| pair-dates; a large pair of classes where the cells do not pay goes to the masked matrix products if
    some of its rows would have to merge dates in the kernel (dense rows are faster there than in BLAS). The pairs
    of classes are taken in runs whose members fit ``ROWS_PER_BATCH``, each run's members packed for it.
    """
    n, cells = np.diff(classes.ptr), np.diff(classes.cells)
    same = ca == cb
    pairs = np.where(same, n[ca] * (n[ca] - 1) // 2, n[ca] * n[cb])
    cell_pairs = np.where(same, cells[ca] * (cells[ca] + 1) // 2, cells[ca] * cells[cb])
    by_cells = 2 * (n[ca] * cells[cb] + n[cb] * cells[ca] + cell_pairs) <= pairs
    wide = rows.span[classes.rows] >= rows.width
    sparse = np.add.reduceat(wide, classes.ptr[:-1]) > 0 if len(wide) else np.zeros(0, bool)
    by_blas = ~by_cells & (pairs >= CELL_MIN_PAIRS) & (sparse[ca] | sparse[cb])
    partial = np.zeros(len(ca))
    k = np.flatnonzero(by_cells)
    count = cells[ca[k]] * cells[cb[k]]
    item = np.repeat(np.arange(len(k)), count)
    step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    p = classes.cells[ca[k]][item] + step // cells[cb[k]][item]
    q = classes.cells[cb[k]][item] + step % cells[cb[k]][item]
    keep = ~same[k][item] | (q >= p)
    item, p, q = item[keep], p[keep], q[keep]
    sums = np.zeros(len(item))
    runs = batch_bounds(ca[k], cb[k], n, ROWS_PER_BATCH)
    numbering = np.full(len(classes.rows), -1, dtype=np.int64)  # each batch numbers its classes' entries in place
    cells = (classes.cell_ptr, *cell_runs(classes.cell_ptr, rows.start[classes.rows], rows.count[classes.rows]))
    merged = (cells[1][p] < 0) | (cells[1][q] < 0)  # pairs of cells not both runs: their rows packed
    pack = np.zeros(len(classes.rows), dtype=bool)
    pack[class_entries(classes.cell_ptr, np.unique(np.r_[p[merged], q[merged]]))] = True
    packed = rows.runs_of_classes(classes, ca[k], cb[k], runs, numbering, pack)
    source = (rows.source, rows.used[classes.rows], rows.lead[classes.rows])
    for (lo, hi), buffer in zip(_runs(np.searchsorted(item, runs)), packed, strict=True):
        sums[lo:hi] = _cell_sums(buffer, source, cells, p[lo:hi], q[lo:hi], min_shared)
    partial[k] = np.bincount(item, weights=sums, minlength=len(k))
    for k in np.flatnonzero(by_blas):
        a, b = (classes.rows[classes.ptr[c] : classes.ptr[c + 1]] for c in (ca[k], cb[k]))
        needed, at = np.unique(np.r_[a, b], return_inverse=True)
        partial[k] = _moment_sum(*rows.pack(needed), at[: len(a)], at[len(a) :], same[k], min_shared)
    rest = np.flatnonzero(~by_cells & ~by_blas)
    for lo, hi in _runs(batch_bounds(ca[rest], cb[rest], n, ROWS_PER_BATCH)):
        a, b = ca[rest[lo:hi]], cb[rest[lo:hi]]
        xv, pv, cnt, at = rows.of_classes(classes, np.r_[a, b], numbering)
        partial[rest[lo:hi]] = _kernel_sum(xv, pv, cnt, classes.ptr, at, a, b, min_shared)
    return partial


def _runs(bounds: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _moment_sum(xv, pv, cnt, a, b, same: bool, min_shared: int) -> float:
    """Sum of pairwise-complete rho_ij over i in a, j in b (i < j when one class) from masked matrix products.

    On the union of the members' dates, with M the availability masks and X the residuals (0 where missing):
    n = M_a M_b', S_x = X_a M_b', S_y = M_a X_b', S_xx = X_a^2 M_b', S_yy = M_a X_b^2', S_xy = X_a X_b', and
    rho_ij = (S_xy - S_x S_y / n) / sqrt((S_xx - S_x^2 / n)(S_yy - S_y^2 / n)): the same sums the kernel takes,
    by BLAS, in row blocks that bound memory. For many pairs with scattered gaps.
    """
    rows = np.r_[a, b]
    grid = np.unique(pv[rows][np.arange(pv.shape[1]) < cnt[rows][:, None]])
    xa, ma = _on_grid(xv, pv, cnt, a, grid)
    xb, mb = (xa, ma) if same else _on_grid(xv, pv, cnt, b, grid)
    xb2 = xb * xb
    total = 0.0
    step = max(1, 2_000_000 // len(b))
    for lo in range(0, len(a), step):
        xs, ms = xa[lo : lo + step], ma[lo : lo + step]
        n = ms @ mb.T
        sx, sy = xs @ mb.T, ms @ xb.T
        sxx, syy = (xs * xs) @ mb.T, ms @ xb2.T
        with np.errstate(divide="ignore", invalid="ignore"):
            vx, vy = sxx - sx * sx / n, syy - sy * sy / n
            rho = (xs @ xb.T - sx * sy / n) / np.sqrt(vx * vy)
        use = (n >= max(min_shared, 1)) & (vx > 1e-12 * sxx) & (vy > 1e-12 * syy)
        if same:
            use &= np.arange(lo, lo + len(xs))[:, None] < np.arange(len(b))[None, :]
        total += rho[use].sum()
    return float(total)


def _on_grid(xv, pv, cnt, rows, grid) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.nonzero(np.arange(pv.shape[1]) < cnt[rows][:, None])
    pos = np.searchsorted(grid, pv[rows[r], c])
    values, mask = np.zeros((len(rows), len(grid))), np.zeros((len(rows), len(grid)))
    values[r, pos], mask[r, pos] = xv[rows[r], c], 1.0
    return values, mask
