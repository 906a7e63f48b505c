"""Which tests of the battery hold their size when pairs share dates, and which do not.

A test is *robust* only where a simulation shows it keeps its size when every pair shares one event date
(``STATISTICS.md``, "Clustered events"); the others are *naive*: their variance comes from the cross-section
and overstates significance when abnormal returns are correlated.

Of the group tests (``tests/test_group_sizes.py``): ``calendar_time_z`` holds its size with clustered dates
(N = 10 and 50) and with staggered, overlapping windows, so it is robust; ``bhar_skew_t`` is cross-sectional and
over-rejects (naive). Binder's tests hold their size on a shared date but are n/a otherwise, and
``calendar_time_nw`` is n/a on one date and too liberal in short series, so neither is classed here; nor is
``placebo_caar``, whose p-value is exact by construction under exchangeable dates.
"""

from __future__ import annotations

NAIVE_TESTS = ("csect_t", "patell_z", "bmp_t", "sign", "wilcoxon", "bhar_skew_t")
ROBUST_TESTS = ("kp_bmp_t", "time_series_t", "grank", "corrado_rank", "generalized_sign", "calendar_time_z")
