"""Running a compiled kernel over items on one thread, or on all threads in chunks of about equal work.

A parallel numba loop costs a thread launch (microseconds on an idle machine, milliseconds on a busy one), so
small jobs run serially; large ones are cut into a few chunks per thread by cumulative work, so that a thread
never waits on one heavy chunk. Each chunk writes only its own items' slots: results do not depend on threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numba
import numpy as np

PARALLEL_WORK = 1_000_000  # fewer element steps than this in all: one thread


def chunk_bounds(work: np.ndarray) -> np.ndarray:
    """Bounds (C + 1,) of C consecutive chunks of items with about equal total ``work`` (C = 1 for small jobs)."""
    work = np.asarray(work, dtype=float)
    total = work.sum()
    threads = numba.get_num_threads()
    if threads < 2 or len(work) < 2 or total < PARALLEL_WORK:
        return np.array([0, len(work)], dtype=np.int64)
    parts = 8 * threads
    cuts = np.searchsorted(np.cumsum(work), total * np.arange(1, parts) / parts)
    return np.unique(np.r_[0, cuts, len(work)]).astype(np.int64)


def run_chunked(serial: Callable, parallel: Callable, args: tuple, work: np.ndarray) -> None:
    """``serial(*args, lo, hi)`` over all items, or ``parallel(*args, bounds)`` over chunks of them."""
    bounds = chunk_bounds(work)
    if len(bounds) <= 2:
        serial(*args, 0, len(work))
    else:
        parallel(*args, bounds)


def split_elementwise(fn: Callable, *arrays: np.ndarray, min_items: int = 100_000) -> np.ndarray:
    """``fn(*arrays)`` of an elementwise ``fn`` (a ufunc, or numpy code that releases the GIL) on 1-D arrays of one
    length, computed in equal parts on all threads for ``min_items`` items or more: each item's value is the same
    as in one call, only the work is shared."""
    n, threads = len(arrays[0]), numba.get_num_threads()
    if threads < 2 or n < min_items:
        return fn(*arrays)
    cuts = np.linspace(0, n, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(threads, thread_name_prefix="eventstudy-elementwise") as pool:
        parts = pool.map(lambda lo, hi: fn(*(a[lo:hi] for a in arrays)), cuts[:-1], cuts[1:])
        return np.concatenate(list(parts))


def concurrent_kernels() -> bool:
    """Whether two threads may launch numba's parallel kernels at once: a threadsafe layer (OpenMP, TBB) is in use
    (numba chooses it at the first parallel kernel; before any has run, assume not). Under the ``workqueue`` layer
    numba aborts the process when two threads launch parallel kernels at once."""
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet
        return False


def in_background(function: Callable, *args) -> Future:
    """``function(*args)`` started on a thread of its own; ``.result()`` waits for it (and raises its error). The
    result does not depend on the thread. Where numba's threading layer is ``workqueue`` (no OpenMP or TBB), two
    threads may not launch parallel kernels at once (numba aborts the process), so the call runs here
    (:func:`concurrent_kernels`)."""
    if not concurrent_kernels():
        done: Future = Future()
        done.set_result(function(*args))
        return done
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventstudy-tests")
    try:
        return pool.submit(function, *args)
    finally:
        pool.shutdown(wait=False)  # the submitted call still runs; the thread ends with it
