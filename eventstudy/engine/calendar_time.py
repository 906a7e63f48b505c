"""Calendar-time portfolio of long-horizon returns (Jaffe 1974, Mandelker 1974; Fama 1998, Mitchell & Stafford 2000).

On each calendar session d the portfolio holds, equally weighted, every pair whose window [0, H] (sessions of its
ticker's venue, day 0 included) covers d; R_p,d is the mean of their returns and n_d their number (days with no
pair are left out; the same portfolio as :func:`eventstudy.inference.calendar_time.portfolio_series`, here of raw
returns over [0, H] rather than abnormal returns inside the event windows). The portfolio's abnormal performance
is the intercept of a time-series regression over those days, with Newey & West (1987) standard errors (Bartlett
kernel, weights 1 - l/(lags + 1), no small-sample correction; statsmodels ``HAC``):

* with a factor file (``ff3``, ``ff5``, ``carhart``): R_p,d - RF_d = alpha + b'f_d + e_d (Fama-French alpha);
* with a market benchmark: R_p,d = alpha + b R_m,d + e_d (Jensen's alpha without a risk-free rate).

alpha is a mean daily abnormal return; t and p use Student's t with the regression's residual degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy.engine.factor_models import FACTOR_MODELS
from eventstudy.engine.panel import Windows, build_panel
from eventstudy.errors import InputError
from eventstudy.events.catalog import EventSet
from eventstudy.inference.calendar_time import portfolio_series
from eventstudy.inference.regression import REGRESSION_COLUMNS
from eventstudy.prices.matrix import price_matrix


def calendar_portfolio(events: EventSet, prices: pd.DataFrame, horizon: int, **panel_options) -> pd.DataFrame:
    """``date, n, return``: the equally weighted portfolio of the pairs in their [0, ``horizon``] windows."""
    if horizon < 0:
        raise InputError(f"horizon {horizon} is negative: give H >= 0 sessions after day 0")
    windows = Windows(estimation=(-1, -1), events=((0, horizon),))
    panel = build_panel(events, prices, windows, market=None, **panel_options)
    window = panel.day_mask((0, horizon))
    days, mean, n, _ = portfolio_series(panel.returns[:, window], panel.dates[:, window])
    if len(days) == 0:
        raise InputError("no pair has a return in its [0, H] window: check the events and the price history")
    return pd.DataFrame({"date": pd.DatetimeIndex(days), "n": n, "return": mean})


def calendar_alpha(
    portfolio: pd.DataFrame,
    *,
    model: str = "market",
    prices: pd.DataFrame | None = None,
    market: str | None = None,
    factor_table: pd.DataFrame | None = None,
    lags: int = 5,
) -> pd.DataFrame:
    """Regress the portfolio's returns on the model's factors with Newey-West errors; the ``regression.csv`` table
    (``term, coef, se, t, p_value, cov_type, n, r2``; ``const`` is the daily alpha)."""
    import statsmodels.api as sm

    dates = pd.DatetimeIndex(portfolio["date"])
    y = portfolio["return"].to_numpy(dtype=float)
    if model in FACTOR_MODELS:
        if factor_table is None:
            raise InputError(f"the {model} calendar-time alpha needs --factors-file (Ken French daily factors)")
        names = list(FACTOR_MODELS[model])
        missing = [c for c in (*names, "RF") if c not in factor_table.columns]
        if missing:
            raise InputError(f"the factor file(s) lack {', '.join(missing)} for the {model} model")
        x = factor_table.reindex(dates)[names]
        y = y - factor_table.reindex(dates)["RF"].to_numpy()
    elif model == "market":
        if market is None or prices is None:
            raise InputError("the market calendar-time alpha needs a benchmark: pass --market TICKER")
        wide = price_matrix(prices, [market])[market]
        x = wide.pct_change(fill_method=None).reindex(dates).to_frame("market")
    else:
        raise InputError(f"unknown calendar-time model {model!r}: choose market, {', '.join(FACTOR_MODELS)}")
    ok = np.isfinite(y) & np.isfinite(x.to_numpy()).all(axis=1)
    if ok.sum() <= x.shape[1] + 2:
        raise InputError(f"only {int(ok.sum())} portfolio days have factor values: too few for the regression")
    exog = sm.add_constant(x[ok].to_numpy(dtype=float), has_constant="add")
    res = sm.OLS(y[ok], exog).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    return pd.DataFrame(
        {
            "term": ["const", *x.columns],
            "coef": res.params,
            "se": res.bse,
            "t": res.tvalues,
            "p_value": res.pvalues,
            "cov_type": f"newey-west({lags})",
            "n": int(ok.sum()),
            "r2": res.rsquared,
        },
        columns=REGRESSION_COLUMNS,
    )
