"""One compiled pass over each pair's days: its standardized abnormal returns and every event window's sums.

For pair i, day t and an event window W (a day mask), with ``valid_it`` = t in W and AR_it not NaN, the pass gives

* n_i = #valid days, CAR_i = sum of AR_it, s_i = sum of the design rows x_it (k,), the sessions the returns span
  sum max(k_it, 1) (and sum k_it, for :func:`complete`), and the gross products prod (1 + R_it), prod (1 + E[R_it])
  (exp(r) for log returns) of BHAR, all over the valid days;
* with a residual sigma, SAR_it = AR_it / (sigma_i sqrt(C_it)), C_it = 1 on estimation days, else
  k_it + x_it'(X'X)^-1 x_it (Patell 1976; :func:`eventstudy.engine.statistics.standardized_ar`).

The definitions are those of :func:`eventstudy.engine.statistics.car_table` and ``standardized_ar``; the sums are
taken in the order numpy's reductions take them (CAR and one-column design sums pairwise as ``np.sum`` of a row,
wider design sums and the products day after day), so the numbers are bit for bit those of the (P, D) array
expressions, without their temporaries: one read of each pair's days instead of a dozen passes over (P, D) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba.core import cgutils, types
from numba.extending import intrinsic

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.threads import chunk_bounds

_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE
AHEAD = 8  # pairs ahead the window pass prefetches


@dataclass
class WindowSums:
    """Per event window w and pair i (arrays (W, P), ``s`` (W, P, k)); see the module docstring."""

    n_days: np.ndarray
    car: np.ndarray
    s: np.ndarray
    sessions: np.ndarray  # sum of max(span, 1) over the valid days
    covered: np.ndarray  # sum of span over the valid days
    real: np.ndarray
    expected: np.ndarray
    last_valid: np.ndarray  # (W, P) bool: the window's last day has an abnormal return


@dataclass(frozen=True)
class Design:
    """The design rows x_it (P, D, k) of a fit: ``x`` itself, or an intercept followed by the first k - 1 columns of
    ``x`` (``intercept``); zero rows for the pairs ``zero`` (P,)."""

    x: np.ndarray
    intercept: bool
    zero: np.ndarray
    k: int

    @classmethod
    def explicit(cls, design: np.ndarray) -> Design:
        design = np.ascontiguousarray(design, dtype=float)
        return cls(design, False, np.zeros(len(design), dtype=bool), design.shape[2])


def window_pass(
    ar: np.ndarray,
    design: Design,
    xtx_inv: np.ndarray,
    span: np.ndarray | None,
    windows: np.ndarray,
    returns: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    kind: str = "simple",
    sar: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    whole_rows: bool = False,
) -> WindowSums:
    """The window sums of ``ar`` (P, D) over each of ``windows`` (W, D) day masks, and with ``sar`` = (sigma (P,),
    estimation days (D,), out (P, E)) the SAR of the last E <= D days written into ``out`` (the pair stage stores
    the SARs of the days after the estimation window only).

    ``span`` (P, D): sessions each return spans (None: 1); ``returns``, ``normal`` (P, D): for BHAR (needed when
    W > 0); ``kind``: ``"simple"`` or ``"log"`` returns. ``whole_rows``: the CAR sums run over each pair's D days
    (zeros outside the window), as ``np.sum`` of a (P, D) array adds them; else over the window's own columns, as
    of the (P, C) array of its C days.
    """
    n_pairs, n_days = ar.shape
    windows = np.ascontiguousarray(windows, dtype=bool).reshape(-1, n_days)
    n_windows = len(windows)
    per_pair = span is not None  # else one session for every return
    span = np.ones((1, 1), dtype=np.int16) if span is None else span
    if returns is None:
        returns = normal = ar
    gross_r = gross_n = np.empty((0, 0))
    days = np.flatnonzero(windows.any(axis=0))
    first = int(days[0]) if len(days) else 0
    if kind == "log" and len(days):  # numpy's exp, as the array expressions take it
        cols = slice(first, int(days[-1]) + 1)
        gross_r, gross_n = np.exp(returns[:, cols]), np.exp(normal[:, cols])
    if sar is None:
        sigma, est_days, sar_out, do_sar = np.empty(0), np.zeros(n_days, dtype=bool), np.empty((0, 0)), False
    else:
        (sigma, est_days, sar_out), do_sar = sar, True
    k = design.k
    out = WindowSums(
        n_days=np.zeros((n_windows, n_pairs), dtype=np.int64),
        car=np.empty((n_windows, n_pairs)),
        s=np.empty((n_windows, n_pairs, k)),
        sessions=np.zeros((n_windows, n_pairs), dtype=np.int64),
        covered=np.zeros((n_windows, n_pairs), dtype=np.int64),
        real=np.empty((n_windows, n_pairs)),
        expected=np.empty((n_windows, n_pairs)),
        last_valid=np.zeros((n_windows, n_pairs), dtype=bool),
    )
    bounds = np.zeros((n_windows, 3), dtype=np.int64)  # columns summed [lo, hi), the window's last day (-1: none)
    for w, mask in enumerate(windows):
        inside = np.flatnonzero(mask)
        if len(inside):
            bounds[w] = (0, n_days, inside[-1]) if whole_rows else (inside[0], inside[-1] + 1, inside[-1])
        else:
            bounds[w, 2] = -1
    chunks = chunk_bounds(np.full(n_pairs, n_days * (1 + k * k * do_sar) + n_windows * 8))
    _pass_chunks(
        ar, design.x, design.intercept, design.zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n,
        first, kind == "log", windows, bounds, do_sar, sigma, np.asarray(est_days, dtype=bool), sar_out,
        out.n_days, out.car, out.s, out.sessions, out.covered, out.real, out.expected, out.last_valid, chunks,
    )  # fmt: skip
    return out


@numba.njit(cache=True, inline="always")
def column(x, intercept, p, d, a):  # pragma: no cover - compiled
    """Design entry (p, d, a): 1 for the implicit intercept, else the matching column of ``x``."""
    if intercept:
        return 1.0 if a == 0 else x[p, d, a - 1]
    return x[p, d, a]


_PREFETCH = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"  # opaque pointers or not


@intrinsic
def _prefetch(typingctx, address):
    """LLVM's prefetch of the cache line at ``address`` (intp) for reading, kept in every cache level (a hint: no
    effect on any value, never a fault)."""

    def codegen(context, builder, signature, args):
        i32, ptr = ir.IntType(32), cgutils.voidptr_t
        signature = ir.FunctionType(ir.VoidType(), [ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, signature, _PREFETCH)
        builder.call(fn, [builder.inttoptr(args[0], ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(types.intp), codegen


@numba.njit(cache=True, inline="always")
def prefetch_row(a, p, lo, hi):  # pragma: no cover - compiled
    """Prefetch the cache lines of ``a[p, lo:hi]`` (C-contiguous rows; trailing axes included)."""
    base = a.ctypes.data + p * a.strides[0]
    address = base + lo * a.strides[1]
    address -= address % 64
    last = base + hi * a.strides[1]
    while address < last:
        _prefetch(address)
        address += 64


@numba.njit(cache=True, nogil=True)
def pairwise_scratch():  # pragma: no cover - compiled
    """The stacks :func:`_pairwise_sum` needs for more than 128 values: (3, 64) int64 runs, (64,) float64 sums."""
    return np.empty((3, 64), dtype=np.int64), np.empty(64)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _pairwise_sum(values, lo, hi, scratch):  # pragma: no cover - compiled
    """numpy's pairwise summation of ``values[lo:hi]`` (``pairwise_sum_DOUBLE``), the order ``np.sum`` of a
    contiguous row adds in: blocks of up to 128 values (:func:`_block_sum`), longer runs split in halves (cut at a
    multiple of 8) and the halves' sums added. Without recursion (numba cannot load a cached recursive function):
    the halves are visited depth first with a stack of runs and one of partial sums, the caller's ``scratch``
    (:func:`pairwise_scratch`, made once for many calls). No reference counting and no allocation in a call: numba
    would count the references to ``values`` with atomic instructions at each (a call a pair and window in the
    window pass)."""
    if hi - lo <= _PAIRWISE_BLOCK:
        return _block_sum(values, lo, hi)
    runs, partial = scratch
    run_lo, run_hi, state = runs[0], runs[1], runs[2]
    run_lo[0], run_hi[0], state[0], top, n_partial = lo, hi, 0, 0, 0
    while top >= 0:
        a, b = run_lo[top], run_hi[top]
        half = (b - a) // 2
        half -= half % 8
        if b - a <= _PAIRWISE_BLOCK:
            partial[n_partial] = _block_sum(values, a, b)
            n_partial += 1
            top -= 1
        elif state[top] == 2:  # both halves summed: left + right
            n_partial -= 1
            partial[n_partial - 1] = partial[n_partial - 1] + partial[n_partial]
            top -= 1
        else:  # visit the left half (state 0), then the right one (state 1)
            state[top] += 1
            top += 1
            run_lo[top], run_hi[top] = (a, a + half) if state[top - 1] == 1 else (a + half, b)
            state[top] = 0
    return partial[0]


@numba.njit(cache=True, nogil=True, _nrt=False)
def _block_sum(values, lo, hi):  # pragma: no cover - compiled
    """numpy's sum of at most 128 values: in order below 8, else 8 interleaved accumulators and the rest."""
    n = hi - lo
    if n < 8:
        res = 0.0
        for i in range(lo, hi):
            res += values[i]
        return res
    r0, r1, r2, r3 = values[lo], values[lo + 1], values[lo + 2], values[lo + 3]
    r4, r5, r6, r7 = values[lo + 4], values[lo + 5], values[lo + 6], values[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += values[lo + i]
        r1 += values[lo + i + 1]
        r2 += values[lo + i + 2]
        r3 += values[lo + i + 3]
        r4 += values[lo + i + 4]
        r5 += values[lo + i + 5]
        r6 += values[lo + i + 6]
        r7 += values[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += values[lo + i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 gives inf or NaN as in numpy, never an exception
def _pass(
    ar, x, intercept, zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n, first, log, windows,
    bounds, do_sar, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected, last_valid, start, stop,
):  # pragma: no cover - compiled  # fmt: skip
    """:func:`_pairs`; the market model's (an intercept and one column, spans per pair, simple returns, SARs) with
    these as constants, so that its day loops do not branch on them."""
    if k == 2 and intercept and per_pair and not log and do_sar:
        _pairs(
            ar, x, True, zero, 2, xtx_inv, span, True, returns, normal, gross_r, gross_n, first, False, windows,
            bounds, True, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected, last_valid,
            start, stop,
        )  # fmt: skip
    else:
        _pairs(
            ar, x, intercept, zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n, first, log,
            windows, bounds, do_sar, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected,
            last_valid, start, stop,
        )  # fmt: skip


@numba.njit(cache=True, inline="always", error_model="numpy")  # inlined: constant arguments fold (30 at most)
def _pairs(
    ar, x, intercept, zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n, first, log, windows,
    bounds, do_sar, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected, last_valid, start, stop,
):  # pragma: no cover - compiled  # fmt: skip
    """The SARs and window sums of pairs [start, stop). A pair's values are read into locals once (an array read
    in a day loop is read again every day: a store may alias it) and its sums kept in registers: the same
    operations in the same order as through memory. The columns the pass reads of the pair AHEAD pairs on are
    prefetched (a pair's days are a row apart from the last one's: no hardware prefetcher follows them)."""
    n_cols = ar.shape[1]
    values, design_values = np.empty(n_cols), np.empty(n_cols)
    scratch = pairwise_scratch()
    touch_lo = n_cols - sar.shape[1] if do_sar else n_cols  # the columns read: [touch_lo, touch_hi)
    touch_hi = n_cols if do_sar else 0
    for w in range(windows.shape[0]):
        if bounds[w, 2] >= 0:
            touch_lo, touch_hi = min(touch_lo, bounds[w, 0]), max(touch_hi, bounds[w, 1])
    for p in range(start, stop):
        ahead = p + AHEAD
        if ahead < stop and touch_lo < touch_hi:
            prefetch_row(ar, ahead, touch_lo, touch_hi)
            prefetch_row(x, ahead, touch_lo, touch_hi)
            if per_pair:
                prefetch_row(span, ahead, touch_lo, touch_hi)
            if windows.shape[0]:
                prefetch_row(returns, ahead, touch_lo, touch_hi)
                prefetch_row(normal, ahead, touch_lo, touch_hi)
        sp = p if per_pair else 0
        zp = zero[p]
        if do_sar:
            skip = n_cols - sar.shape[1]  # ``sar`` holds the last days only
            sigma_p = sigma[p]
            two = k == 2 and not zp  # q = x'(X'X)^-1 x of a two-parameter model, its inverse in registers
            i00, i01, i10, i11 = (xtx_inv[p, 0, 0], xtx_inv[p, 0, 1], xtx_inv[p, 1, 0], xtx_inv[p, 1, 1]) if two else (
                0.0, 0.0, 0.0, 0.0)  # fmt: skip
            for d in range(skip, n_cols):
                if est_days[d]:  # C = 1: sqrt(1) sigma is sigma itself
                    sar[p, d - skip] = ar[p, d] / sigma_p
                else:
                    q = 0.0
                    if two:
                        x0, x1 = column(x, intercept, p, d, 0), column(x, intercept, p, d, 1)
                        q += x0 * ((0.0 + i00 * x0) + i01 * x1)
                        q += x1 * ((0.0 + i10 * x0) + i11 * x1)
                    elif not zp:
                        for a in range(k):
                            row = 0.0
                            for b in range(k):
                                row += xtx_inv[p, a, b] * column(x, intercept, p, d, b)
                            q += column(x, intercept, p, d, a) * row
                    c = q + float(max(span[sp, d if per_pair else 0], 1))
                    sar[p, d - skip] = ar[p, d] / (np.sqrt(c) * sigma_p)
        for w in range(windows.shape[0]):
            lo, hi = bounds[w, 0], bounds[w, 1]
            for a in range(k):
                s[w, p, a] = 0.0
            s0, s1, gross_real, gross_expected, n_valid, n_sessions, n_covered = 0.0, 0.0, 1.0, 1.0, 0, 0, 0
            for d in range(lo, hi):
                ar_d = ar[p, d]
                ok = windows[w, d] and not np.isnan(ar_d)
                values[d - lo] = ar_d if ok else 0.0
                if k == 1:
                    design_values[d - lo] = (0.0 if zp else column(x, intercept, p, d, 0)) if ok else 0.0
                elif k == 2:
                    s0 += (0.0 if zp else column(x, intercept, p, d, 0)) if ok else 0.0
                    s1 += (0.0 if zp else column(x, intercept, p, d, 1)) if ok else 0.0
                else:
                    for a in range(k):
                        s[w, p, a] += (0.0 if zp else column(x, intercept, p, d, a)) if ok else 0.0
                if ok:
                    n_valid += 1
                    k_days = span[sp, d if per_pair else 0]
                    n_sessions += max(k_days, 1)
                    n_covered += k_days
                    if log:
                        gross_real *= gross_r[p, d - first]
                        gross_expected *= gross_n[p, d - first]
                    else:
                        gross_real *= 1.0 + returns[p, d]
                        gross_expected *= 1.0 + normal[p, d]
            n_days[w, p] += n_valid
            sessions[w, p] += n_sessions
            covered[w, p] += n_covered
            real[w, p], expected[w, p] = gross_real, gross_expected
            car[w, p] = 0.0 + _pairwise_sum(values, 0, hi - lo, scratch)
            if k == 1:
                s[w, p, 0] = 0.0 + _pairwise_sum(design_values, 0, hi - lo, scratch)
            elif k == 2:
                s[w, p, 0], s[w, p, 1] = s0, s1
            last = bounds[w, 2]
            last_valid[w, p] = last >= 0 and not np.isnan(ar[p, last])


@numba.njit(cache=True, parallel=True, nogil=True)
def _pass_chunks(
    ar, x, intercept, zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n, first, log, windows,
    bounds, do_sar, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected, last_valid, chunks,
):  # pragma: no cover - compiled  # fmt: skip
    for c in numba.prange(len(chunks) - 1):
        _pass(
            ar, x, intercept, zero, k, xtx_inv, span, per_pair, returns, normal, gross_r, gross_n, first, log,
            windows, bounds, do_sar, sigma, est_days, sar, n_days, car, s, sessions, covered, real, expected,
            last_valid, chunks[c], chunks[c + 1],
        )  # fmt: skip


def window_complete(sums: WindowSums, w: int, window: np.ndarray) -> np.ndarray:
    """(P,) whether the returns summed into each CAR of window ``w`` (day mask ``window`` (D,), contiguous) cover
    exactly the window's sessions.

    The window's returns cover the sessions (u - k_u, u] for each day u with an abnormal return spanning k_u
    sessions; these intervals are contiguous, so they cover exactly [t1, t2] iff the last day t2 has a return and
    the spans add up to the window's length L2. False when a day at the window's end has no price or lies past the
    data, or when the first return reaches back before t1 (its day t1 - 1 has no price).
    """
    return sums.last_valid[w] & (sums.covered[w] == window.sum())
