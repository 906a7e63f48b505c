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
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.bhar import bhar_skew_t
from eventstudy.inference.binder import binder_sur
from eventstudy.inference.bootstrap import wild_bootstrap_caar
from eventstudy.inference.calendar_time import calendar_time_nw, calendar_time_z
from eventstudy.inference.result import NA, TestResult

GROUP_TEST_NAMES = (
    "calendar_time_z",
    "calendar_time_nw",
    "binder_wald",
    "binder_caar_z",
    "bhar_skew_t",
    "wild_bootstrap",
)


def group_battery(
    stage, window, wmask: np.ndarray, idx: np.ndarray, bootstrap: tuple[int, int] = (0, 0)
) -> dict[str, TestResult]:
    """The group tests of the pairs ``idx`` over one event window (``wmask``: (D,) day mask).

    ``bootstrap`` = (draws, seed) of the wild bootstrap (draws 0: its row is n/a).
    """
    ar, dates = stage.ar[idx], stage.dates[idx]
    ar_est = np.where(stage.estimation[idx], ar, np.nan)
    joint, average = _binder(stage, wmask, idx)
    volume = str(stage.model[idx[0]]).startswith("volume-") if len(idx) else False
    return {
        "calendar_time_z": calendar_time_z(ar[:, wmask], dates[:, wmask], ar_est, dates),
        "calendar_time_nw": calendar_time_nw(ar[:, wmask], dates[:, wmask], lags=int(wmask.sum()) - 1),
        "binder_wald": joint,
        "binder_caar_z": average,
        # a buy-and-hold return has no meaning for abnormal log volume
        "bhar_skew_t": TestResult(NA, NA, len(idx)) if volume else bhar_skew_t(stage.cars[window]["bhar"][idx]),
        "wild_bootstrap": wild_bootstrap_caar(ar[:, wmask], dates[:, wmask], *bootstrap),
    }


def _binder(stage, wmask: np.ndarray, idx: np.ndarray) -> tuple[TestResult, TestResult]:
    n = len(idx)
    missing = (TestResult(NA, NA, n), TestResult(NA, NA, n))
    if n < 2 or any(len(set(stage.pairs[c].to_numpy()[idx])) != 1 for c in ("day0", "venue")):
        return missing
    if len(set(stage.pairs["ticker"].to_numpy()[idx])) != n or len(set(stage.model[idx])) != 1:
        return missing
    design = stage.design[idx]
    # the model's expectation that is not a regression on the design (market-adjusted: the market itself)
    offset = stage.normal[idx] - np.einsum("pdk,pk->pd", design, np.nan_to_num(stage.params[idx]))
    y = stage.returns[idx] - offset
    have = np.isfinite(y) & np.isfinite(design).all(axis=2) & (stage.span[idx] == 1)  # no trade-to-trade returns
    est = stage.estimation[idx].all(axis=0) & have.all(axis=0)
    win = wmask & have.all(axis=0)
    x = design[0]
    if not win.any() or not np.allclose(design[:, est | win], x[None, est | win], equal_nan=False):
        return missing
    fit = binder_sur(y[:, est].T, x[est], y[:, win].T, x[win])
    return missing if fit is None else (fit.joint, fit.average)
