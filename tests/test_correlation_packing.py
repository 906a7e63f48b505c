"""rbar's rows read in one pass where their available dates are a run (:mod:`eventstudy.inference.correlation_packing`):
the patterns (codes, spans, keys, leads) and the packed rows equal a day-by-day reading written out here, on rows
that are runs, runs cut short at either end, a gap in their values, in their mask or in their dates, a day without
a date between consecutive dates, a repeated date, a date another row has, or no value at all; serially and in
parallel chunks. Regenerated rows known to be finite inside their grid block are not computed for their patterns:
exactly those whose returns there are finite and whose values cannot overflow."""

from __future__ import annotations

import numpy as np
import pytest

from eventstudy.inference import correlation_packing as ck
from eventstudy.inference import threads
from eventstudy.inference.ar_rows import MARKET_ROW, NAN_ROW, finite_inside, market_rows
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.rows import factorize_rows


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, positions, valid): 12 days; rows of every kind, repeated with the others' dates shifted."""
    d = 12
    base = np.arange(d, dtype=np.int32)
    kinds = []  # (positions, values, valid)
    full = np.ones(d, bool)
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


def _regenerated_rows():
    """Rows regenerated from a small grid (and a NaN row, a stored row): blocks cut at either end or empty, a missing
    or infinite return or market return inside a block or outside it, a NaN alpha, and betas for which one market
    return of 1e200 overflows (inside the block) or makes the bound unknown (outside it), beside plain rows."""
    rng = np.random.default_rng(9)
    width, sessions = 16, 60
    returns = rng.normal(0, 0.02, (3, sessions))
    market = rng.normal(0, 0.01, sessions)
    returns[0, 20], returns[1, 5] = np.nan, np.inf
    market[40], market[50] = np.nan, 1e200
    #          start column lo  hi  alpha  beta    (sessions [start, start + width) of the row)
    spec = [
        (0, 2, 0, 60, 0.001, 1.2),  # plain
        (10, 0, 0, 60, 0.0, 0.8),  # returns[0, 20] missing inside
        (22, 0, 0, 60, 0.0, 0.8),  # plain, the missing return before it
        (0, 1, 0, 60, 0.0, 0.5),  # returns[1, 5] infinite inside
        (0, 1, 8, 60, 0.0, 0.5),  # its block starts after it: plain, the first days NaN
        (20, 2, 0, 30, 0.0, 1.0),  # the block ends inside the row
        (30, 2, 0, 30, 0.0, 1.0),  # an empty block: every value NaN
        (30, 2, 0, 60, 0.0, 1.0),  # the missing market return inside
        (2, 2, 0, 60, np.nan, 1.0),  # a NaN alpha
        (42, 2, 0, 60, 0.0, 1e200),  # 1e200 * 1e200: infinite inside
        (0, 2, 0, 60, 0.0, 1e200),  # finite values, but the bound is infinite: computed
        (44, 2, 0, 60, 0.0, 0.0),  # beta 0: the market's 1e200 adds 0
        (5, 0, 0, 60, 0.0, 0.8),  # returns[0, 20] missing on the last session
        (5, 1, 0, 60, 0.0, 0.5),  # returns[1, 5] infinite on the first session
        (25, 2, 0, 60, 0.0, 1.0),  # the market's missing return on the last session
    ]
    start, column, lo, hi, alpha, beta = (np.array([r[k] for r in spec]) for k in range(6))
    slot = np.r_[np.full(len(spec), MARKET_ROW), NAN_ROW, 0]
    pad = np.zeros(2, dtype=np.int64)
    stored = rng.normal(size=(1, width))
    stored[0, 3] = np.nan
    params = np.c_[np.r_[alpha, 0, 0], np.r_[beta, 0, 0]]
    ints = (np.r_[v, pad].astype(np.int64) for v in (start, column, lo, hi))
    return market_rows(stored, slot, width, returns, market, *ints, params)


@pytest.mark.parametrize("parallel", [False, True])
def test_regenerated_rows_known_finite_inside_their_block_take_the_patterns_of_their_values(monkeypatch, parallel):
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    rows = _regenerated_rows()
    values = rows.dense()
    index = np.arange(len(rows))[::-1]
    known = finite_inside(rows, index)[::-1]
    assert "".join("01"[int(k)] for k in known) == "10101110000100000"  # the rows of _regenerated_rows, in order
    inside = (rows.start[:, None] + np.arange(rows.width)[None, :] >= rows.lo[:, None]) & (
        rows.start[:, None] + np.arange(rows.width)[None, :] < rows.hi[:, None]
    )
    assert np.array_equal(np.isfinite(values[known]), inside[known])  # what "known" promises
    assert not np.isfinite(values[:15][~known[:15]]).all()  # and the regenerated rows it refuses but one have gaps
    positions = np.tile(np.arange(rows.width, dtype=np.int32), (len(rows), 1)) + rows.start[:, None].astype(np.int32)
    positions[4, 2] = -1  # a day without a date
    mask = np.random.default_rng(2).random(values.shape) > 0.05
    mask[:, 7] = True
    for valid in (None, mask, np.asfortranarray(mask)):
        renumber = ck.renumbering(positions, index)
        got = ck.patterns(rows, positions, renumber, index, valid)
        for a, b in zip(got, ck.patterns(values, positions, renumber, index, valid), strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert (got[3] >= 0).any() and (got[3] < 0).any()
