"""The normal equations X'X beta = X'y of every pair at once, solved with numpy's bits.

:func:`solve` gives ``(X'X)^-1`` and beta for a stack of (k, k) X'X: ``np.linalg.inv`` (LAPACK's LU solve) and
``np.einsum`` in general, and for the market model's 2 x 2 X'X a compiled pass that runs the operations of
OpenBLAS's LU solve, rounded as this machine's BLAS rounds them (:func:`lu_rounding`), so that both paths give the
same numbers to the last bit; :func:`matrix_rank` screens the 2 x 2 ranks before numpy's SVD.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)


@functools.cache
def lu_rounding() -> bool | None:
    """How this machine's ``np.linalg.inv`` rounds the back substitution of a 2 x 2 LU: True where its BLAS fuses
    it into one multiply-add (OpenBLAS's Haswell and Skylake kernels), False where it rounds the product and the sum
    apart (its Zen kernels), None where neither gives numpy's bits (then :func:`solve` leaves every X'X to numpy).
    Found once a process from 20,000 fixed market-model X'X, both ways against numpy's inverse, bit for bit: each
    the count L, sum and sum of squares of L returns of a random scale, drawn as their sufficient statistics (the
    mean normal, the variance chi-square), 16 ms instead of the 160 ms of drawing the returns themselves."""
    rng = np.random.default_rng(20261202)
    size = 20_000
    count = rng.integers(3, 251, size).astype(float)
    scale = 0.02 * 10.0 ** rng.uniform(-1, 1, size)
    mean = rng.normal(0.0, 3.0, size) * scale / np.sqrt(count)
    total = mean * count
    xtx = np.empty((size, 2, 2))
    xtx[:, 0, 0], xtx[:, 0, 1] = count, total
    xtx[:, 1, 0], xtx[:, 1, 1] = total, scale * scale * rng.chisquare(count - 1) + total * mean
    xty = rng.normal(0.0, 0.02, (size, 2)) * [[1.0, 0.05]]
    solved, full_rank, done = {}, np.zeros(size, bool), np.zeros(size, bool)  # (the same whichever the rounding)
    for fused in (True, False):
        inv, params = np.empty_like(xtx), np.empty_like(xty)
        _solve_2x2(xtx, xty, count, inv, params, full_rank, done, fused)
        solved[fused] = np.concatenate([inv[full_rank].ravel(), params[full_rank].ravel()])
    want = np.linalg.inv(xtx[full_rank])  # numpy's answer, once
    want = np.concatenate([want.ravel(), np.einsum("pkl,pl->pk", want, xty[full_rank]).ravel()])
    for fused, got in solved.items():
        if np.array_equal(got.view(np.int64), want.view(np.int64)):
            return fused
    return None


def solve(xtx: np.ndarray, xty: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xtx_inv, params, full_rank)`` of every pair: full rank where X'X (P, k, k) has rank k and n > k; there
    (X'X)^-1 by ``np.linalg.inv`` (LAPACK's LU solve of X'X X = I) and beta = (X'X)^-1 X'y as ``np.einsum`` sums it,
    elsewhere the inverse of I (beta = X'y, both overwritten by the caller).

    A 2 x 2 X'X that :func:`matrix_rank`'s screen decides, with no row exchange in the LU (|b| <= |a|), is solved by a
    compiled pass with the operations of the LU solve OpenBLAS runs (the multipliers by reciprocals, the back
    substitution rounded as this machine's BLAS rounds it: :func:`lu_rounding`): the same bits as ``np.linalg.inv``
    and ``np.einsum`` on the 1,000,000 X'X of the benchmark's 1M-pair study and on the test's 400,000 random ones,
    in 5 ns a pair instead of 207 (the screen, numpy's per-matrix LAPACK call and einsum, 25,000 pairs at a time);
    the rest go through numpy."""
    k = xtx.shape[1]
    xtx_inv, params = np.empty_like(xtx), np.empty_like(xty)
    full_rank, done = np.zeros(len(xtx), dtype=bool), np.zeros(len(xtx), dtype=bool)
    fused = lu_rounding() if k == 2 else None
    if fused is not None:
        _solve_2x2(xtx, xty, n, xtx_inv, params, full_rank, done, fused)
    rest = np.flatnonzero(~done) if done.any() else slice(None)  # (every pair: views, no copies)
    part = xtx[rest]
    if len(part):
        full_rank[rest] = (matrix_rank(part) == k) & (n[rest] > k)
        inverse = np.linalg.inv(np.where(full_rank[rest, None, None], part, np.eye(k)))
        xtx_inv[rest], params[rest] = inverse, np.einsum("pkl,pl->pk", inverse, xty[rest])
    return xtx_inv, params, full_rank


