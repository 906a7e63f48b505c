"""Corrado's and GRANK's day sums of U for every event window in one walk of each pair's ranked row.

Both tests rank a pair's event-window values (Corrado: its window ARs; GRANK: its group's GSAR) among the pair's
sorted estimation values (:class:`~eventstudy.engine.ranking.RankedRows`). The estimation values' own average
ranks r (and their ties) are the same for every window; a window only shifts each by its rise (1 per window value
below it, 1/2 per equal one) and sets the denominator. So each pair's ranks are read off its sorted row once
(:func:`~eventstudy.engine.ranking.column_ranks`), each of its window days' values is placed among them in the same
pass (windows share days), and every window's U row follows in loops over the days that
the compiler vectorises. Each (window, group, day) sum adds its pairs' U in pair order, as a walk of one window at a
time does: the sums do not depend on how many windows are taken together. Both tests are one walk
(:func:`rank_walk`): a pair's row is read once, and where its SARs (AR / sigma_i) are ranked in its ARs' order with
the same ties, GRANK's ranks are Corrado's, read in the same pass. (Compiled helpers are called once per
pair or entry, never per value, and count no references (``_nrt=False``; they take whole arrays and indices, never
views): numba counts the references to a function's array arguments and to every view with atomic instructions,
which cost more than the work at 1M pairs (170 a pair: a third of the walk's time). numba's cache of a kernel does
not notice a change in a helper of another module: clear ``__pycache__/rank_sums*.nb*`` when changing
:mod:`~eventstudy.engine.ranking` while measuring.)
"""

