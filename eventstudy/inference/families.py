"""Which tests hold their size when pairs share dates or overlap in time (``robust``), and which do not (``naive``).

A test is ``robust`` only where a simulation in the test suite shows it keeps its size both when pairs share one
event date (clustered dates, residual correlation 0.3, N = 10 and 50) and when their event windows overlap in
calendar time (staggered events): ``tests/test_families.py`` for the battery, ``tests/test_group_sizes.py`` for
the group tests. Every other test is ``naive``: its variance comes from the cross-section or from relative-day
averages that ignore the overlap, and it overstates significance when abnormal returns are correlated
(``STATISTICS.md``, "Families"). Being non-parametric does not make a test robust: Cowan's generalized sign
over-rejects with clustered dates; the Brown-Warner, Corrado and GRANK tests hold with clustered dates but
over-reject with staggered windows.

Of the group tests: ``calendar_time_z`` holds its size in both designs (robust); ``bhar_skew_t`` is
cross-sectional and over-rejects (naive). Binder's tests hold their size on a shared date but are n/a otherwise,
``calendar_time_nw`` is n/a on one date and too liberal in short series, and ``placebo_caar``'s p-value is exact
by construction under exchangeable dates but was not simulated here: none of them is shown robust in both
designs, so :func:`family` files them as naive. ``wild_bootstrap`` is naive too: on one shared date with a
short window it has only 2^D sign patterns (D dates) and never rejects (size 0, below the interval;
``tests/test_bootstrap.py``), so it is not shown to hold its size under clustered dates.
"""

from __future__ import annotations

NAIVE_TESTS = (
    "csect_t",
    "patell_z",
    "bmp_t",
    "time_series_t",
    "corrado_rank",
    "grank",
    "sign",
    "generalized_sign",
    "wilcoxon",
    "bhar_skew_t",
)
ROBUST_TESTS = ("kp_bmp_t", "calendar_time_z")
FAMILIES = ("naive", "robust")


def family(test: str) -> str:
    """``"robust"`` for a test in :data:`ROBUST_TESTS`, else ``"naive"`` (tests not shown robust are naive)."""
    return "robust" if test in ROBUST_TESTS else "naive"
