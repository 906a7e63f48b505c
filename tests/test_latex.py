"""results.to_latex(): every CAR and pooled statistic of the run appears, with stars from its p, text escaped."""

from __future__ import annotations

import pandas as pd

from eventstudy import EventStudy


def test_to_latex_tables(prices_dir):
    events = pd.DataFrame({"event_id": ["E_1&2"] * 2, "ticker": ["MP", "UUUU"], "date": ["2025-10-09"] * 2})
    res = EventStudy(events, prices_dir, market="SPY", windows=[(0, 0), (0, 1)]).fit()
    tex = res.to_latex()
    assert tex.count(r"\begin{tabular}") == 2 and tex.count(r"\bottomrule") == 2
    assert r"E\_1\&2 & MP" in tex and r"csect\_t" in tex
    for row in res.car.itertuples():
        stars = (
            "$^{***}$" if row.car_p < 0.01 else "$^{**}$" if row.car_p < 0.05 else "$^{*}$" if row.car_p < 0.1 else ""
        )
        assert f"${row.car:+.4f}${stars} &" in tex or f"${row.car:+.4f}${stars} \\\\" in tex
        assert f"({row.car_t:+.2f})" in tex
    pooled = res.tests[(res.tests["group"] == "all") & (res.tests["measure"] == "return")]
    for row in pooled.dropna(subset=["statistic"]).itertuples():
        assert f"${row.statistic:+.2f}$ [{row.p_value:.3f}]" in tex
