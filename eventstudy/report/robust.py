"""The report's section on inference for shared dates and overlapping windows: p-values side by side.

One table per run, pooled group ``all``, a row per window: the naive cross-sectional t, the Kolari-Pynnönen
adjusted BMP t, the placebo (randomization) p of the CAAR, Binder's SUR tests, the calendar-time portfolio tests
and the LBT skewness-adjusted BHAR t; then, for the main window, every test's raw p beside its Holm and
Benjamini-Hochberg adjustments (across events x windows) and its placebo p.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eventstudy.plotting import window_label
from eventstudy.report.document import Para, Table, fmt_num, fmt_p, frame_of
from eventstudy.results import PLACEBO_NONE

SIDE_BY_SIDE = (
    ("csect_t", "naive t"),
    ("kp_bmp_t", "KP-BMP t"),
    ("placebo_caar", "placebo CAAR"),
    ("binder_caar_z", "Binder CAAR z"),
    ("binder_wald", "Binder joint F"),
    ("calendar_time_z", "calendar-time z"),
    ("calendar_time_nw", "calendar-time NW t"),
    ("bhar_skew_t", "BHAR skew-adj. t"),
)


def _value(tests: pd.DataFrame, window: str, test: str, column: str) -> float:
    rows = tests[(tests["window"].astype(str) == window) & (tests["test"] == test)]
    if rows.empty or column not in rows:
        return float("nan")
    return float(rows[column].iloc[0])


def _cell(tests: pd.DataFrame, window: str, test: str) -> str:
    stat, p = _value(tests, window, test, "statistic"), _value(tests, window, test, "p_value")
    if not np.isfinite(p):
        return "n/a"
    shown = f"{stat:+.2%}" if test == "placebo_caar" else fmt_num(stat)
    return f"{shown} ({fmt_p(p)})"


def robust_blocks(results: Any, main: str) -> list:
    """The section's paragraphs and tables (module docstring); empty when the run has no group tests."""
    tests = frame_of(results, "tests")
    if tests.empty or "binder_wald" not in set(tests["test"]):
        return []
    returns = tests["measure"].astype(str) == "return" if "measure" in tests else True
    pooled = tests[returns & (tests["group"].astype(str) == "all")]
    windows = list(dict.fromkeys(pooled["window"].astype(str)))
    rows = [[window_label(w), *[_cell(pooled, w, t) for t, _ in SIDE_BY_SIDE]] for w in windows]
    draws = frame_of(results, "placebo")
    n_draws = (
        draws[draws["test"] == "caar"].groupby("window")["draw"].nunique().to_dict()
        if not draws.empty and "draw" in draws
        else {}
    )
    intro = (
        "Pooled over all pairs; cells: statistic (p). The placebo p is the share of pseudo-event dates of the same "
        "tickers (all moved together, clean of catalogued events and confounders) whose |CAAR| is at least the "
        "observed one"
        + (
            f" ({', '.join(f'{window_label(w)}: {n} draws' for w, n in n_draws.items())})"
            if n_draws
            else f" (placebo: {PLACEBO_NONE})"
            if isinstance(getattr(results, "placebo", None), pd.DataFrame)  # it ran, and no pseudo date was usable
            else " (no placebo in this run: placebo_draws = 0)"
        )
        + ". Binder: SUR with event-day dummies, residual covariance across tickers from the estimation window "
        "(joint: every AR is zero, Hotelling F; CAAR: their average, z); n/a unless all pairs share one day 0. "
        "Calendar-time: each "
        "date's equally weighted portfolio, standardized by its own estimation-period volatility (z) or tested "
        "with a Newey-West variance (NW t, needs 10 or more calendar dates)."
    )
    blocks: list = [Para(intro, "note"), Table(["window", *[name for _, name in SIDE_BY_SIDE]], rows)]
    main_rows = pooled[pooled["window"].astype(str) == main]
    if not main_rows.empty:
        cols = ["test", "statistic", "p", "p Holm", "p BH", "p placebo"]
        table = [
            [
                str(r.test),
                fmt_num(r.statistic),
                fmt_p(r.p_value),
                fmt_p(getattr(r, "p_holm", np.nan)),
                fmt_p(getattr(r, "p_bh", np.nan)),
                fmt_p(getattr(r, "p_placebo", np.nan)),
            ]
            for r in main_rows.itertuples(index=False)
        ]
        blocks += [
            Para(
                f"Window {window_label(main)}: raw p-values beside the Holm (family-wise) and Benjamini-Hochberg "
                "(false discovery rate) adjustments, each over that test's pooled rows across the windows (the "
                "per-event rows are adjusted across events x windows), and the placebo p of the statistic itself.",
                "note",
            ),
            Table(cols, table, numeric=True),
        ]
    return blocks
