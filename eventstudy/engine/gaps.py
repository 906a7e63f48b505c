"""Trade-to-trade returns across sessions without a price (Maynes & Rumsey 1993; STATISTICS.md "Missing sessions").

A return R_it that spans k_it sessions (the ticker had no price on the k_it - 1 sessions before t) is kept on the
first session after the gap. Any normal-return model is fitted on one-session returns as usual and gives a normal
return, design row and (GARCH) conditional variance for every session, including those without a price; the
k-session return is then compared with the model's expectation summed over the k sessions:

    E[R_it] = sum_{j = t-k+1..t} x_j' beta,   x_it = sum_{j = t-k+1..t} x_j   (intercept k, regressors summed),
    Var(AR_it) = k sigma_i^2 (1 + ...) -> C_it = k + x_it'(X_i'X_i)^-1 x_it,   GARCH: h_it = sum_j h_j.

A sum that reaches a session without a normal return (a regressor without a price) or before the panel is NaN.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from eventstudy.engine.models import ModelFit


def bridge_gaps(fit: ModelFit, returns: np.ndarray, span: np.ndarray) -> ModelFit:
    """``fit`` with normal returns, design rows and variances summed over each return's ``span`` (P, D).

    One-session returns (``span`` 1) and days without a return (0) keep their values exactly.
    """
    if not spans_sessions(span):
        return fit
    multi = span > 1
    normal = np.where(multi, _span_sums(fit.normal, span), fit.normal)
    design = span_design(fit.design_columns(), span)
    variance = None
    if fit.variance is not None:
        variance = np.where(multi, _span_sums(fit.variance, span), fit.variance)
    return replace(
        fit,
        normal=normal,
        ar=returns - normal,
        design=design,
        regressors=None,
        variance=variance,
        span=np.maximum(span, 1).astype(float),
    )


def span_design(design: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Design rows (P, D, k) summed over each return's ``span`` (P, D) where it exceeds one session."""
    if not spans_sessions(span):
        return design
    multi = span > 1
    return np.where(multi[:, :, None], _span_sums(design, span), design)


def spans_sessions(span: np.ndarray) -> bool:
    """Whether any return of ``span`` (P, D) spans several sessions: its max, without a (P, D) boolean temporary (a
    fresh 13 MB array per 50,000-pair chunk, whose first touch costs more than the test)."""
    return span.size > 0 and bool(span.max() > 1)


def _span_sums(values: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (P, D[, k]) over days (t - span_t, t] for every pair and day t; NaN if any is NaN."""
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    missing = np.isnan(flat)
    zero = np.zeros((flat.shape[0], 1, flat.shape[2]))
    total = np.concatenate([zero, np.cumsum(np.where(missing, 0.0, flat), axis=1)], axis=1)
    lacking = np.concatenate([zero, np.cumsum(missing, axis=1)], axis=1)
    end = np.broadcast_to(np.arange(1, span.shape[1] + 1), span.shape)
    start = end - np.maximum(span, 1)
    inside = start >= 0
    end3, start3 = end[:, :, None], np.maximum(start, 0)[:, :, None]
    sums = np.take_along_axis(total, end3, axis=1) - np.take_along_axis(total, start3, axis=1)
    bad = (np.take_along_axis(lacking, end3, axis=1) - np.take_along_axis(lacking, start3, axis=1) > 0) | ~inside[
        :, :, None
    ]
    return np.where(bad, np.nan, sums).reshape(values.shape)
