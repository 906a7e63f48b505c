"""rbar's rows read in one pass where their available dates are a run (:mod:`eventstudy.inference.correlation_packing`):
the patterns (codes, spans, keys, leads) and the packed rows equal a day-by-day reading written out here, on rows
that are runs, runs cut short at either end, a gap in their values, in their mask or in their dates, a day without
a date between consecutive dates, a repeated date, a date another row has, or no value at all; serially and in
parallel chunks."""

from __future__ import annotations

import numpy as np
import pytest

from eventstudy.inference import correlation_packing as ck
from eventstudy.inference import threads
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.rows import factorize_rows


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, positions, valid): 12 days; rows of every kind, repeated with the others' dates shifted."""
    d = 12
    base = np.arange(d, dtype=np.int32)
    kinds = []  # (positions, values, valid)
    ones, full = np.ones(d), np.ones(d, bool)
    rng = np.random.default_rng(3)

    def values():
        return rng.normal(size=d)

    kinds.append((base, values(), full))  # a run
    x = values()
    x[:2], x[-1] = np.nan, np.nan
    kinds.append((base, x, full))  # a run cut short at both ends
    x = values()
    x[5] = np.nan
    kinds.append((base, x, full))  # a gap in the values
    mask = full.copy()
    mask[7] = False
    kinds.append((base, values(), mask))  # a gap in the mask
    mask = full.copy()
    mask[0] = mask[-3:] = False
    kinds.append((base, values(), mask))  # the mask cuts a run short
    p = base.copy()
    p[6:] += 1  # date 6 skipped (other rows have it): not a run
    kinds.append((p, values(), full))
    p = np.r_[base[:4], -1, base[4:-1]].astype(np.int32)  # a day without a date between dates 3 and 4: a run
    kinds.append((p, values(), full))
    p = np.r_[base[:1], base[:-1]].astype(np.int32)  # date 0 twice: its span and count are a run's, not its dates
    kinds.append((p, values(), full))
    kinds.append((np.full(d, -1, np.int32), values(), full))  # no date
    kinds.append((base, np.full(d, np.nan), full))  # no value
    p = np.r_[np.full(3, -1), base[:-3]].astype(np.int32)  # the first days without dates
    kinds.append((p, values(), full))
    x = values()
    x[3] = np.inf
    kinds.append((base, x, full))  # an infinite value is no value
    rows = [(p + shift * (p >= 0), x, m) for shift in (0, 2, 9) for p, x, m in kinds]
    positions, x, valid = (np.array([r[k] for r in rows]) for k in range(3))
    return x, positions.astype(np.int32), valid


def _by_day(x, positions, renumber, rows, valid):
    """Each row's available days, their renumbered dates, and its values moved and centred, one day at a time."""
    out = []
    for i in rows:
        days = [t for t in range(x.shape[1]) if positions[i, t] >= 0 and np.isfinite(x[i, t])]
        days = [t for t in days if valid is None or valid[i, t]]
        dates = [int(renumber[positions[i, t]]) for t in days]
        total = 0.0
        for t in days:
            total += x[i, t]
        out.append((days, dates, [x[i, t] - total / len(days) for t in days]))
    return out


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("as_table", [False, True])
def test_patterns_and_packed_rows_are_the_day_by_day_reading(monkeypatch, parallel, masked, as_table):
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    x, dense, valid = _rows()
    valid = valid if masked else None
    positions = RowPositions.of(dense) if as_table else dense
    rows = np.r_[np.arange(0, len(x), 2), np.arange(1, len(x), 2)]  # out of order
    renumber = ck.renumbering(positions, rows)
    codes, span, keys, lead = ck.patterns(x, positions, renumber, rows, valid)
    want = _by_day(x, dense, renumber, rows, valid)
    runs = []
    for r, (days, dates, _) in enumerate(want):
        k = len(days)
        assert span[r] == (dates[-1] - dates[0] if k else 0)
        assert lead[r] == (days[0] if k and days[-1] - days[0] == k - 1 else -1)
        run = k == 0 or all(b == a + 1 for a, b in zip(dates[:-1], dates[1:], strict=True))
        runs.append(run)
        if run:
            assert keys[r] == ck.RUN + (np.uint64(dates[0] if k else 0) << np.uint64(32)) + np.uint64(k)
        else:
            assert keys[r] < ck.RUN
    runs = np.array(runs)
    assert runs.any() and (~runs).any() and (lead >= 0).any() and ((lead < 0) & runs).any()
    padded = np.array([dates + [-1] * (x.shape[1] - len(dates)) for _, dates, _ in want])
    assert np.array_equal(codes, factorize_rows(padded)[0])
    start, count = ck.runs_of_keys(keys)
    n, d = len(rows), x.shape[1]
    for out in (None, (np.full((n, d), 7.0), np.full((n, d), 7, np.int32), np.zeros(n, np.int64), np.arange(n)[::-1])):
        if out is not None:
            out = (*out, lead, start, count)  # the rows' runs: moved without a test a day
        xv, pv, cnt = ck.compress(x, positions, renumber, rows, valid, out)
        slots = np.arange(n) if out is None else out[3]
        for r, (days, dates, centred) in enumerate(want):
            s, k = slots[r], len(days)
            assert cnt[s] == k and pv[s, :k].tolist() == dates and (pv[s, k:] == -1).all()
            assert xv[s, :k].tobytes() == np.array(centred).tobytes() and (xv[s, k:] == 0).all()
