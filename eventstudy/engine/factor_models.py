"""Fama-French 3 / 5 factor and Carhart 4 factor models from a factor file, for all pairs at once.

For pair i on day t with risk-free rate RF_t and factor returns f_t (Fama & French 1993, 2015; Carhart 1997):

    R_it - RF_t = a_i + b_i'f_t + e_it,   f_t = (Mkt-RF, SMB, HML [, RMW, CMA] [, MOM])

estimated by OLS on the clean estimation days; AR_it = R_it - RF_t - a_i - b_i'f_t and the normal return is
RF_t + a_i + b_i'f_t. Factors are matched to the pair's session dates by calendar date; a day without factor
values is left out of the estimation window. sigma, the prediction-error factor and CAR variances are those of the
linear model (see :mod:`eventstudy.engine.models`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy.engine.models import ModelFit, fit_model
from eventstudy.errors import InputError

FACTOR_MODELS: dict[str, tuple[str, ...]] = {
    "ff3": ("Mkt-RF", "SMB", "HML"),
    "ff5": ("Mkt-RF", "SMB", "HML", "RMW", "CMA"),
    "carhart": ("Mkt-RF", "SMB", "HML", "MOM"),
}


def factor_arrays(table: pd.DataFrame, model: str, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor returns (P, D, m) and the risk-free rate (P, D) of ``model`` on each pair's session ``dates``.

    NaN where the factor table has no row for the date (or the date is NaT).
    """
    names = FACTOR_MODELS[model]
    missing = [c for c in (*names, "RF") if c not in table.columns]
    if missing:
        hint = " (momentum comes from its own file: pass --factors-file twice)" if "MOM" in missing else ""
        raise InputError(
            f"the {model} model needs factor columns {', '.join(missing)}, absent from the factor file(s), which "
            f"hold {', '.join(table.columns)}{hint}"
        )
    values = table[[*names, "RF"]].to_numpy(dtype=float)
    index = table.index.get_indexer(pd.DatetimeIndex(dates.ravel()))
    taken = np.where((index >= 0)[:, None], values[np.maximum(index, 0)], np.nan)
    taken = taken.reshape(*dates.shape, len(names) + 1)
    return taken[:, :, :-1], taken[:, :, -1]


def fit_factor_file_model(
    model: str,
    returns: np.ndarray,
    dates: np.ndarray,
    estimation: np.ndarray,
    table: pd.DataFrame,
    required: np.ndarray,
    tickers: np.ndarray,
) -> ModelFit:
    """Fit ``model`` (ff3, ff5, carhart) for every pair: OLS of excess returns on the factors.

    ``required`` (P, D) marks the event-window days with a return that must have factor values: a factor file
    that does not cover them is an error naming the ticker and date.
    """
    factors, rf = factor_arrays(table, model, dates)
    have = np.isfinite(factors).all(axis=2) & np.isfinite(rf)
    gap = required & ~have
    if gap.any():
        p, d = np.argwhere(gap)[0]
        raise InputError(
            f"the factor file(s) have no values for {pd.Timestamp(dates[p, d]).date()} (ticker {tickers[p]}), "
            f"inside an event window; they cover {table.index.min().date()} to {table.index.max().date()}: "
            "use a newer factor file or an earlier event"
        )
    fit = fit_model("factor", returns - rf, factors, estimation & have)
    fit.normal = fit.normal + rf
    fit.model = np.full(len(returns), model, dtype=object)
    names = FACTOR_MODELS[model]
    fit.extra = {f"beta_{name}": fit.params[:, j] for j, name in enumerate(names[1:], start=2)}
    return fit
