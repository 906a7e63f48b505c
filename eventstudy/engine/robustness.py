"""Robustness grid: the same study across normal-return models, benchmarks and estimation windows.

A result that hangs on one choice (the benchmark, the model, the estimation window) is fragile; this runs every
combination and returns one tidy table so a reader can see it. Each specification is an ordinary
:class:`~eventstudy.EventStudy` fit (a loop over a handful of specifications, not over pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from eventstudy.engine.factor_models import FACTOR_MODELS
from eventstudy.engine.panel import Window
from eventstudy.engine.study import DEFAULT_WINDOWS, EventStudy
from eventstudy.errors import InputError
from eventstudy.events.catalog import EventSet, read_events
from eventstudy.prices.factors import read_factors
from eventstudy.prices.files import read_prices

ROBUSTNESS_COLUMNS = [
    "model",
    "benchmark",
    "estimation",
    "event_id",
    "ticker",
    "window",
    "car",
    "car_se",
    "car_t",
    "car_p",
    "status",
]
GRID_MODELS = ("market", "market-adjusted", "factor", "ff3", "garch", "constant-mean")


def robustness(
    events,
    prices,
    *,
    models: Sequence[str] = ("market", "market-adjusted", "factor"),
    benchmarks: Sequence[str] = ("SPY", "IWM", "REMX"),
    estimations: Sequence[Window] = ((-250, -11), (-120, -11)),
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    factor: str = "REMX",
    factors_file=None,
    **study_options,
) -> pd.DataFrame:
    """CAR, its standard error, t and p per pair and window under every specification.

    Parameters
    ----------
    models
        Among ``market``, ``market-adjusted``, ``factor`` (the benchmark plus ``factor``, skipped when the
        benchmark is ``factor`` itself), ``garch``, ``constant-mean`` (benchmark-free: run once per estimation
        window, ``benchmark`` = ``"-"``) and ``ff3`` (needs ``factors_file``; ``benchmark`` = ``"FF"``).
    benchmarks, estimations
        Market benchmarks and estimation windows crossed with the models.
    study_options
        Passed to every :class:`~eventstudy.EventStudy` (``listed``, ``mask_events``, ``confounders``, ...).

    Returns
    -------
    DataFrame with columns ``model, benchmark, estimation, event_id, ticker, window, car, car_se, car_t, car_p,
    status`` (``estimation`` written ``a..b``; ``status`` ``ok`` or ``fallback`` from ``parameters``; a pair not
    studied under a specification has no rows there).
    """
    unknown = [m for m in models if m not in GRID_MODELS]
    if unknown:
        raise InputError(f"robustness models {unknown} are not in the grid: choose from {', '.join(GRID_MODELS)}")
    if "ff3" in models and factors_file is None:
        raise InputError("the ff3 model in the robustness grid needs --factors-file (Ken French daily factors)")
    events = events if isinstance(events, EventSet) else read_events(events)
    prices = prices if isinstance(prices, pd.DataFrame) else read_prices(prices)
    table = None if factors_file is None else read_factors(factors_file)
    parts = []
    for estimation in estimations:
        for model in models:
            if model in FACTOR_MODELS or model == "constant-mean":
                specs = [("FF" if model in FACTOR_MODELS else "-", None, ())]
            else:
                specs = [(b, b, (factor,) if model == "factor" else ()) for b in benchmarks]
            for label, market, factors in specs:
                if model == "factor" and market == factor:
                    continue
                study = EventStudy(
                    events,
                    prices,
                    market=market,
                    model=model,
                    factors=factors,
                    estimation=tuple(estimation),
                    windows=windows,
                    factors_file=table if model in FACTOR_MODELS else None,
                    **study_options,
                )
                res = study.fit()
                car = res.car.merge(res.parameters[["event_id", "ticker", "status"]], on=["event_id", "ticker"])
                name = f"factor ({factor})" if model == "factor" else model
                car = car.assign(model=name, benchmark=label, estimation=f"{estimation[0]}..{estimation[1]}")
                parts.append(car[ROBUSTNESS_COLUMNS])
    return pd.concat(parts, ignore_index=True)
