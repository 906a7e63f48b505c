"""The group tests that need calendar dates or the model's regressors: calendar-time portfolio, Binder, BHAR.

For one group of pairs and one event window, hands the pair stage's arrays to the inference layer:

* ``calendar_time_z`` and ``calendar_time_nw``: the calendar-time portfolio (Jaffe 1974; Mandelker 1974), see
  :mod:`eventstudy.inference.calendar_time`;
* ``binder_wald`` and ``binder_caar_z``: Binder's (1985) SUR with event-day dummies, see
  :mod:`eventstudy.inference.binder`. Computed only when the group's pairs share one day 0 on one venue, are
  distinct tickers and use one model (then every equation has the same regressors); otherwise n/a (NaN). The
  system is estimated on the estimation days where every ticker has a clean return and on the window days where
  every ticker trades (one-session returns only: a trade-to-trade return after a gap leaves that day out);
* ``bhar_skew_t``: Lyon, Barber & Tsai's (1999) skewness-adjusted t of the mean BHAR;
* ``wild_bootstrap``: the wild cluster bootstrap of the CAAR, Rademacher weights shared by the pairs of one
  calendar date (:mod:`eventstudy.inference.bootstrap`), with the study's ``bootstrap_draws`` and ``seed``.

:func:`group_battery_groups` computes them for every group of a :class:`~eventstudy.inference.groups.Groups` at
once (one set of calendar-time portfolios shared by the calendar-time tests and the bootstrap; the Binder systems
of the groups that qualify solved in batches of equal size); :func:`group_battery` is its one-group case.
"""

from __future__ import annotations

from dataclasses import fields

import numba
import numpy as np
import pandas as pd

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.bhar import bhar_skew_t_groups
from eventstudy.inference.binder import BinderEstimation, binder_window, masked_estimation
from eventstudy.inference.bootstrap import bootstrap_p
from eventstudy.inference.calendar_time import (
    Portfolios,
    calendar_positions,
    newey_west_t,
    pairs_with_returns,
    portfolios,
    standardized_z_of,
)
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.portfolio_sd import estimation_sd, estimation_sd_windows
from eventstudy.inference.result import TestResult
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.threads import in_background

GROUP_TEST_NAMES = (
    "calendar_time_z",
    "calendar_time_nw",
    "binder_wald",
    "binder_caar_z",
    "bhar_skew_t",
    "wild_bootstrap",
)
_LATER = object()  # group_battery_groups' binder: the caller adds Binder's tests
BATCH_CELLS = 1 << 22  # (systems x tickers x days x regressors) cells per Binder batch, to bound memory


