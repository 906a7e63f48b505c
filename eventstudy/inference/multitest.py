"""Multiple-testing adjustment of the test table: Holm (1979) and Benjamini & Hochberg (1995).

A study with E events and W windows runs each test E x W times; some reject by chance. For each test and level
(the per-event rows, or the pooled ``all`` rows) the family is that test's rows over all events x windows, and
the p-values are adjusted within it by ``statsmodels.stats.multitest.multipletests``:

* ``p_holm``: Holm's step-down adjustment (controls the family-wise error rate);
* ``p_bh``: Benjamini-Hochberg's step-up adjustment (controls the false discovery rate).

Rows without a p-value stay NaN and are not counted in the family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests


def adjust_p_values(tests: pd.DataFrame) -> pd.DataFrame:
    """``tests`` (``group, window, test, p_value``, ...) with ``p_holm`` and ``p_bh`` added (module docstring)."""
    out = tests.copy()
    out["p_holm"] = np.nan
    out["p_bh"] = np.nan
    if out.empty:
        return out
    level = np.where(out["group"].astype(str) == "all", "all", "event")
    p = out["p_value"].to_numpy(dtype=float)
    for _, idx in out.groupby([out["test"], level], sort=False).indices.items():
        keep = idx[np.isfinite(p[idx])]
        if len(keep) == 0:
            continue
        out.iloc[keep, out.columns.get_loc("p_holm")] = multipletests(p[keep], method="holm")[1]
        out.iloc[keep, out.columns.get_loc("p_bh")] = multipletests(p[keep], method="fdr_bh")[1]
    return out