from __future__ import annotations

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.engine.ranking import bounds, column_ranks, rank_rises, read_row_called


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 gives inf or NaN as in numpy, never an exception
def rank_walk(first, ars, sars, shared, corrado, grank):  # pragma: no cover - compiled
    """Add the pairs ``first:first + len(count)`` to Corrado's sums (``corrado``) and GRANK's (``grank``), each pair's
    row read once for both; a test with no windows adds nothing (the other test's walk alone).

    ``ars`` = (``dense``, ``est``, ``order``, ``count``): those pairs' ranked estimation ARs (rows of ``dense``, or
    of ``est`` (an :meth:`~eventstudy.inference.ar_rows.ArRows.source`) where it is empty:
    :func:`~eventstudy.engine.ranking.read_row`); ``sars`` = (``dense``, ``est``, ``scale``, ``scaled``, ``order``,
    ``count``): their ranked SARs (divided by ``scale`` if ``scaled``); ``shared`` (B,): the rows whose SARs are
    ranked in the ARs' order (the same valid values). Where a pair's SARs share its ARs' order and no two unequal ARs
    have equal SARs (:func:`~eventstudy.engine.ranking.rank_rises` with ``q``), GRANK takes the ARs' average ranks
    from Corrado's pass (the same numbers: the SARs' ties are the ARs'); other pairs' SARs are ranked anew.

    ``corrado`` = (``ar``, ``days``, ``index``, ``offsets``, ``fields``, ``pairs``, ``groups``, ``starts``, ``e``,
    ``sums``, ``counts``, ``row``, ``n_used``, ``full``): the window days' values are ``ar[:, days]`` (non-finite
    ones missing) and window w's are ``days[index[a:b]]`` (a, b = ``offsets[w]``, ``offsets[w + 1]``), its
    twice-rises packed in a bit field of ``fields`` bits (see below); its membership entries (pair ``pairs[e]`` in
    group ``groups[e]``) are ``starts[w]:starts[w + 1]``, sorted by pair, ``e[w]`` (W,) the next one (advanced
    here). The sums of U over each (window, group)'s pairs present on each day (W, R, L1 + max L2: group g's in
    row ``row[w, g]``, window w's days after the L1 estimation days), their numbers (the same shape, int32: half
    the bytes of float counts), the pairs used and the entries whose estimation days are all valid (W, G: not in
    ``counts``) are added to in place, so that blocks of pairs taken in turn add each sum's terms in pair order, as
    one walk does.

    U of a value = (values below it + (values equal to it, itself included, + 1) / 2) / (1 + m + q) - 1/2 among
    the pair's m valid estimation values and q valid window values (Corrado 1989; the average rank of
    ``scipy.stats.rankdata`` over the pair's sample). The pair's sorted window values are merged into its sorted
    row in the pass that reads its ranks (:func:`~eventstudy.engine.ranking.rank_rises`): each window value's
    neighbours among the estimation values (lo below it, hi up to it), and each estimation value's twice-rise: its
    rank r among its own rises by 1 per window value below it and 1/2 per equal one, i.e. by 1/2 per window value
    below it plus 1/2 per one up to it, a running count along the sorted row. Every window's twice-rises are counted
    in one pass a word: each window has a bit field of ``fields`` bits in an int64 (64 // ``fields`` windows a word;
    its field never reaches the sign bit, as twice a rise is at most twice the window's days), a window value adds 1
    to the fields of the windows it is in. A window value's own U adds the window's values below it and equal to it
    to its lo and hi - lo, read off the window's values in ascending order (runs of equal ones).

    ``grank`` = (``gsar``, ``pairs``, ``groups``, ``starts``, ``e``, ``sums``, ``counts``, ``row``, ``cum``,
    ``full``, ``most``): window w's entries (pair ``pairs[e]`` in group ``groups[e]``, its GSAR ``gsar[e]``, NaN:
    left out; ``most`` a pair's entries at most) are ``starts[w]:starts[w + 1]``, sorted by pair, ``e[w]`` the next
    one (advanced here). The sums and counts (W, R, L1: group g's in row ``row[w, g]``; int32 counts), the
    cumulative day's sums (W, G) and the entries whose SARs are all valid (W, G: not in ``counts``, whose days they
    all add 1 to) are added to in place. The GSAR is ranked among the pair's m SARs (lo
    below it, hi up to it): U = (lo + (hi - lo + 2) / 2) / (m + 2) - 1/2; an SAR of rank r among its own rises by 1
    if r > hi and by 1/2 if lo < r <= hi (Kolari & Pynnönen 2011). Its U without the rise and with a rise of 1 are
    the same for every entry of the pair: computed once; the pair's GSARs are placed among its SARs together
    (:func:`~eventstudy.engine.ranking.bounds`).
    """
    dense, est, order, count = ars
    s_dense, s_est, scale, scaled, s_order, s_count = sars
    ar, days, index, offsets, fields, pairs, groups, starts, e, sums, counts, c_row, n_used, c_full = corrado
    gsar, g_pairs, g_groups, g_starts, g_e, g_sums, g_counts, g_row, cum, full, most = grank
    n_windows, g_windows = len(offsets) - 1, len(g_starts) - 1
    l1 = est[3]
    u = np.empty(sums.shape[2])
    row = np.empty(l1)  # the pair's estimation ARs
    q = np.empty(l1)  # ... and SARs
    no_scale = np.empty(0)
    rank = np.empty(l1)  # the ARs' average ranks (then the SARs')
    found_x = np.empty(most)  # a pair's GSARs ...
    found_w, found_g = np.empty(most, np.int64), np.empty(most, np.int64)  # ... their windows and groups ...
    found_lo, found_hi = np.empty(most, np.int64), np.empty(most, np.int64)  # ... and SARs below and up to them
    below = np.empty(l1)  # GRANK's U of each SAR when the GSAR is above it (no rise) ...
    above = np.empty(l1)  # ... and when below it (a rise of 1)
    per_word = 64 // fields
    n_words = (n_windows + per_word - 1) // per_word
    one = np.zeros((n_words, len(days)), np.int64)  # a window day's 1 in the fields of the windows it is in
    place = np.full((n_windows, len(days)), -1, np.int64)  # a day's column in each window (-1: not in it)
    for w in range(n_windows):
        for j in range(offsets[w], offsets[w + 1]):
            one[w // per_word, index[j]] |= np.int64(1) << np.int64(fields * (w % per_word))
            place[w, index[j]] = j - offsets[w]
    rise2 = np.empty((n_words, l1), np.int64)  # every window's twice-rise of each estimation day, packed
    lo = np.zeros(len(days), np.int64)
    hi = np.zeros(len(days), np.int64)
    sorted_values = np.empty(len(days))
    sorted_days = np.empty(len(days), np.int64)
    own = np.empty(len(days), np.int64)  # a window's valid days, as positions in sorted_days
    valid_values = np.empty(len(days))  # the pair's valid window values in day order ...
    valid_days = np.empty(len(days), np.int64)  # ... their days ...
    spot = np.empty(len(days), np.int64)  # ... and places in ascending order
    for b in range(len(count)):
        i = first + b
        m = count[b]
        ranked = False
        apart = False  # the ARs' ranks are the SARs'
        for w in range(n_windows):
            if e[w] == starts[w + 1] or pairs[e[w]] != i:
                continue
            if not ranked:
                read_row_called(dense, est, no_scale, False, b, row)
                check = shared[b] and _has_entry(g_pairs, g_starts, g_e, i)
                if check:
                    read_row_called(s_dense, s_est, scale, scaled, b, q)
                n_valid = 0
                for d in range(len(days)):  # the valid days (no branch: a mispredicted one costs more than a day)
                    v = ar[i, days[d]]
                    valid_values[n_valid] = v
                    valid_days[n_valid] = d
                    n_valid += np.isfinite(v)
                _sort_days(valid_values, valid_days, n_valid, sorted_values, sorted_days, spot)
                for word in range(n_words):
                    if check and word == 0:
                        apart = rank_rises(
                            row, order, b, m, rank, sorted_values, n_valid, sorted_days, one, word, lo, hi, rise2, q
                        )
                    else:
                        rank_rises(
                            row, order, b, m, rank, sorted_values, n_valid, sorted_days, one, word, lo, hi, rise2
                        )
                apart &= check
                ranked = True
            q_w = 0
            for k in range(n_valid):  # (no branch)
                own[q_w] = k
                q_w += place[w, sorted_days[k]] >= 0
            denom = 1.0 + m + q_w
            width = offsets[w + 1] - offsets[w]
            for t in range(l1, l1 + width):  # (a slice would be a view: an atomic count of references)
                u[t] = np.nan
            a = 0
            for k in range(1, q_w + 1):  # the window's values in ascending order: [a, k) a run of equal ones
                if k < q_w and sorted_values[own[k]] == sorted_values[own[a]]:
                    continue
                for t in range(a, k):
                    d = sorted_days[own[t]]
                    less = lo[d] + a
                    equal = hi[d] - lo[d] + (k - a)
                    u[l1 + place[w, d]] = (less + (equal + 1) / 2.0) / denom - 0.5
                a = k
            at = np.int64(fields * (w % per_word))
            more = e[w] + 1 < starts[w + 1] and pairs[e[w] + 1] == i  # the pair in more than one group
            g = groups[e[w]]
            r = c_row[w, g]
            _add_first(sums, counts, w, r, rank, rise2, w // per_word, at, fields, denom, u, more, m < l1)
            _add_corrado(sums, counts, w, r, u, rank, width, l1, m < l1)
            n_used[w, g] += q_w > 0
            c_full[w, g] += m == l1
            e[w] += 1
            while e[w] < starts[w + 1] and pairs[e[w]] == i:
                g = groups[e[w]]
                n_used[w, g] += q_w > 0
                c_full[w, g] += m == l1
                _add_corrado(sums, counts, w, c_row[w, g], u, rank, width, 0, m < l1)
                e[w] += 1
        m = s_count[b]
        g_denom = m + 2.0
        n_found = 0  # the pair's entries with a GSAR, in window order
        for w in range(g_windows):
            while g_e[w] < g_starts[w + 1] and g_pairs[g_e[w]] == i:
                x = gsar[g_e[w]]
                found_w[n_found] = w
                found_g[n_found] = g_groups[g_e[w]]
                found_x[n_found] = x
                n_found += x == x
                g_e[w] += 1
        if n_found == 0:
            continue
        if not apart:  # (q read where apart)
            read_row_called(s_dense, s_est, scale, scaled, b, q)
            column_ranks(q, s_order, b, m, rank)  # (Corrado is done with the pair's ranks)
        for c in range(l1):
            below[c] = (rank[c] + 0.0) / g_denom - 0.5
            above[c] = (rank[c] + 1.0) / g_denom - 0.5
        bounds(q, s_order, b, m, found_x, n_found, found_lo, found_hi)
        for k in range(n_found):
            w, g, g_lo, g_hi = found_w[k], found_g[k], found_lo[k], found_hi[k]
            cum[w, g] += (g_lo + (g_hi - g_lo + 2) / 2.0) / g_denom - 0.5
            full[w, g] += m == l1
            _add_grank(g_sums, g_counts, w, g_row[w, g], rank, below, above, g_lo, g_hi, g_denom, m < l1)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _sort_days(values, days, n, sorted_values, sorted_days, spot):  # pragma: no cover - compiled
    """The ``n`` values (none NaN) and their days into ``sorted_values`` and ``sorted_days`` in ascending order of
    the values, equal ones in their order here (stable): each one's place is the number of values below it plus the
    equal ones before it, counted in loops without branches that the compiler vectorises (a few values: cheaper
    than an insertion sort's mispredicted branches)."""
    for j in range(n):
        spot[j] = 0
    for t in range(n):
        v = values[t]
        for j in range(n):
            spot[j] += (v < values[j]) | ((v == values[j]) & (t < j))
    for j in range(n):
        sorted_values[spot[j]] = values[j]
        sorted_days[spot[j]] = days[j]


@numba.njit(cache=True, nogil=True, _nrt=False)
def _has_entry(pairs, starts, e, i):  # pragma: no cover - compiled
    """Whether pair ``i`` has a next membership entry in any window (``e[w]`` each window's next one)."""
    for w in range(len(starts) - 1):
        if e[w] < starts[w + 1] and pairs[e[w]] == i:
            return True
    return False


@numba.njit(cache=True, nogil=True, _nrt=False)
def _add_first(
    sums, counts, w, g, rank, packed, word, at, fields, denom, u, keep, count
):  # pragma: no cover - compiled
    """Add the estimation days' U of a pair's first entry in window ``w`` to its group's row ``g`` (its rank
    ``rank`` risen by the window's field, at bit ``at``, of the packed twice-rises ``packed[word]``; 0.0 where
    ``rank`` is 0: missing), kept in ``u`` for its other entries if ``keep``, and if ``count`` its valid days to
    ``counts``. (The helpers take whole arrays and indices: a view made per call would count references
    atomically.)"""
    mask = (np.int64(1) << np.int64(fields)) - 1
    for c in range(len(rank)):
        x = (rank[c] + 0.5 * ((packed[word, c] >> at) & mask)) / denom - 0.5
        x = x if rank[c] > 0.0 else 0.0  # adding 0.0 leaves a sum as it is (the sums are never -0.0)
        sums[w, g, c] += x
        if keep:
            u[c] = x
    if count:
        _count_days(counts, w, g, rank, 0)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _add_corrado(sums, counts, w, g, u, rank, l2, start, count):  # pragma: no cover - compiled
    """Add a U row to window ``w``'s row ``g`` (a group's) from column ``start`` on (0 or L1): the estimation days'
    (0.0 where ``rank`` is 0: missing; their valid days to ``counts`` if ``count``) then the ``l2`` window days'
    (NaN: missing)."""
    l1 = len(rank)
    for c in range(start, l1):
        sums[w, g, c] += u[c]
    if count:
        _count_days(counts, w, g, rank, start)
    for c in range(l1, l1 + l2):
        x = u[c]
        if x == x:
            sums[w, g, c] += x
            counts[w, g, c] += 1


@numba.njit(cache=True, nogil=True, _nrt=False)
def _count_days(counts, w, g, rank, start):  # pragma: no cover - compiled
    """Add 1 to ``counts[w, g]`` on each valid estimation day (``rank`` > 0) from ``start`` on: only for rows with a
    missing day; a row valid on every day counts once in its window's and group's ``full`` instead (exact integers:
    the same sums in any order)."""
    for c in range(start, len(rank)):
        counts[w, g, c] += 1 if rank[c] > 0.0 else 0


@numba.njit(cache=True, nogil=True, _nrt=False)
def _add_grank(sums, counts, w, g, rank, below, above, lo, hi, denom, count):  # pragma: no cover - compiled
    """Add one entry's U of the estimation SARs to window ``w``'s row ``g`` (its group's; its GSAR with lo SARs
    below and hi up to it; rank 0: missing), and if ``count`` its valid days to ``counts``."""
    if lo == hi:  # no SAR equal to the GSAR
        for c in range(len(rank)):
            r, up, down = rank[c], above[c], below[c]  # both read, then one chosen: the loop is vectorised
            x = up if r > hi else down
            sums[w, g, c] += x if r > 0.0 else 0.0
    else:
        for c in range(len(rank)):
            r, up, down = rank[c], above[c], below[c]
            x = up if r > hi else ((r + 0.5) / denom - 0.5 if r > lo else down)
            sums[w, g, c] += x if r > 0.0 else 0.0
    if count:
        _count_days(counts, w, g, rank, 0)
