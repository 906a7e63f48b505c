"""``results.timings``: the seconds of each phase of ``fit()``, each charged to the phase that spent them (the
benchmark prints them as the phase breakdown)."""

from __future__ import annotations

import time

import eventstudy.engine.stages as stages
from eventstudy import EventStudy
from eventstudy.simulate import simulate_study

PAUSE = 0.3


def test_the_aar_table_is_charged_to_tables_not_placebo(monkeypatch):
    """Building the AAR frame is table work: with placebo inference off, the "placebo" phase holds no table's time
    (it did: the AAR frame's seconds were lapped as "placebo", a phase the benchmark does not print)."""
    sim = simulate_study(n_events=3, n_firms=3, effect=0.01, rho=0.2, same_date=False, seed=5)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=0)
    build = stages._aar_frame

    def slow_aar_frame(*args, **kwargs):
        time.sleep(PAUSE)
        return build(*args, **kwargs)

    monkeypatch.setattr(stages, "_aar_frame", slow_aar_frame)
    timings = study.fit().timings
    assert timings["tables"] >= PAUSE
    assert timings.get("placebo", 0.0) < PAUSE
    assert set(timings) >= {"panel", "model", "statistics", "tests", "rank tests", "tables"}
