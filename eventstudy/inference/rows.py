"""Exact factorisation of the rows of a 2-D integer array: which rows are identical (``np.unique(axis=0)``, fast).

``np.unique(a, axis=0)`` sorts whole rows lexicographically, which costs seconds on (100k, 240) arrays. Here each
row is hashed once (64-bit multiply-xorshift over its values, compiled), the hashes are factorised with pandas'
hash table, and every row is then compared value by value with the first row of its hash code: the partition is
exact, and a row that merely collides with another's hash gets a code of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import pandas as pd

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.inference.threads import run_chunked


def factorize_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of identical rows.

    Parameters
    ----------
    values
        (N, D) integer array (views of datetimes as int64 work).

    Returns
    -------
    codes, first
        ``codes`` (N,) int64 in [0, K), numbered in order of first appearance; ``first`` (K,) the index of the first
        row with each code. Rows with one code are identical. Identical rows share a code unless their 64-bit
        hashes differ, which they cannot; a (practically impossible) hash collision of different rows gives the
        later row a code of its own, so no two different rows ever share one.
    """
    values = np.ascontiguousarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError(f"factorize_rows needs an integer array, got {values.dtype}")
    if values.ndim != 2:
        raise ValueError(f"factorize_rows needs a 2-D array, got {values.ndim} dimensions")
    return factorize_hashed(_row_hashes(values), lambda codes, first: _differs_from_first(values, codes, first))


def factorize_hashed(
    hashes: np.ndarray, differs: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_rows` of rows given by their 64-bit hashes (N,) (:func:`hash_row`) and ``differs(codes,
    first)``, (N,) whether each row differs from the first row of its hash's code (the exactness check)."""
    codes, _ = pd.factorize(hashes)
    codes = codes.astype(np.int64)
    seen = np.maximum.accumulate(codes)  # codes come in order of first appearance: a new code exceeds all before
    first = np.flatnonzero(np.r_[True, codes[1:] > seen[:-1]]) if len(codes) else np.zeros(0, np.int64)
    clash = np.flatnonzero(differs(codes, first))
    if len(clash):
        codes[clash] = len(first) + np.arange(len(clash))
        first = np.r_[first, clash]
    return codes, first


@numba.njit(cache=True)
def _mix(h):  # pragma: no cover - compiled
    """The splitmix64 finaliser: every input bit reaches every output bit."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _row_hashes(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=np.uint64)
    run_chunked(_hash_range, _hash_chunks, (values, out), np.full(len(values), values.shape[1]))
    return out


@numba.njit(cache=True, nogil=True)
def _hash_range(values, out, lo, hi):  # pragma: no cover - compiled
    for i in range(lo, hi):
        out[i] = hash_row(values[i])


@numba.njit(cache=True)
def hash_row(row):  # pragma: no cover - compiled
    """A row's 64-bit hash: four interleaved lanes (independent chains run in parallel), each h = mix(h + value),
    then mixed."""
    width = len(row)
    h0 = np.uint64(0x243F6A8885A308D3)
    h1 = np.uint64(0x13198A2E03707344)
    h2 = np.uint64(0xA4093822299F31D0)
    h3 = np.uint64(0x082EFA98EC4E6C89)
    for t in range(0, width - 3, 4):
        h0 = _mix(h0 + np.uint64(row[t]))
        h1 = _mix(h1 + np.uint64(row[t + 1]))
        h2 = _mix(h2 + np.uint64(row[t + 2]))
        h3 = _mix(h3 + np.uint64(row[t + 3]))
    for t in range(width - width % 4, width):
        h0 = _mix(h0 + np.uint64(row[t]))
    return _mix(_mix(_mix(h0 + np.uint64(width)) ^ h1) + h2) ^ h3


@numba.njit(parallel=True, cache=True, nogil=True)
def _hash_chunks(values, out, bounds):  # pragma: no cover - compiled
    for c in numba.prange(len(bounds) - 1):
        _hash_range(values, out, bounds[c], bounds[c + 1])


@numba.njit(cache=True, nogil=True)
def _differs_from_first(values, codes, first):  # pragma: no cover - compiled
    out = np.zeros(len(values), dtype=np.bool_)
    for i in range(len(values)):
        r = first[codes[i]]
        if r != i:
            for t in range(values.shape[1]):
                if values[i, t] != values[r, t]:
                    out[i] = True
                    break
    return out