def group_battery_groups(
    stage,
    window,
    wmask: np.ndarray,
    groups: Groups,
    bootstrap: tuple[int, int] = (0, 0),
    calendar: tuple[np.ndarray, np.ndarray | RowPositions] | None = None,
    binder: tuple[GroupResult, GroupResult] | object | None = None,
    portfolio: tuple[Portfolios, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, GroupResult]:
    """The group tests of every group of ``groups`` (pairs of ``stage``) over one event window (``wmask``: (D,)
    day mask). ``bootstrap`` = (draws, seed) of the wild bootstrap (draws 0: its row is n/a). ``calendar`` =
    ``calendar_positions(stage.dates)`` (P, D) computed once for several windows, or the grid's
    :meth:`~eventstudy.engine.grid.SessionGrid.calendar_rows` (the tests depend only on the order of the positions,
    so a grid of all the stage's dates gives the same numbers as one of the groups' pairs only): the stage's arrays
    are then read in place (views, no copy of the groups' rows); without it only the groups' pairs' dates are
    gathered. ``binder`` = this window's :func:`binder_windows` computed with the other windows' (``_LATER``: left
    out, the caller adds them), ``portfolio`` its portfolios and their estimation-period (s, m) computed with the
    other windows' (:func:`group_battery_windows`; needs ``calendar``). The estimation days' ARs are read as rows
    (``stage.estimation_ar``: stored or regenerated), the window's from ``stage.event_ar``."""
    start = stage.event_start
    if calendar is None:  # the dates of the groups' pairs only, and their rows of the stage's arrays
        rows = np.flatnonzero(np.bincount(groups.pair, minlength=len(stage)))
        grid, (dense,) = calendar_positions(stage.dates[rows])
        positions, event = RowPositions.of(dense), stage.event_ar[rows]
        local = Groups(groups.group, np.searchsorted(rows, groups.pair), groups.n_groups, len(rows))
    else:
        (grid, positions), event, local = calendar, stage.event_ar, groups
        positions = RowPositions.of(positions)
    ar_win = event[:, event_columns(stage, wmask)]
    n = pairs_with_returns(ar_win, local)
    if portfolio is None:  # the estimation rows read only here (``stage.estimation_ar`` is built at each read)
        port = portfolios(ar_win, positions.columns(columns_of(wmask)), local, len(grid))
        if calendar is None:
            est_ar, estimation = stage.estimation_ar.take(rows), stage.estimation[rows, :start]
        else:  # the stage's rows and a view: no copy
            est_ar, estimation = stage.estimation_ar, stage.estimation[:, :start]
        sd = estimation_sd(port, est_ar, estimation, positions.columns(slice(0, start)))
    else:
        port, sd = portfolio
    others = {
        "calendar_time_z": standardized_z_of(port, *sd, n),
        "calendar_time_nw": newey_west_t(port, int(wmask.sum()) - 1, n),
        "bhar_skew_t": _bhar(stage, window, groups),
        "wild_bootstrap": bootstrap_p(port, n, *bootstrap),
    }
    if binder is _LATER:
        return others
    return _with_binder(others, binder_windows(stage, [wmask], [groups])[0] if binder is None else binder)


def _with_binder(others: dict[str, GroupResult], binder: tuple[GroupResult, GroupResult]) -> dict[str, GroupResult]:
    """The group tests ``others`` and Binder's two, in the order of ``GROUP_TEST_NAMES``."""
    tests = {**others, "binder_wald": binder[0], "binder_caar_z": binder[1]}
    return {name: tests[name] for name in GROUP_TEST_NAMES}


def columns_of(wmask: np.ndarray) -> slice | np.ndarray:
    """The days of the (D,) mask ``wmask`` as a slice when they are consecutive (an event window: the stage's
    arrays are then read in place), else their indices."""
    days = np.flatnonzero(wmask)
    return slice(days[0], days[-1] + 1) if len(days) and days[-1] - days[0] == len(days) - 1 else days


def event_columns(stage, wmask: np.ndarray) -> slice | np.ndarray:
    """The days of the (D,) mask ``wmask`` (an event window: after the estimation window) as columns of
    ``stage.event_ar`` (:func:`columns_of`)."""
    start = stage.event_start
    if wmask[:start].any():
        raise ValueError("an event window's days come after the estimation window's")
    return columns_of(wmask[start:])


def group_battery_windows(
    stage,
    windows: list,
    members: list[Groups],
    bootstrap: tuple[int, int],
    calendar: tuple[np.ndarray, np.ndarray | RowPositions],
) -> list[dict[str, GroupResult]]:
    """:func:`group_battery_groups` of each event window ``windows[w]`` and its groups ``members[w]``, the Binder
    systems shared by the windows (:func:`binder_windows`, on a thread of its own while this one computes the other
    tests: each test's numbers are those of one thread); ``calendar`` as for :func:`group_battery_groups`."""
    wmasks = [window_days(stage, window) for window in windows]
    binder = in_background(binder_windows, stage, wmasks, members)
    grid, positions = calendar[0], RowPositions.of(calendar[1])
    ports = [
        portfolios(stage.event_ar[:, event_columns(stage, wmask)], positions.columns(columns_of(wmask)), g, len(grid))
        for wmask, g in zip(wmasks, members, strict=True)
    ]  # every window's estimation-period (s, m), the pairs' plan made once for all windows
    start = stage.event_start
    sds = estimation_sd_windows(
        ports, stage.estimation_ar, stage.estimation[:, :start], positions.columns(slice(0, start))
    )
    others = [
        group_battery_groups(stage, window, wmask, groups, bootstrap, calendar, _LATER, portfolio)
        for window, wmask, groups, portfolio in zip(windows, wmasks, members, zip(ports, sds, strict=True), strict=True)
    ]
    return [_with_binder(o, b) for o, b in zip(others, binder.result(), strict=True)]


def window_days(stage, window) -> np.ndarray:
    """(D,) the stage's days inside ``window``."""
    return (stage.days >= window[0]) & (stage.days <= window[1])


def group_battery(
    stage, window, wmask: np.ndarray, idx: np.ndarray, bootstrap: tuple[int, int] = (0, 0)
) -> dict[str, TestResult]:
    """The group tests of the pairs ``idx`` over one event window: :func:`group_battery_groups` of one group."""
    one = Groups(np.zeros(len(idx), np.int64), np.sort(idx).astype(np.int64), 1, len(stage))
    return {name: result[0] for name, result in group_battery_groups(stage, window, wmask, one, bootstrap).items()}


def _bhar(stage, window, groups: Groups) -> GroupResult:
    """BHAR skew t per group; n/a for a group of abnormal log volume (a buy-and-hold return has no meaning)."""
    result = bhar_skew_t_groups(stage.cars[window]["bhar"], groups)
    off = np.zeros(groups.n_groups, bool)
    nonempty = groups.sizes > 0
    first = np.asarray(stage.model)[groups.pair[groups.starts[:-1][nonempty]]]  # a group has one measure
    off[nonempty] = pd.Series(first, dtype=object).astype(str).str.startswith("volume-").to_numpy(dtype=bool)
    statistic, p_value = np.where(off, np.nan, result.statistic), np.where(off, np.nan, result.p_value)
    return GroupResult(statistic, p_value, np.where(off, groups.sizes, result.n))


def binder_windows(stage, wmasks: list[np.ndarray], groups: list[Groups]) -> list[tuple[GroupResult, GroupResult]]:
    """Binder's joint F and CAAR z per group of each window (``groups[w]`` over the days ``wmasks[w]``): the
    groups whose pairs share one day 0, venue and model with distinct tickers, stacked by size and solved in
    batches; n/a (NaN) for the others. A system (the same pairs) in several windows is gathered and estimated once
    and only its event-window half is computed per window."""
    out = [tuple(np.full(g.n_groups, np.nan) for _ in range(4)) for g in groups]
    candidates = _one_date(stage, groups)
    k = max(stage.design.shape[2], 1)
    buffers = _Buffers()
    for count in np.unique(np.concatenate([g.sizes[c] for g, c in zip(groups, candidates, strict=True)])):
        chosen = [np.flatnonzero(c & (g.sizes == count)) for g, c in zip(groups, candidates, strict=True)]
        idx = [g.pair[g.starts[c][:, None] + np.arange(count)[None, :]] for g, c in zip(groups, chosen, strict=True)]
        systems, which = np.unique(np.concatenate(idx), axis=0, return_inverse=True)  # distinct member sets
        which = which.reshape(-1)
        window = np.repeat(np.arange(len(groups)), [len(c) for c in chosen])
        row = np.concatenate(chosen)
        step = max(1, BATCH_CELLS // (count * len(stage.days) * k))
        for lo in range(0, len(systems), step):
            y, x, est, have, agree, fit = _binder_systems(stage, systems[lo : lo + step], buffers)
            for w, wmask in enumerate(wmasks):
                use = np.flatnonzero((window == w) & (which >= lo) & (which < lo + step))
                if not len(use):
                    continue
                b = which[use] - lo
                win = wmask & have[b]
                same = win.any(axis=1) & np.where(est[b] | win, agree[b], True).all(axis=1)
                win &= same[:, None]
                part = fit if len(b) == len(fit.ok) and (b == np.arange(len(b))).all() else _take_fit(fit, b)
                days = np.flatnonzero(wmask)[None, :]  # the window's days of the systems b (one copy, not two)
                res = binder_window(part, y[b[:, None], days], x[b[:, None], days], win[:, wmask])
                for target, value in zip(out[w], (res.f, res.f_p, res.z, res.z_p), strict=True):
                    target[row[use]] = value
    return [
        (GroupResult(f, f_p, g.sizes), GroupResult(z, z_p, g.sizes))
        for (f, f_p, z, z_p), g in zip(out, groups, strict=True)
    ]


def _take_fit(fit: BinderEstimation, b: np.ndarray) -> BinderEstimation:
    return BinderEstimation(*(getattr(fit, f.name)[b] for f in fields(BinderEstimation)))


class _Buffers:
    """Flat arrays that every batch of one :func:`binder_windows` call views in its own shape: a batch's systems are
    written over the previous batch's, not into fresh pages that the system must map and zero first."""

    def __init__(self) -> None:
        self.flat: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = int(np.prod(shape))
        if name not in self.flat or len(self.flat[name]) < size:
            self.flat[name] = np.empty(size)
        return self.flat[name][:size].reshape(shape)


def _binder_systems(stage, idx: np.ndarray, buffers: _Buffers) -> tuple:
    """The systems of the pairs ``idx`` (B, N): their (B, D, N) returns net of the model's non-regression part,
    (B, D, k) regressors, (B, D) clean estimation days, days every ticker trades (one-session returns only: a
    trade-to-trade return after a gap leaves that day out), days every pair has the same regressors
    (``np.allclose``), and the estimation half of the system on the estimation days (``est``). The returns and
    regressors are views of ``buffers``, valid until the next batch."""
    params = np.nan_to_num(stage.params[idx])
    rows, local = np.unique(idx, return_inverse=True)  # only the batch's rows (the stage gathers them on demand)
    panels = (stage.design, stage.normal, stage.returns, stage.span, stage.estimation)
    design, normal, returns, span, estimation = (np.ascontiguousarray(v[rows]) for v in panels)
    (batch, n), (days, k) = idx.shape, design.shape[1:]
    y, ye, resid = (buffers(name, (batch, days, n)) for name in ("y", "ye", "resid"))
    x, xe = (buffers(name, (batch, days, k)) for name in ("x", "xe"))
    est, have, agree = _systems(
        local.reshape(idx.shape), design, params, normal, returns, span, estimation, y, x, ye, xe
    )
    return y, x, est, have, agree, masked_estimation(ye, xe, est, resid)


@numba.njit(cache=True, nogil=True)
def _systems(idx, design, params, normal, returns, span, estimation, y, x, ye, xe):  # pragma: no cover - compiled
    """Each system's (days x tickers) returns net of the model's non-regression part (to ``y``), its regressors
    (the first pair's design, to ``x``), the same two zero off the system's estimation days (to ``ye`` and ``xe``:
    ``np.where(est, y, 0.0)``), and (returned) its clean estimation days where every ticker has a return, the days
    where every ticker has a return, and the days where every pair's design equals the first pair's. One pair's row
    at a time, read once (its values and its comparison with the first pair's design), its days in loops without a
    branch (the day's flags combined with ``&``, not ``and``), each value computed as ``returns - (normal -
    regression)`` with the regression summed over the regressors in order from 0.0."""
    batch, n = idx.shape
    days, k = design.shape[1], design.shape[2]
    est = np.zeros((batch, days), np.bool_)
    have = np.ones((batch, days), np.bool_)
    agree = np.ones((batch, days), np.bool_)
    clean = np.empty(days, np.bool_)
    for b in range(batch):
        clean[:] = True
        first = design[idx[b, 0]]
        for m in range(n):  # one pair's row at a time (contiguous reads), compared with the first pair's as read
            i = idx[b, m]
            row, p = design[i], params[b, m]
            for d in range(days):
                regression = 0.0
                finite = span[i, d] == 1
                same = True
                for j in range(k):
                    regression += row[d, j] * p[j]
                    finite &= np.isfinite(row[d, j])
                    same &= abs(row[d, j] - first[d, j]) <= 1e-8 + 1e-5 * abs(first[d, j])
                v = returns[i, d] - (normal[i, d] - regression)
                y[b, d, m] = v
                have[b, d] &= finite & np.isfinite(v)
                clean[d] &= estimation[i, d]
                if m:
                    agree[b, d] &= same
        x[b] = first
        for d in range(days):
            est[b, d] = clean[d] & have[b, d]
            for m in range(n):
                ye[b, d, m] = y[b, d, m] if est[b, d] else 0.0
            for j in range(k):
                xe[b, d, j] = x[b, d, j] if est[b, d] else 0.0
    return est, have, agree


def _one_date(stage, groups: list[Groups]) -> list[np.ndarray]:
    """(G,) for each of ``groups``: whether a group has at least 2 pairs, one day 0, one venue, one model and distinct
    tickers. A field's integer codes (-1 where missing) are made only while a group may still qualify (the pooled
    group of a study whose events are on several dates fails on day 0: no venue, model or ticker text is read)."""
    ok = [g.sizes >= 2 for g in groups]
    fields = (stage.pairs["day0"], stage.pairs["venue"], stage.model, stage.pairs["ticker"])
    for j, values in enumerate(fields):
        if not any(o.any() for o in ok):
            break
        codes = pd.factorize(np.asarray(values))[0]
        ok = [(_distinct if j == len(fields) - 1 else _one_value)(codes, g, o) for g, o in zip(groups, ok, strict=True)]
    return ok


def _one_value(codes: np.ndarray, groups: Groups, ok: np.ndarray) -> np.ndarray:
    """``ok`` and whether each group's pairs have one code (a group of no pair: unchanged)."""
    nonempty = groups.sizes > 0
    starts = groups.starts[:-1][nonempty]
    member = codes[groups.pair]
    ok = ok.copy()
    ok[nonempty] &= np.minimum.reduceat(member, starts) == np.maximum.reduceat(member, starts)
    return ok


def _distinct(codes: np.ndarray, groups: Groups, ok: np.ndarray) -> np.ndarray:
    """``ok`` and whether each group's pairs have distinct codes."""
    tickers = codes[groups.pair]
    key = np.sort(groups.group * np.int64(tickers.max(initial=0) + 1) + tickers)
    repeated = key[1:][key[1:] == key[:-1]] // (tickers.max(initial=0) + 1)
    ok = ok.copy()
    ok[repeated] = False
    return ok
