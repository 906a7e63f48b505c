"""Which tests of the battery hold their size when pairs share dates, and which do not.

A test is *robust* only where a simulation shows it keeps its size when every pair shares one event date
(``STATISTICS.md``, "Clustered events"); the others are *naive*: their variance comes from the cross-section
and overstates significance when abnormal returns are correlated.
"""

from __future__ import annotations

NAIVE_TESTS = ("csect_t", "patell_z", "bmp_t", "sign", "wilcoxon")
ROBUST_TESTS = ("kp_bmp_t", "time_series_t", "grank", "corrado_rank", "generalized_sign")