@numba.njit(cache=True, nogil=True)
def _solve_2x2(xtx, xty, n, xtx_inv, params, full_rank, done, fused):  # pragma: no cover - compiled
    """:func:`solve` of the 2 x 2 X'X [[a, b], [b', d]] that :func:`matrix_rank`'s screen decides (:func:`_rank_two`)
    and whose LU needs no row exchange (|b'| <= |a|):
    L = [[1, 0], [l, 1]] with l = b' (1 / a), U = [[a, b], [0, u]] with u = d - l b, and each column c of the
    inverse from L y = e_c, U x = y: x_1 = y_1 (1 / u), x_0 = fma(-b, x_1, y_0) (1 / a) (``fused``; else -b x_1 + y_0
    rounded twice: :func:`lu_rounding`). beta_k = (0 + inv_k0 X'y_0) + inv_k1 X'y_1, einsum's order. ``done`` marks
    the pairs solved."""
    for p in range(len(xtx)):
        a, b, b1, d = xtx[p, 0, 0], xtx[p, 0, 1], xtx[p, 1, 0], xtx[p, 1, 1]
        if not _rank_two(a, b, d) or abs(b1) > abs(a):
            continue
        done[p] = True
        if not n[p] > 2:  # rank 2, but no degree of freedom: the inverse of I
            xtx_inv[p, 0, 0], xtx_inv[p, 0, 1], xtx_inv[p, 1, 0], xtx_inv[p, 1, 1] = 1.0, 0.0, 0.0, 1.0
        else:
            full_rank[p] = True
            ra = 1.0 / a
            low = b1 * ra
            ru = 1.0 / (d - low * b)
            for c in range(2):
                y0 = 1.0 if c == 0 else 0.0
                x1 = ((0.0 if c == 0 else 1.0) - low * y0) * ru
                y = fused_multiply_add(-b, x1, y0) if fused else -b * x1 + y0
                xtx_inv[p, 0, c], xtx_inv[p, 1, c] = y * ra, x1
        for j in range(2):
            params[p, j] = (0.0 + xtx_inv[p, j, 0] * xty[p, 0]) + xtx_inv[p, j, 1] * xty[p, 1]


def matrix_rank(xtx: np.ndarray) -> np.ndarray:
    """``np.linalg.matrix_rank`` of every (k, k) X'X (P, k, k), the SVD run only where it can decide: a 2 x 2
    X'X = [[a, b], [b, d]] with det = ad - b^2 > 1e-10 (a + d)^2 has condition number below 1e10 (its smallest
    eigenvalue is at least det / (a + d)), far from the SVD's cut at 1 / (2 eps) = 2.3e15 even with det's
    rounding (below eps (a + d)^2), so its rank is 2."""
    if xtx.shape[1:] != (2, 2):
        return np.linalg.matrix_rank(xtx)
    clear = np.empty(len(xtx), dtype=bool)
    _screen_2x2(xtx, clear)
    rank = np.full(len(xtx), 2)
    rank[~clear] = np.linalg.matrix_rank(xtx[~clear])
    return rank


@numba.njit(cache=True, nogil=True)
def _screen_2x2(xtx, clear):  # pragma: no cover - compiled
    """:func:`_rank_two` of every 2 x 2 X'X into ``clear``."""
    for p in range(len(xtx)):
        clear[p] = _rank_two(xtx[p, 0, 0], xtx[p, 0, 1], xtx[p, 1, 1])


@numba.njit(cache=True, inline="always")
def _rank_two(a, b, d):  # pragma: no cover - compiled
    """Whether the screen of :func:`matrix_rank` decides that X'X = [[a, b], [b, d]] has rank 2: a > 0, d > 0 and
    ad - b^2 > 1e-10 (a + d)^2."""
    return a > 0 and d > 0 and a * d - b * b > 1e-10 * ((a + d) * (a + d))


@intrinsic
def fused_multiply_add(typingctx, x, y, z):
    """x y + z rounded once (LLVM's ``llvm.fma.f64``: the processor's fused multiply-add, else an exact software
    one), for code that must round as a library that fuses does; numba itself never fuses a multiply and an add."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(double, [double] * 3), "llvm.fma.f64")
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen
