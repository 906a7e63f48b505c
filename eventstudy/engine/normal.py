"""Choose and fit the normal-return model of a study: the linear models, factor-file models, GARCH, thin trading."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy.engine.factor_models import FACTOR_MODELS, fit_factor_file_model
from eventstudy.engine.garch import fit_garch
from eventstudy.engine.models import MODELS, ModelFit, fit_model
from eventstudy.engine.panel import EventPanel
from eventstudy.engine.thin import BETA_METHODS, fit_thin_beta
from eventstudy.errors import InputError

ALL_MODELS = (*MODELS, *FACTOR_MODELS, "garch")


def check_model_options(model: str, market: object, factor_table: pd.DataFrame | None, beta: str, kind: str) -> None:
    """Raise :class:`InputError` for a model and options that do not go together."""
    if model not in ALL_MODELS:
        raise InputError(f"unknown model {model!r}: choose one of {', '.join(ALL_MODELS)}")
    if beta not in BETA_METHODS:
        raise InputError(f"unknown beta {beta!r}: choose one of {', '.join(BETA_METHODS)}")
    if beta != "ols" and model != "market":
        raise InputError(f"--beta {beta} adjusts the market model's beta: use it with --model market")
    if model in FACTOR_MODELS:
        if factor_table is None:
            raise InputError(f"the {model} model needs factor returns: pass --factors-file PATH (Ken French daily CSV)")
        if kind != "simple":
            raise InputError(f"the {model} model uses simple excess returns R - RF: drop --returns log")
    elif model not in ("constant-mean",) and market is None:
        raise InputError(f"the {model} model needs a market benchmark: pass market= (CLI: --market TICKER)")


def estimate_normal(
    model: str,
    panel: EventPanel,
    *,
    studied: np.ndarray,
    min_obs: int,
    factor_table: pd.DataFrame | None = None,
    beta: str = "ols",
    jobs: int = 1,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[ModelFit, np.ndarray]:
    """Fit ``model`` for every pair of ``panel``; the pairs ``studied`` (P,) with at least ``min_obs`` clean
    estimation returns will be studied (the factor-file and GARCH models fit only those).

    ``out``: (P, D) arrays the linear models write their normal and abnormal returns into.

    Returns the fit and a (P,) array of notes: a non-empty note says the pair fell back to a simpler model and why.
    """
    notes = np.full(len(panel.returns), "", dtype=object)
    if model in FACTOR_MODELS or model == "garch":
        todo = studied & (panel.estimation.sum(axis=1) >= min_obs)
    if model in FACTOR_MODELS:
        span = panel.day_mask(panel.windows.event_span)
        required = todo[:, None] & span[None, :] & np.isfinite(panel.returns)
        fit = fit_factor_file_model(
            model,
            panel.returns,
            panel.dates,
            panel.estimation,
            factor_table,
            required,
            panel.pairs["ticker"].to_numpy(),
        )
        return fit, notes
    if model == "garch":
        return fit_garch(panel.returns, panel.regressors[:, :, 0], panel.estimation, todo, jobs)
    if beta != "ols":
        return fit_thin_beta(beta, panel.returns, panel.regressors[:, :, 0], panel.estimation), notes
    return fit_model(model, panel.returns, panel.regressors, panel.estimation, implicit=True, out=out), notes
