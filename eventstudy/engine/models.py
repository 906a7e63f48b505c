"""Normal-return models, estimated for all pairs at once by closed-form OLS on masked arrays.

For pair i with estimation-window design rows x_t (t in the clean estimation days, L1_i of them):

* constant mean:   x_t = (1,)                      AR_it = R_it - mean_i
* market model:    x_t = (1, R_mt)                 AR_it = R_it - a_i - b_i R_mt
* factor model:    x_t = (1, R_mt, F_1t, ..., F_mt) AR_it = R_it - x_t' beta_i
* market-adjusted: nothing estimated               AR_it = R_it - R_mt

``beta_i = (X_i'X_i)^-1 X_i'y_i`` is solved for every pair at once (``normal_equations.solve``);
sigma_i^2 = SSR_i / (L1_i - k) with k the number of parameters (market-adjusted: the sample variance of AR with
L1 - 1 degrees of freedom).
The prediction-error factor of an out-of-sample day is C_it = 1 + x_t'(X_i'X_i)^-1 x_t (MacKinlay 1997,
eq. 7-8 and 15-16; STATISTICS.md table), which is 1 + 1/L1 for the constant mean, 1 + 1/L1 + (R_mt - mean R_m)^2
/ S_mm for the market model, and 1 for market-adjusted returns (nothing estimated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.engine.normal_equations import solve
from eventstudy.engine.statistics import standardized_ar
from eventstudy.engine.window_pass import Design, column, window_pass
from eventstudy.errors import InputError
from eventstudy.inference.threads import chunk_bounds

MODELS = ("market", "market-adjusted", "constant-mean", "factor")


@dataclass
class ModelFit:
    """Estimated normal-return model of every pair (arrays of length P, or shape (P, D[, k]))."""

    model: np.ndarray  # (P,) model name used per pair (after any fallback)
    params: np.ndarray  # (P, k) intercept first; NaN where not estimated
    sigma: np.ndarray  # (P,) residual standard deviation
    n_obs: np.ndarray  # (P,) L1: clean estimation returns used
    dof: np.ndarray  # (P,) L1 - k
    r2: np.ndarray  # (P,)
    normal: np.ndarray  # (P, D) normal (expected) returns
    ar: np.ndarray  # (P, D) abnormal returns
    design: np.ndarray | None  # (P, D, k) regressors (zero where a pair has no estimated parameters); None: implicit
    xtx_inv: np.ndarray  # (P, k, k) (X'X)^-1 over the estimation window (zero where not estimated)
    usable: np.ndarray  # (P,) bool: a normal-return model could be estimated
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # more parameters.csv columns, (P,) each
    variance: np.ndarray | None = None  # (P, D) conditional variance of AR (GARCH), NaN where not modelled
    span: np.ndarray | float = 1.0  # (P, D) sessions each return spans (engine.gaps.bridge_gaps), else 1
    regressors: np.ndarray | None = None  # (P, D, m) when ``design`` is None: it is their :func:`linear_design`

    def design_columns(self, cols: slice = slice(None)) -> np.ndarray:
        """The design's days ``cols`` (P, C, k), built from ``regressors`` when it is implicit."""
        if self.design is not None:
            return self.design[:, cols]
        return linear_design(self.params, self.regressors[:, cols])

    def prediction_factor(self) -> np.ndarray:
        """C_it = k_it + x_t'(X'X)^-1 x_t for every pair and day (k_it sessions spanned by the return, 1 normally).

        Where a conditional variance h_it is modelled (GARCH), C_it = h_it / sigma_i^2, so that
        sigma_i sqrt(C_it) = sqrt(h_it).
        """
        c = quadratic_form(self.design_columns(), self.xtx_inv)
        c += self.span
        if self.variance is None:
            return c
        return np.where(np.isfinite(self.variance), self.variance / self.sigma[:, None] ** 2, c)

    def standardized_ar(self, ar: np.ndarray, estimation_days: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """SAR_it = AR_it / (sigma_i sqrt(C_it)) of :func:`eventstudy.engine.statistics.standardized_ar` with this
        fit's :meth:`prediction_factor` (C = 1 on the ``estimation_days`` (D,)).

        Without a conditional variance, one compiled pass computes C_it day by day (the same operations in the
        same order, so the same numbers) instead of materialising the (P, D) factor and its temporaries. ``out``
        (P, E): write the SARs of the last E days there (all D days without it).
        """
        if self.variance is not None:
            sar = standardized_ar(ar, self.sigma, self.prediction_factor(), estimation_days)
            if out is None:
                return sar
            out[:] = sar[:, ar.shape[1] - out.shape[1] :]
            return out
        span = None if np.ndim(self.span) == 0 else np.asarray(self.span).astype(np.int16)  # max(k, 1), integers
        out = np.empty(ar.shape) if out is None else out
        no_windows = np.zeros((0, ar.shape[1]), dtype=bool)
        sar = (self.sigma, np.asarray(estimation_days, dtype=bool), out)
        window_pass(ar, self.design_rows(), self.xtx_inv, span, no_windows, sar=sar)
        return out

    def design_rows(self) -> Design:
        """The design as :class:`~eventstudy.engine.window_pass.Design` (implicit: no (P, D, k) array built)."""
        if self.design is not None:
            return Design.explicit(self.design)
        zero = ~np.isfinite(self.params).all(axis=1)
        return Design(self.regressors, True, zero, self.params.shape[1])


def quadratic_form(design: np.ndarray, xtx_inv: np.ndarray) -> np.ndarray:
    """x_t'(X'X)^-1 x_t (P, D) for the design rows ``design`` (P, D, k) and ``xtx_inv`` (P, k, k) of every pair."""
    return _quadratic_form(design, xtx_inv)


@numba.njit(cache=True, nogil=True)
def _quadratic_form(design, xtx_inv):  # pragma: no cover - compiled
    n_pairs, n_days, k = design.shape
    out = np.zeros((n_pairs, n_days))
    for p in range(n_pairs):
        for d in range(n_days):
            q = 0.0
            for a in range(k):
                row = 0.0
                for b in range(k):
                    row += xtx_inv[p, a, b] * design[p, d, b]
                q += design[p, d, a] * row
            out[p, d] = q
    return out


def n_parameters(model: str, n_reg: int) -> int:
    """k, the parameters of ``model`` (intercept first) on ``n_reg`` panel regressors (market first, then factors)."""
    k = {"constant-mean": 1, "market": 2, "factor": 1 + n_reg, "market-adjusted": 0}.get(model)
    if k is None:
        raise InputError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if model == "market" and n_reg < 1:
        raise InputError("the market model needs a market benchmark: pass --market TICKER")
    if model == "factor" and n_reg < 1:
        raise InputError("the factor model needs factor series: pass --factors T1,T2 (and --market)")
    return k


def linear_design(params: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """The design (P, D, k) of a linear model with ``params`` (P, k) on ``regressors`` (P, D, m): an intercept, then
    the first k - 1 regressors; zero rows for pairs without estimated parameters (a NaN in ``params``)."""
    design = intercept_design(regressors, params.shape[1])
    design[~np.isfinite(params).all(axis=1)] = 0.0
    return design


def intercept_design(regressors: np.ndarray, k: int) -> np.ndarray:
    """(P, D, k): an intercept, then the first k - 1 of ``regressors`` (P, D, m)."""
    design = np.empty((*regressors.shape[:2], k))
    if k:
        design[:, :, 0] = 1.0
        design[:, :, 1:] = regressors[:, :, : k - 1]
    return design


def fit_ols(y: np.ndarray, design: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Batched OLS of ``y`` (P, D) on ``design`` (P, D, k) over the days where ``mask`` (P, D) holds.

    One compiled pass per pair gathers the sufficient statistics X'X, X'y and sum y; a second one the residual and
    total sums of squares from the residuals themselves (an exact fit gives SSR 0, never a cancellation remainder).
    Returns ``params (P, k), xtx_inv (P, k, k), ssr (P,), sst (P,), n (P,), full_rank (P,)``. Pairs whose X'X is
    rank-deficient (e.g. too few days, or a constant regressor) get NaN parameters and ``full_rank`` False.
    """
    params, xtx_inv, ssr, sst, n, full_rank, _ = _fit_ols(y, design, design.shape[2], False, mask)
    return params, xtx_inv, ssr, sst, n, full_rank


def _fit_ols(
    y: np.ndarray,
    x: np.ndarray,
    k: int,
    intercept: bool,
    mask: np.ndarray,
    fitted: np.ndarray | None = None,
    residuals: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """:func:`fit_ols` on the design of columns ``x`` (P, D, m) (after an implicit intercept column of ones if
    ``intercept``: the (P, D, k) design is never built); also returns the fitted values x_t' beta (P, D) of every
    day (NaN for rank-deficient pairs), written into ``fitted`` if given. ``residuals`` (P, D): also write
    y - x_t' beta there (NaN for rank-deficient pairs) in the same pass."""
    xtx, xty, n, total = _ols_moments(y, x, k, intercept, mask)
    xtx_inv, params, full_rank = solve(xtx, xty, n)
    fitted = np.empty(y.shape) if fitted is None else fitted
    ar = np.empty((0, 0)) if residuals is None else residuals
    ssr, sst = _ols_residuals(y, x, k, intercept, mask, params, total / np.maximum(n, 1), fitted, ar)
    params[~full_rank] = np.nan
    fitted[~full_rank] = np.nan
    if residuals is not None:
        residuals[~full_rank] = np.nan
    xtx_inv[~full_rank] = 0.0
    return params, xtx_inv, ssr, sst, n, full_rank, fitted


def _ols_moments(y, x, k, intercept, mask) -> tuple[np.ndarray, ...]:
    """X'X (P, k, k), X'y (P, k), n (P,) and sum y (P,) over the masked days of every pair (in chunks of pairs on
    every thread for a large panel, one chunk for a small one: each pair's sums are its own, in day order; one
    compiled entry point, so one function per signature to load from numba's cache)."""
    n_pairs, n_days = y.shape
    xtx, xty, n, total = np.zeros((n_pairs, k, k)), np.zeros((n_pairs, k)), np.zeros(n_pairs), np.zeros(n_pairs)
    _moments_chunks(y, x, intercept, mask, xtx, xty, n, total, chunk_bounds(np.full(n_pairs, n_days * k)))
    return xtx, xty, n, total


@numba.njit(cache=True, nogil=True)
def _moments(y, x, intercept, mask, xtx, xty, n, total, start, stop):  # pragma: no cover - compiled
    n_days, k = y.shape[1], xtx.shape[1]
    if intercept and k == 2:  # the market model: the same sums in the same order, in registers
        for p in range(start, stop):
            count, sum_y, sum_x, sum_xx, sum_xy = 0.0, 0.0, 0.0, 0.0, 0.0
            for d in range(n_days):
                if mask[p, d]:
                    xd, yd = x[p, d, 0], y[p, d]
                    count += 1.0
                    sum_y += yd
                    sum_x += xd
                    sum_xx += xd * xd
                    sum_xy += xd * yd
            n[p], total[p] = count, sum_y
            xtx[p, 0, 0], xtx[p, 0, 1], xtx[p, 1, 0], xtx[p, 1, 1] = count, sum_x, sum_x, sum_xx
            xty[p, 0], xty[p, 1] = sum_y, sum_xy
        return
    for p in range(start, stop):
        for d in range(n_days):
            if mask[p, d]:
                n[p] += 1.0
                total[p] += y[p, d]
                for a in range(k):
                    xa = column(x, intercept, p, d, a)
                    xty[p, a] += xa * y[p, d]
                    for b in range(a, k):
                        xtx[p, a, b] += xa * column(x, intercept, p, d, b)
        for a in range(k):
            for b in range(a + 1, k):
                xtx[p, b, a] = xtx[p, a, b]


@numba.njit(cache=True, parallel=True, nogil=True)
def _moments_chunks(y, x, intercept, mask, xtx, xty, n, total, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _moments(y, x, intercept, mask, xtx, xty, n, total, bounds[c], bounds[c + 1])


def _ols_residuals(y, x, k, intercept, mask, params, mean, out, ar) -> tuple[np.ndarray, ...]:
    """x_t' beta (P, D) on every day into ``out`` (and y - x_t' beta into ``ar`` unless it is empty), and SSR and
    SST (about ``mean``) over the masked days of every pair (chunks of pairs on every thread for a large panel)."""
    n_pairs, n_days = y.shape
    ssr, sst = np.zeros(n_pairs), np.zeros(n_pairs)
    chunks = chunk_bounds(np.full(n_pairs, n_days * k))
    _residuals_chunks(y, x, intercept, mask, params, mean, out, ar, ssr, sst, chunks)
    return ssr, sst


@numba.njit(cache=True, parallel=True, nogil=True)
def _residuals_chunks(y, x, intercept, mask, params, mean, out, ar, ssr, sst, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _residuals(y, x, intercept, mask, params, mean, out, ar, ssr, sst, bounds[c], bounds[c + 1])


@numba.njit(cache=True, nogil=True)
def _residuals(y, x, intercept, mask, params, mean, out, ar, ssr, sst, start, stop):  # pragma: no cover - compiled
    n_days, k = y.shape[1], params.shape[1]
    with_ar = ar.shape[0] > 0
    for p in range(start, stop):  # the sums in registers: the same additions in the same order as ssr[p] += ...
        sum_e, sum_c, mean_p = 0.0, 0.0, mean[p]
        if intercept and k == 2:  # the market model: 0.0 + 1.0 * alpha is alpha's (0.0 + alpha) for every day
            alpha, beta = 0.0 + params[p, 0], params[p, 1]
            for d in range(n_days):
                yd = y[p, d]
                fitted = alpha + x[p, d, 0] * beta
                out[p, d] = fitted
                if with_ar:
                    ar[p, d] = yd - fitted
                if mask[p, d]:
                    e, c = yd - fitted, yd - mean_p
                    sum_e += e * e
                    sum_c += c * c
        else:
            for d in range(n_days):
                fitted = 0.0
                for a in range(k):
                    fitted += column(x, intercept, p, d, a) * params[p, a]
                out[p, d] = fitted
                if with_ar:
                    ar[p, d] = y[p, d] - fitted
                if mask[p, d]:
                    e, c = y[p, d] - fitted, y[p, d] - mean_p
                    sum_e += e * e
                    sum_c += c * c
        ssr[p], sst[p] = sum_e, sum_c


def fit_model(
    model: str,
    returns: np.ndarray,
    regressors: np.ndarray,
    estimation: np.ndarray,
    implicit: bool = False,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> ModelFit:
    """Fit ``model`` for every pair on its clean estimation days and compute normal and abnormal returns.

    ``estimation`` (P, D) marks the clean estimation days (return and regressors present, not masked).
    ``implicit``: leave the (P, D, k) design unbuilt (``design`` None, ``regressors`` set; see :class:`ModelFit`).
    ``out``: (P, D) arrays to write the normal and abnormal returns of an OLS model into (no fresh arrays).
    """
    n_pairs = returns.shape[0]
    k = n_parameters(model, regressors.shape[2])
    if model == "market-adjusted":
        ar = returns - regressors[:, :, 0]
        n = estimation.sum(axis=1)
        mean = np.where(estimation, ar, 0.0).sum(axis=1) / np.maximum(n, 1)
        ssr = (np.where(estimation, ar - mean[:, None], 0.0) ** 2).sum(axis=1)
        dof = n - 1
        usable = n >= 2
        return ModelFit(
            model=_repeated(model, n_pairs),
            params=np.empty((n_pairs, 0)),
            sigma=np.where(usable, np.sqrt(ssr / np.maximum(dof, 1)), np.nan),
            n_obs=n.astype(int),
            dof=dof.astype(int),
            r2=np.full(n_pairs, np.nan),
            normal=regressors[:, :, 0].copy(),
            ar=ar,
            design=intercept_design(regressors, 0),
            xtx_inv=np.zeros((n_pairs, 0, 0)),
            usable=usable,
        )
    normal, ar = (np.empty(returns.shape), np.empty(returns.shape)) if out is None else out
    params, xtx_inv, ssr, sst, n, full_rank, normal = _fit_ols(returns, regressors, k, True, estimation, normal, ar)
    dof = n - k
    sigma = np.where(full_rank, np.sqrt(ssr / np.maximum(dof, 1)), np.nan)
    r2 = np.where(full_rank & (sst > 0), 1.0 - ssr / np.where(sst > 0, sst, 1.0), np.nan)
    if model == "constant-mean":
        r2 = np.where(full_rank, 0.0, np.nan)
    return ModelFit(
        model=_repeated(model, n_pairs),
        params=params,
        sigma=sigma,
        n_obs=n.astype(int),
        dof=dof.astype(int),
        r2=r2,
        normal=normal,
        ar=ar,
        design=None if implicit else linear_design(params, regressors),
        xtx_inv=xtx_inv,
        usable=full_rank,
        regressors=regressors if implicit else None,
    )


def _repeated(text: str, n: int) -> np.ndarray:
    """(n,) object array of ``text``: one string referenced n times (``np.full`` of a str casts a fresh copy of it
    into every element, 0.17 s per million)."""
    out = np.empty(n, dtype=object)
    out.fill(text)
    return out


def combine(primary: ModelFit, fallback: ModelFit, use_fallback: np.ndarray) -> ModelFit:
    """Per pair, the primary fit, or the fallback fit where ``use_fallback`` holds (disclosed in ``model``).

    The fallback is market-adjusted (no parameters), so a pair that uses it keeps NaN parameters and zero design
    rows: its prediction-error factor is 1 and its CAR variance L2 sigma^2.
    """
    sel = use_fallback

    def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(sel.reshape(sel.shape + (1,) * (a.ndim - 1)), b, a)

    params = primary.params.copy()
    params[sel] = np.nan
    design = None if primary.design is None else primary.design.copy()  # implicit: zero rows follow the NaN params
    if design is not None:
        design[sel] = 0.0
    xtx_inv = primary.xtx_inv.copy()
    xtx_inv[sel] = 0.0
    return ModelFit(
        model=np.where(sel, fallback.model, primary.model),
        params=params,
        sigma=pick(primary.sigma, fallback.sigma),
        n_obs=pick(primary.n_obs, fallback.n_obs),
        dof=pick(primary.dof, fallback.dof),
        r2=pick(primary.r2, fallback.r2),
        normal=pick(primary.normal, fallback.normal),
        ar=pick(primary.ar, fallback.ar),
        design=design,
        xtx_inv=xtx_inv,
        usable=pick(primary.usable, fallback.usable),
        extra={k: np.where(sel, np.nan if v.dtype.kind == "f" else "", v) for k, v in primary.extra.items()},
        variance=None if primary.variance is None else np.where(sel[:, None], np.nan, primary.variance),
        regressors=primary.regressors,
    )
