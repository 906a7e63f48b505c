"""The distribution functions the tests need (normal, Student t, F, chi-square, binomial), as scipy.stats computes
them but without importing scipy.stats.

``scipy.stats`` takes about 0.6 s to import (it loads scipy.optimize, scipy.spatial, scipy.linalg, ...); the
functions behind its distributions are the ``scipy.special`` ufuncs (0.15 s), which are called here directly:
``norm`` (``ndtr``, ``ndtri``), ``t`` (``stdtr``, ``stdtrit``), ``f`` (``fdtr``, ``fdtrc``), ``chi2``
(``chdtr``, ``chdtrc``) and ``binom`` (the Boost ``_binom_pmf/_cdf/_sf`` ufuncs of ``scipy.special``). Around them
the same argument handling as ``scipy.stats.rv_continuous`` / ``rv_discrete`` (NaN for invalid parameters or NaN
arguments, the support's bounds outside it, binomial probabilities clipped to [0, 1]), so
``distributions.t.sf(x, df)`` equals ``scipy.stats.t.sf(x, df)`` bit for bit (tested on grids of values, edges
included). Use it as ``from eventstudy.inference import distributions as stats``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import special

try:  # the Boost binomial ufuncs scipy.stats.binom calls (private: a scipy that moves them gets scipy.stats' own)
    from scipy.special._ufuncs import _binom_cdf, _binom_pmf, _binom_sf
except ImportError:
    _binom_cdf = _binom_pmf = _binom_sf = None


def _positive(*args: np.ndarray) -> np.ndarray:
    """scipy.stats' default parameter check: every shape parameter > 0."""
    ok = np.asarray(True)
    for arg in args:
        ok = ok & (arg > 0)
    return ok


def _continuous(
    fn: Callable, x, args, bounds: tuple[float, float], values: tuple[float, float], check: bool, beyond: bool
):
    """``rv_continuous.cdf/sf`` (``beyond``) or ``ppf/isf`` on ``bounds`` (the support, or (0, 1) for quantiles):
    ``fn(x, *args)`` strictly inside, ``values`` at the bounds (and beyond them with ``beyond``; NaN there
    otherwise), NaN for NaN ``x`` or invalid parameters."""
    x = np.asarray(x, dtype=np.float64)
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    ok = _positive(*args) if check else np.asarray(True)
    lower, upper = bounds
    with np.errstate(invalid="ignore"):
        inside = ok & (lower < x) & (x < upper)
        if inside.all():  # every value strictly inside (the usual case): one call, no gather and scatter
            out = np.asarray(fn(x, *args), dtype=np.float64)
            return out[()] if out.ndim == 0 else out
        low, high = (x <= lower, x >= upper) if beyond else (x == lower, x == upper)
        out = np.where(ok & low, values[0], np.where(ok & high, values[1], np.nan))
    if inside.any():
        shape = np.broadcast_shapes(x.shape, *(a.shape for a in args))
        inside = np.broadcast_to(inside, shape)
        out = np.broadcast_to(out, shape).copy()
        out[inside] = fn(*(np.broadcast_to(v, shape)[inside] for v in (x, *args)))
    return out[()] if out.ndim == 0 else out


class _Distribution(NamedTuple):
    cdf: Callable
    sf: Callable
    ppf: Callable | None = None
    isf: Callable | None = None


def _probabilities(cdf: Callable, sf: Callable, lower: float, upper: float, check: bool) -> tuple[Callable, Callable]:
    def cdf_at(x, *args):
        return _continuous(cdf, x, args, (lower, upper), (0.0, 1.0), check, True)

    def sf_at(x, *args):
        return _continuous(sf, x, args, (lower, upper), (1.0, 0.0), check, True)

    return cdf_at, sf_at


def _quantiles(ppf: Callable, isf: Callable, lower: float, upper: float, check: bool) -> tuple[Callable, Callable]:
    def ppf_at(q, *args):
        return _continuous(ppf, q, args, (0.0, 1.0), (lower, upper), check, False)

    def isf_at(q, *args):
        return _continuous(isf, q, args, (0.0, 1.0), (upper, lower), check, False)

    return ppf_at, isf_at


norm = _Distribution(
    *_probabilities(special.ndtr, lambda x: special.ndtr(-x), -np.inf, np.inf, False),
    *_quantiles(special.ndtri, lambda q: -special.ndtri(q), -np.inf, np.inf, False),
)
t = _Distribution(
    *_probabilities(lambda x, df: special.stdtr(df, x), lambda x, df: special.stdtr(df, -x), -np.inf, np.inf, True),
    *_quantiles(lambda q, df: special.stdtrit(df, q), lambda q, df: -special.stdtrit(df, q), -np.inf, np.inf, True),
)
f = _Distribution(
    *_probabilities(lambda x, m, n: special.fdtr(m, n, x), lambda x, m, n: special.fdtrc(m, n, x), 0.0, np.inf, True)
)
chi2 = _Distribution(
    *_probabilities(lambda x, df: special.chdtr(df, x), lambda x, df: special.chdtrc(df, x), 0.0, np.inf, True)
)


class _Binomial:
    """``scipy.stats.binom``'s pmf, cdf and sf (support 0..n; n a non-negative integer, 0 <= p <= 1)."""

    @staticmethod
    def _prepare(k, n, p) -> tuple[np.ndarray, ...]:
        k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (k, n, p)))
        with np.errstate(invalid="ignore"):
            ok = (n >= 0) & (n == np.round(n)) & (p >= 0) & (p <= 1)
        return k, n, p, ok

    @staticmethod
    def _finish(out: np.ndarray, fn: Callable, where: np.ndarray, *values: np.ndarray) -> np.ndarray:
        if where.any():
            out[where] = np.clip(fn(*(v[where] for v in values)), 0, 1)
        return out[()] if out.ndim == 0 else out

    def pmf(self, k, n, p):
        k, n, p, ok = self._prepare(k, n, p)
        with np.errstate(invalid="ignore"):
            where = ok & (k >= 0) & (k <= n) & (k == np.floor(k))
        out = np.where(~ok | np.isnan(k), np.nan, 0.0)
        return self._finish(out, _binom_pmf, where, k, n, p)

    def cdf(self, k, n, p):
        k, n, p, ok = self._prepare(k, n, p)
        with np.errstate(invalid="ignore"):
            where = ok & (k >= 0) & (k < n) & np.isfinite(k)
            out = np.where(~ok | np.isnan(k), np.nan, np.where(k >= n, 1.0, 0.0))
        return self._finish(out, _binom_cdf, where, np.floor(k), n, p)

    def sf(self, k, n, p):
        k, n, p, ok = self._prepare(k, n, p)
        with np.errstate(invalid="ignore"):
            where = ok & (k >= 0) & (k < n) & np.isfinite(k)
            out = np.where(~ok | np.isnan(k), np.nan, np.where(ok & (k < 0), 1.0, 0.0))
        return self._finish(out, _binom_sf, where, np.floor(k), n, p)


if _binom_pmf is not None:
    binom = _Binomial()
else:  # a scipy without the private ufuncs: scipy.stats' binom (the same numbers, slower import)
    import scipy.stats

    binom = scipy.stats.binom
