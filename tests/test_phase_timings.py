"""``results.timings``: the seconds of each phase of ``fit()``, each charged to the phase that spent them (the
benchmark prints them as the phase breakdown)."""

from __future__ import annotations

import time

import eventstudy.engine.stages as stages
from eventstudy import EventStudy
from eventstudy.simulate import simulate_study

PAUSE = 0.3


def test_tables_and_tests_are_not_charged_to_placebo(monkeypatch):
    """Building the AAR frame is table work and the volatility tests are tests: with placebo inference off, the
    "placebo" phase holds neither (it held both: their seconds were lapped as "placebo", a phase the benchmark does
    not print)."""
    sim = simulate_study(n_events=3, n_firms=3, effect=0.01, rho=0.2, same_date=False, seed=5)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=0)
    for name in ("_aar_frame", "volatility_frame"):
        monkeypatch.setattr(stages, name, _slow(getattr(stages, name)))
    timings = study.fit().timings
    assert timings["tables"] >= PAUSE
    assert timings["tests"] >= PAUSE
    assert timings.get("placebo", 0.0) < PAUSE
    assert set(timings) >= {"panel", "model", "statistics", "tests", "rank tests", "tables"}


def _slow(function):
    def slow(*args, **kwargs):
        time.sleep(PAUSE)
        return function(*args, **kwargs)

    return slow
