"""The `family` labels are earned by simulation: size under clustered dates and overlapping windows, and power.

Each simulated event has its own firms and common shock, so the per-event rows of one fit are independent samples
of a study (N firms, residual correlation rho 0.3 in calendar time). Scenarios: clustered dates (every firm of an
event on one day 0; N = 10 and 50) and staggered windows (50 firms whose day 0 is spread over 40 sessions, window
[-5, 5], so windows overlap partially). A 5% test over n samples rejects within 5% +- 2.576 sqrt(0.05 x 0.95 / n)
with 99% probability: 1.8% .. 8.2% for n = 300, 1.0% .. 9.0% for n = 200 (the interval asserted below).
Run with ``-s`` to print the size and power tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import EventStudy
from eventstudy.engine.statistics import TEST_NAMES
from eventstudy.inference import ROBUST_TESTS
from eventstudy.simulate import simulate_study

STAGGERED = {"n_firms": 50, "rho": 0.3, "spread": 40, "day0": 260, "n_days": 320}
SCENARIOS = {  # name: (simulation, event window, samples)
    "clustered N=10": ({"n_firms": 10, "rho": 0.3}, (0, 0), 300),
    "clustered N=50": ({"n_firms": 50, "rho": 0.3}, (0, 0), 200),
    "staggered N=50": (STAGGERED, (-5, 5), 200),
}
POWER = {  # planted effect: 3% on day 0 (clustered), 1% a day on days 0..5 (staggered); 60 samples each
    "clustered N=50, +3% on day 0": ({"n_firms": 50, "rho": 0.3, "effect": 0.03}, (0, 0), 60),
    "staggered N=50, +1%/day on 0..5": ({**STAGGERED, "effect": 0.01, "effect_days": tuple(range(6))}, (-5, 5), 60),
}


def _mc_interval(n: int) -> tuple[float, float]:
    half = 2.576 * np.sqrt(0.05 * 0.95 / n)
    return 0.05 - half, 0.05 + half


def rejection_table(scenarios: dict, seed: int = 12) -> pd.DataFrame:
    """Share of per-event samples rejecting at 5%, tests (rows) x scenarios (columns), with each test's family."""
    columns = {}
    for name, (kwargs, window, n) in scenarios.items():
        sim = simulate_study(n_events=n, seed=seed, **kwargs)
        res = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", windows=[window]).fit()
        rows = res.tests[res.tests["group"] != "all"]
        assert rows["group"].nunique() == n
        columns[name] = (rows["p_value"] < 0.05).groupby(rows["test"]).mean()
        families = rows.drop_duplicates("test").set_index("test")["family"]
    table = pd.DataFrame(columns)
    table.insert(0, "family", families)
    return table.sort_index().sort_values("family", key=lambda c: c.map({"robust": 0, "naive": 1}), kind="stable")


@pytest.fixture(scope="module")
def size() -> pd.DataFrame:
    table = rejection_table(SCENARIOS)
    print("\nSize: rejection rate at 5% on pure noise\n" + table.to_string(float_format="{:.3f}".format))
    return table


@pytest.fixture(scope="module")
def power() -> pd.DataFrame:
    table = rejection_table(POWER, seed=13)
    print("\nPower: rejection rate at 5% with a planted effect\n" + table.to_string(float_format="{:.3f}".format))
    return table


def test_every_robust_test_holds_its_size_under_clustering_and_overlap(size):
    robust = size[size["family"] == "robust"]
    assert set(ROBUST_TESTS) <= set(robust.index)
    for scenario, (_, _, n) in SCENARIOS.items():
        lo, hi = _mc_interval(n)
        for test, rate in robust[scenario].items():
            assert lo <= rate <= hi, (scenario, test, rate, (lo, hi))


def test_naive_tests_over_reject_somewhere(size):
    """Each naive test of the battery fails at least one scenario; the naive cross-sectional t fails all of them."""
    assert (size.loc["csect_t", list(SCENARIOS)] > [0.25, 0.4, 0.2]).all(), size.loc["csect_t"]
    assert size.loc["generalized_sign", list(SCENARIOS)].min() > 0.12  # Cowan's sign is not robust to clustering
    naive = [t for t in TEST_NAMES if t not in ROBUST_TESTS]
    worst = size.loc[naive, list(SCENARIOS)].max(axis=1)
    assert (worst > _mc_interval(200)[1]).all(), worst
    assert (size.loc[naive, "family"] == "naive").all()


def test_robust_tests_have_power(power):
    robust = power[power["family"] == "robust"]
    assert (robust[list(POWER)] > 0.5).all().all(), robust
