"""The result of one test (statistic, two-sided p-value, pairs used) and the p-value helpers every test shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventstudy.inference import distributions as stats

NA = float("nan")


@dataclass(frozen=True)
class TestResult:
    """One test's statistic, two-sided p-value and the number of pairs it used."""

    statistic: float
    p_value: float
    n: int


def t_p(t: float, dof: float) -> float:
    """Two-sided p-value of ``t`` under Student's t with ``dof`` degrees of freedom (NaN when undefined)."""
    return float(2 * stats.t.sf(abs(t), dof)) if np.isfinite(t) and dof > 0 else NA


def z_p(z: float) -> float:
    """Two-sided p-value of ``z`` under N(0, 1) (NaN when undefined)."""
    return float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else NA
