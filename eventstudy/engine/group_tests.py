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

import numpy as np
import pandas as pd

from eventstudy.inference.bhar import bhar_skew_t_groups
from eventstudy.inference.binder import binder_sur_batch
from eventstudy.inference.bootstrap import bootstrap_p
from eventstudy.inference.calendar_time import (
    calendar_positions,
    newey_west_t,
    pairs_with_returns,
    portfolios,
    standardized_z,
)
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.result import TestResult

GROUP_TEST_NAMES = (
    "calendar_time_z",
    "calendar_time_nw",
    "binder_wald",
    "binder_caar_z",
    "bhar_skew_t",
    "wild_bootstrap",
)
BATCH_CELLS = 1 << 22  # (systems x tickers x days x regressors) cells per Binder batch, to bound memory


def group_battery_groups(
    stage, window, wmask: np.ndarray, groups: Groups, bootstrap: tuple[int, int] = (0, 0)
) -> dict[str, GroupResult]:
    """The group tests of every group of ``groups`` (pairs of ``stage``) over one event window (``wmask``: (D,)
    day mask). ``bootstrap`` = (draws, seed) of the wild bootstrap (draws 0: its row is n/a)."""
    rows = np.flatnonzero(np.bincount(groups.pair, minlength=len(stage.ar)))  # the calendar work: on these only
    whole = len(rows) == len(stage.ar)
    local = groups if whole else Groups(groups.group, np.searchsorted(rows, groups.pair), groups.n_groups, len(rows))
    dates, ar, estimation = (v if whole else v[rows] for v in (stage.dates, stage.ar, stage.estimation))
    grid, (positions,) = calendar_positions(dates)
    port = portfolios(ar[:, wmask], positions[:, wmask], local, len(grid))
    n = pairs_with_returns(ar[:, wmask], local)
    joint, average = _binder(stage, wmask, groups)
    return {
        "calendar_time_z": standardized_z(port, ar, estimation, positions, n),
        "calendar_time_nw": newey_west_t(port, int(wmask.sum()) - 1, n),
        "binder_wald": joint,
        "binder_caar_z": average,
        "bhar_skew_t": _bhar(stage, window, groups),
        "wild_bootstrap": bootstrap_p(port, n, *bootstrap),
    }


def group_battery(
    stage, window, wmask: np.ndarray, idx: np.ndarray, bootstrap: tuple[int, int] = (0, 0)
) -> dict[str, TestResult]:
    """The group tests of the pairs ``idx`` over one event window: :func:`group_battery_groups` of one group."""
    one = Groups(np.zeros(len(idx), np.int64), np.sort(idx).astype(np.int64), 1, len(stage.ar))
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


def _binder(stage, wmask: np.ndarray, groups: Groups) -> tuple[GroupResult, GroupResult]:
    """Binder's joint F and CAAR z per group: the groups whose pairs share one day 0, venue and model with
    distinct tickers, stacked by size and solved in batches; n/a (NaN) for the others."""
    size, n = groups.n_groups, groups.sizes
    f, f_p, z, z_p = (np.full(size, np.nan) for _ in range(4))
    candidates = _one_date(stage, groups)
    k = max(stage.design.shape[2], 1)
    for count in np.unique(n[candidates]):  # a loop over group sizes, each size in batches
        chosen = np.flatnonzero(candidates & (n == count))
        step = max(1, BATCH_CELLS // (count * stage.ar.shape[1] * k))
        for lo in range(0, len(chosen), step):
            block = chosen[lo : lo + step]
            idx = groups.pair[groups.starts[block][:, None] + np.arange(count)[None, :]]
            f[block], f_p[block], z[block], z_p[block] = _binder_batch(stage, wmask, idx)
    return GroupResult(f, f_p, n), GroupResult(z, z_p, n)


def _binder_batch(stage, wmask: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Binder's (F, p, z, p) for the systems of the pairs ``idx`` (B, N). The system of a group is estimated on
    the estimation days where every ticker has a clean return and on the window days where every ticker trades
    (one-session returns only), and only when every pair has the same regressors on those days."""
    design = stage.design[idx]  # (B, N, D, k)
    params = np.nan_to_num(stage.params[idx])
    x = design[:, 0]
    # the model's expectation that is not a regression on the design (market-adjusted: the market itself)
    offset = stage.normal[idx]
    finite = stage.span[idx] == 1  # no trade-to-trade returns
    close = np.ones(finite.shape, bool)
    for j in range(design.shape[3]):  # a loop over the k regressors (np.allclose of each pair's design to x)
        offset = offset - design[..., j] * params[:, :, j, None]
        finite &= np.isfinite(design[..., j])
        close &= np.abs(design[..., j] - x[:, None, :, j]) <= 1e-8 + 1e-5 * np.abs(x[:, None, :, j])
    y = stage.returns[idx] - offset
    have = (finite & np.isfinite(y)).all(axis=1)
    est = stage.estimation[idx].all(axis=1) & have
    win = wmask & have
    same = (close | ~(est | win)[:, None, :]).all(axis=(1, 2))
    est, win = est & same[:, None], win & same[:, None]
    days = y.transpose(0, 2, 1)  # (B, D, N)
    fit = binder_sur_batch(days, x, est, days[:, wmask], x[:, wmask], win[:, wmask])
    return fit.f, fit.f_p, fit.z, fit.z_p


def _one_date(stage, groups: Groups) -> np.ndarray:
    """(G,) whether a group has at least 2 pairs, one day 0, one venue, one model and distinct tickers."""
    ok = groups.sizes >= 2
    if not ok.any():
        return ok
    starts = groups.starts[:-1][groups.sizes > 0]
    for values in (stage.pairs["day0"], stage.pairs["venue"], stage.model):
        codes = pd.factorize(np.asarray(values)[groups.pair])[0]
        lo, hi = np.minimum.reduceat(codes, starts), np.maximum.reduceat(codes, starts)
        ok[groups.sizes > 0] &= lo == hi
    tickers = pd.factorize(stage.pairs["ticker"].to_numpy()[groups.pair])[0]
    key = np.sort(groups.group * np.int64(tickers.max() + 1) + tickers)
    repeated = key[1:][key[1:] == key[:-1]] // (tickers.max() + 1)
    ok[repeated] = False
    return ok
