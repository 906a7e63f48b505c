"""rbar for kp_bmp_t: overlap-weighted, no chaining, exact with missing residuals at any N (pandas, BLAS references)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.inference import correlation as cr

CAL = pd.bdate_range("2024-01-01", periods=420).values


def _brute(res, dates, window_dates, min_shared=20):
    """The definition, pair by pair: pandas' pairwise-complete correlation on shared dates x shared window share."""
    n = len(res)
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            wi, wj = set(window_dates[i][~np.isnat(window_dates[i])]), set(window_dates[j][~np.isnat(window_dates[j])])
            shared = len(wi & wj)
            if not shared:
                continue
            a, b = pd.Series(res[i], index=dates[i]), pd.Series(res[j], index=dates[j])
            both = pd.concat([a, b], axis=1, sort=True).dropna()
            rho = both.corr().iloc[0, 1] if len(both) >= min_shared else np.nan
            if np.isfinite(rho):
                total += shared / np.sqrt(len(wi) * len(wj)) * rho
    return total / (n * (n - 1) / 2)


def _blas_reference(res):
    """Pairwise-complete correlations of rows on one calendar from masked matrix products (no kernel, no cells)."""
    m = np.isfinite(res).astype(float)
    x = np.where(m > 0, res, 0.0)
    n, sx, sxx, sxy = m @ m.T, x @ m.T, (x * x) @ m.T, x @ x.T
    cov = sxy - sx * sx.T / n
    rho = cov / np.sqrt((sxx - sx**2 / n) * (sxx.T - sx.T**2 / n))
    return rho[np.triu_indices(len(res), 1)].mean()


def test_one_shared_date_is_the_plain_average_pairwise_correlation():
    rng = np.random.default_rng(5)
    res = 0.6 * rng.normal(size=200) + rng.normal(size=(6, 200))
    res[0, :20] = np.nan
    dates = np.tile(CAL[:200], (6, 1))
    day = np.full((6, 1), CAL[300])
    corr = pd.DataFrame(res.T).corr().to_numpy()
    assert cr.mean_pairwise_correlation(res, dates, day) == pytest.approx(corr[np.triu_indices(6, 1)].mean())


def test_chain_of_windows_does_not_link_the_ends():
    """Issue 12: A[0,2], B[2,4], C[4,6]; A and C identical, B independent. A and C never overlap: they count 0,
    and A-B, B-C share one of three window days. (The chained clusters gave 0.37 here.)"""
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=250), rng.normal(size=250)
    res, dates = np.vstack([a, b, a]), np.tile(CAL[:250], (3, 1))
    windows = np.stack([CAL[300 + s : 303 + s] for s in (0, 2, 4)])
    rho_ab = np.corrcoef(a, b)[0, 1]
    rbar = cr.mean_pairwise_correlation(res, dates, windows)
    assert rbar == pytest.approx((rho_ab / 3 + rho_ab / 3) / 3)
    assert abs(rbar) < 0.02


def test_partial_overlap_counts_the_share_of_window_days():
    rng = np.random.default_rng(6)
    res = rng.normal(size=200) + 0.1 * rng.normal(size=(2, 200))
    dates = np.tile(CAL[:200], (2, 1))
    windows = np.stack([CAL[300:305], CAL[303:308]])  # two of five days in common
    rho = np.corrcoef(res)[0, 1]
    assert cr.mean_pairwise_correlation(res, dates, windows) == pytest.approx(0.4 * rho)
    apart = np.stack([CAL[300:305], CAL[305:310]])
    assert cr.mean_pairwise_correlation(res, dates, apart) == 0.0


@pytest.mark.parametrize("blocks", [False, True])
def test_staggered_windows_with_gaps_match_the_definition(monkeypatch, blocks):
    """Staggered windows, own estimation dates per pair, 20% missing residuals: exact on every computation path
    (the kernel; or per-date sums for the block with two patterns and masked matrix products for the rest)."""
    if blocks:
        monkeypatch.setattr(cr, "CELL_MIN_PAIRS", 1)
    rng = np.random.default_rng(1)
    n, d, length = 30, 120, 5
    starts = rng.integers(0, 30, n) + d + 5
    starts[:12] = starts[0]  # a block on one date (the per-date-sum path takes it when allowed)
    common = 0.6 * rng.normal(size=len(CAL))
    res = np.stack([common[s - d - 5 : s - 5] for s in starts]) + rng.normal(size=(n, d))
    res[12:][rng.random((n - 12, d)) < 0.2] = np.nan
    res[:3, :10] = np.nan  # two availability patterns inside the block
    dates = np.stack([CAL[s - d - 5 : s - 5] for s in starts])
    windows = np.stack([CAL[s : s + length] for s in starts])
    windows[5, -1] = np.datetime64("NaT")  # a window day the calendar lacks
    assert cr.mean_pairwise_correlation(res, dates, windows) == pytest.approx(_brute(res, dates, windows), rel=1e-10)


def test_gaps_at_large_n_are_exact_and_continuous():
    """Above the old 600-pair cut-off nothing is zero-filled: 1,000 pairs, rho 0.2, 20% missing = the BLAS reference."""
    rng = np.random.default_rng(7)
    n = 1000
    res = np.sqrt(0.2) * rng.normal(size=250) + np.sqrt(0.8) * rng.normal(size=(n, 250))
    res[rng.random((n, 250)) < 0.2] = np.nan
    dates = np.tile(CAL[:250], (n, 1))
    day = np.full((n, 1), CAL[300])
    rbar = cr.mean_pairwise_correlation(res, dates, day)
    assert rbar == pytest.approx(_blas_reference(res), rel=1e-9)
    assert rbar == pytest.approx(0.2, abs=0.04)
    at_600 = cr.mean_pairwise_correlation(res[:600], dates[:600], day[:600])
    at_601 = cr.mean_pairwise_correlation(res[:601], dates[:601], day[:601])
    assert at_601 == pytest.approx(at_600, abs=0.003)


def test_complete_data_on_one_date_takes_the_per_date_sums(monkeypatch):
    """The O(pairs x days) path gives the exact sum; the kernel is never asked for those pairs."""
    rng = np.random.default_rng(8)
    res = 0.5 * rng.normal(size=150) + rng.normal(size=(300, 150))
    dates = np.tile(CAL[:150], (300, 1))
    day = np.full((300, 1), CAL[200])
    exact = _blas_reference(res)
    calls = []
    kernel = cr._kernel_sum

    def spy(*args):
        calls.append(len(args[5]))
        return kernel(*args)

    monkeypatch.setattr(cr, "_kernel_sum", spy)
    monkeypatch.setattr(cr, "CELL_MIN_PAIRS", 1000)
    assert cr.mean_pairwise_correlation(res, dates, day) == pytest.approx(exact, rel=1e-10)
    assert calls == [0]
