"""A plain-English reading of a window's pooled tests: the naive t beside the KP-adjusted BMP t."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eventstudy.plotting import (
    window_label,
)
from eventstudy.report.document import (
    fmt_pct,
    frame_of,
    p_phrase,
)


# ------------------------------------------------------------------------------------------------- reading
def _implied_rbar(bmp: float, kp: float, n: int) -> float | None:
    """Invert kp = bmp * sqrt((1 - r) / (1 + (n - 1) r)) for the average residual correlation r."""
    if n < 2 or not np.isfinite(bmp) or not np.isfinite(kp) or bmp == 0 or kp / bmp <= 0:
        return None
    f2 = (kp / bmp) ** 2
    return (1 - f2) / (1 + (n - 1) * f2)


def _rbar(tests: pd.DataFrame, group: str, window: str) -> float | None:
    """The average pairwise residual correlation the engine recorded for ``kp_bmp_t`` (``rbar`` column)."""
    if "rbar" not in tests:
        return None
    rows = tests[(tests["group"].astype(str) == group) & (tests["window"].astype(str) == window)]
    values = pd.to_numeric(rows["rbar"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


def test_row(tests: pd.DataFrame, group: str, window: str, test: str) -> tuple[float, float, int]:
    rows = tests[
        (tests["group"].astype(str) == group) & (tests["window"].astype(str) == window) & (tests["test"] == test)
    ]
    if rows.empty:
        return float("nan"), float("nan"), 0
    row = rows.iloc[0]
    n = int(row["n"]) if pd.notna(row["n"]) else 0
    return float(row["statistic"]), float(row["p_value"]), n


def reading(results: Any, window: str, group: str = "all", alpha: float = 0.05) -> str:
    """One plain-English line comparing the naive cross-sectional t with the KP-adjusted BMP t.

    The average pairwise residual correlation is the ``rbar`` column of ``results.tests`` when present, else it
    is recovered from the two BMP statistics (kp_bmp_t = bmp_t * sqrt((1 - r) / (1 + (N - 1) r)), Kolari &
    Pynnönen 2010), so the sentence only uses numbers that are in ``results.tests``.
    """
    tests = frame_of(results, "tests")
    car = frame_of(results, "car")
    naive_t, naive_p, n = test_row(tests, group, window, "csect_t")
    kp_t, kp_p, _ = test_row(tests, group, window, "kp_bmp_t")
    bmp_t, _, bmp_n = test_row(tests, group, window, "bmp_t")
    rows = car[car["window"].astype(str) == window]
    if group != "all":
        rows = rows[rows["event_id"].astype(str) == group]
    caar = float(rows["car"].mean()) if len(rows) else float("nan")
    label = f"CAR{window_label(window)}"
    head = f"Mean {label} is {fmt_pct(caar)} over N={n or len(rows)} pairs. "
    if not (np.isfinite(naive_p) and np.isfinite(kp_p)):
        return head + "The pooled tests are not available for this window."
    naive = f"the naive cross-sectional t is {naive_t:.1f} ({p_phrase(naive_p)})"
    robust = f"the KP-adjusted BMP t is {kp_t:.1f} ({p_phrase(kp_p)})"
    rbar = _rbar(tests, group, window)
    rbar = _implied_rbar(bmp_t, kp_t, bmp_n or n) if rbar is None else rbar
    params = frame_of(results, "parameters")
    if group != "all" and "event_id" in params:
        params = params[params["event_id"].astype(str) == group]
    dates = pd.to_datetime(params.get("day0_date", pd.Series(dtype=str)), errors="coerce").dropna()
    if dates.nunique() == 1:
        among = f"among N={bmp_n or n} same-day pairs"
    else:
        among = f"among N={bmp_n or n} pairs on {dates.nunique()} dates"
    corr = f"the average pairwise residual correlation of {rbar:.2f} {among}" if rbar is not None else None
    naive_sig, robust_sig = naive_p < alpha, kp_p < alpha
    if naive_sig and not robust_sig:
        why = f": {corr} means" if corr else ": cross-correlation means"
        return head + f"{naive.capitalize()} but {robust}{why} the evidence is weaker than the naive test suggests."
    if naive_sig and robust_sig:
        tail = f" after allowing for {corr}" if corr else ""
        return head + f"{naive.capitalize()} and {robust}: the effect survives the adjustment{tail}."
    if robust_sig:
        return (
            head + f"{robust.capitalize()} while {naive}: standardizing by each pair's own volatility reveals an "
            "effect the raw CARs' dispersion hides."
        )
    tail = f" ({corr})" if corr else ""
    return (
        head + f"Neither test rejects zero at {alpha:.0%}: {naive}, {robust}{tail}; no reliable average "
        "abnormal return in this window."
    )
