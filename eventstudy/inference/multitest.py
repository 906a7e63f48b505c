"""Multiple-testing adjustment of the test table: Holm (1979) and Benjamini & Hochberg (1995).

A study with E events and W windows runs each test E x W times; some reject by chance. For each measure (returns,
volume, ...), test and level (the per-event rows, or the pooled ``all`` rows) the family is that test's rows over
all events x windows, and the p-values are adjusted within it. With the m p-values sorted, p_(1) <= ... <= p_(m):

* ``p_holm`` (Holm 1979, step-down; controls the family-wise error rate):
  p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j));
* ``p_bh`` (Benjamini & Hochberg 1995, step-up; controls the false discovery rate):
  p~_(i) = min(1, min_{j >= i} m p_(j) / j).

These are the adjustments of ``statsmodels.stats.multitest.multipletests`` (methods ``holm`` and ``fdr_bh``),
against which the tests check them; they are computed here with numpy because statsmodels' function runs a full
garbage collection on every call (0.3 s each in a study with placebo draws). Rows without a p-value stay NaN and
are not counted in the family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (module docstring), in the input order."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (module docstring), in the input order."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum.accumulate((m * p[order] / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def adjust_p_values(tests: pd.DataFrame) -> pd.DataFrame:
    """``tests`` (``group, window, test, p_value``, ...) with ``p_holm`` and ``p_bh`` added (module docstring).

    The families are found by integer codes of (measure, test, level) and two sorts, by p then (stable) by family
    (no groupby on text); each family's rows then come sorted by p, so the sorts inside :func:`holm` and
    :func:`benjamini_hochberg` are linear passes. Tied p-values may come in any order: both adjustments give every
    row of a tie the same number (Holm's running maximum takes the tie's first and largest (m - j + 1) p, BH's
    running minimum its last and smallest m p / j), so the first sort need not be stable (a third of a stable
    sort's time), and the family codes, fewer than 2^16, are sorted by numpy's radix sort.
    """
    p = tests["p_value"].to_numpy(dtype=float)
    p_holm, p_bh = np.full(len(tests), np.nan), np.full(len(tests), np.nan)
    keep = np.flatnonzero(np.isfinite(p))
    if len(keep):
        keep = keep[np.argsort(p[keep])]
        measure = pd.factorize(tests["measure"])[0] if "measure" in tests else np.zeros(len(tests), np.int64)
        test = pd.factorize(tests["test"])[0]
        level = (tests["group"].astype(str) == "all").to_numpy()
        key = ((measure * (test.max() + 1) + test) * 2 + level)[keep]
        sort = np.argsort(key.astype(np.uint16) if key.max() < 1 << 16 else key, kind="stable")
        for rows in np.split(keep[sort], np.flatnonzero(np.diff(key[sort])) + 1):
            p_holm[rows], p_bh[rows] = holm(p[rows]), benjamini_hochberg(p[rows])
    return tests.assign(p_holm=p_holm, p_bh=p_bh)
