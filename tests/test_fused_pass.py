"""The pair stage's fused compiled passes against unfused reference calculations.

* :func:`~eventstudy.engine.window_pass.window_pass` (SAR and every window's CAR/BHAR sums in one pass) against
  the (P, D) array expressions it replaces, bit for bit (numpy's pairwise summation order included), on random
  panels with NaNs, multi-session spans, pairs without parameters, k = 0..3, simple and log returns, windows
  short, longer than numpy's 128-value summation block, and with holes.
* A study gathered and fitted in small chunks (gathered arrays reused between chunks, outputs written into the
  run's arrays) on prices with gaps, masked days and market-adjusted fallback pairs, pair by pair against
  statsmodels OLS on the pair's own clean estimation days: parameters, sigma, AR, SAR, CAR, its se and BHAR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import eventstudy.engine.pair_stage as stages
from eventstudy import EventStudy
from eventstudy.engine.models import fit_model, linear_design, quadratic_form
from eventstudy.engine.normal_equations import _solve_2x2, lu_rounding, matrix_rank, solve
from eventstudy.engine.statistics import car_table, standardized_ar
from eventstudy.engine.window_pass import Design, window_pass
from eventstudy.inference import distributions as stats
from eventstudy.simulate import simulate_study


def _reference_car(ar, returns, normal, design, xtx_inv, sigma, dof, window, kind, span):
    """The (P, D) array expressions of ``car_table`` before the fused pass."""
    valid = window[None, :] & ~np.isnan(ar)
    n_days = valid.sum(axis=1)
    car = np.where(valid, ar, 0.0).sum(axis=1)
    s = np.where(valid[:, :, None], design, 0.0).sum(axis=1)
    quad = np.einsum("pk,pkl,pl->p", s, xtx_inv, s)
    sessions = np.where(valid, np.maximum(span, 1), 0).sum(axis=1)
    se = sigma * np.sqrt(sessions + quad)
    has = (n_days > 0) & np.isfinite(se) & (se > 0)
    car = np.where(n_days > 0, car, np.nan)
    t = np.where(has, car / np.where(has, se, 1.0), np.nan)
    p = np.where(has, 2 * stats.t.sf(np.abs(np.nan_to_num(t)), np.maximum(dof, 1)), np.nan)
    gross = np.exp if kind == "log" else (lambda r: 1.0 + r)
    real = np.where(valid, gross(np.where(valid, returns, 0.0)), 1.0).prod(axis=1)
    expected = np.where(valid, gross(np.where(valid, normal, 0.0)), 1.0).prod(axis=1)
    bhar = np.where(n_days > 0, real - expected, np.nan)
    covered = np.where(valid, span, 0).sum(axis=1)
    last = np.flatnonzero(window)[-1]
    complete = valid[:, last] & (covered == window.sum())
    return {"car": car, "car_se": np.where(has, se, np.nan), "car_t": t, "car_p": p, "bhar": bhar, "n_days": n_days}, (
        complete
    )


def _panel(seed: int, k: int, n_pairs: int = 70, n_days: int = 400, implicit: bool = False):
    rng = np.random.default_rng(seed)
    regressors = rng.normal(0.0, 0.01, (n_pairs, n_days, max(k - 1, 1)))
    returns = 0.001 + regressors.sum(axis=2) + rng.normal(0, 0.02, (n_pairs, n_days))
    returns[rng.random((n_pairs, n_days)) < 0.05] = np.nan
    regressors[rng.random(regressors.shape) < 0.02] = np.nan
    returns[3] = np.nan  # no data at all
    span = np.where(np.isnan(returns), 0, 1).astype(np.int16)
    span[rng.random((n_pairs, n_days)) < 0.05] = 3
    est_days = np.arange(n_days) < 200
    estimation = est_days[None, :] & ~np.isnan(returns) & ~np.isnan(regressors).any(axis=2) & (span == 1)
    estimation[5, 20:] = False  # too few days: no parameters (zero design rows)
    model = {0: "market-adjusted", 1: "constant-mean", 2: "market"}.get(k, "factor")
    fit = fit_model(model, returns, regressors[:, :, : max(k - 1, 1)], estimation, implicit=implicit)
    return fit, returns, span, est_days


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("kind", ["simple", "log"])
def test_window_pass_equals_the_array_expressions_bit_for_bit(k, kind):
    fit, returns, span, est_days = _panel(k + 10 * (kind == "log"), k)
    ar = fit.ar.copy()
    ar[:2] = np.nan
    n_days = ar.shape[1]
    days = np.arange(n_days)
    holes = (days >= 210) & (days < 260) & (days % 7 != 3)
    windows = [(days >= 200) & (days <= 202), days == 230, (days >= 205) & (days < 399), holes]
    for window in windows:
        expected, complete = _reference_car(
            ar, returns, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, window, kind, span
        )
        got = car_table(ar, returns, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof, window, kind, span)
        assert expected["n_days"].sum() > 40 and np.isfinite(expected["car_se"]).sum() > 40
        for name, values in expected.items():
            np.testing.assert_array_equal(got[name], values, err_msg=f"{k} {kind} {name}")
        one = [a[6:7] for a in (ar, returns, fit.normal, fit.design, fit.xtx_inv, fit.sigma, fit.dof)]
        alone, _ = _reference_car(*one, window, kind, np.ones((1, n_days), dtype=int))  # one pair, no spans
        for name, values in car_table(*one, window, kind).items():
            np.testing.assert_array_equal(values, alone[name], err_msg=f"one pair {k} {kind} {name}")
        sums = window_pass(ar, Design.explicit(fit.design), fit.xtx_inv, span, window[None, :], returns, fit.normal)
        np.testing.assert_array_equal(sums.last_valid[0] & (sums.covered[0] == window.sum()), complete)
    sar = np.empty(ar.shape)
    window_pass(ar, Design.explicit(fit.design), fit.xtx_inv, span, np.stack(windows), sar=(fit.sigma, est_days, sar))
    factor = quadratic_form(fit.design, fit.xtx_inv) + np.maximum(span, 1)  # the prediction-error factor C
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = standardized_ar(ar, fit.sigma, factor, est_days)
    np.testing.assert_array_equal(sar, expected)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("kind", ["simple", "log"])
@pytest.mark.parametrize("spans", [True, False])
def test_the_implicit_design_passes_equal_the_general_pass_bit_for_bit(k, kind, spans):
    """The pass on an implicit design (an intercept, then regressors; zero rows for pairs without parameters) gives
    the general pass's numbers on the explicit (P, D, k) design, bit for bit: among them the market model's (k = 2,
    spans per pair, simple returns, SARs), compiled with these as constants; with the pairs in other chunks too."""
    fit, returns, span, est_days = _panel(30 + k, k, n_pairs=90, implicit=True)
    ar = fit.ar.copy()
    ar[:2] = np.nan
    fit.params[40], fit.xtx_inv[40] = np.nan, 0.0  # as a market-adjusted fallback pair (``combine``)
    zero = ~np.isfinite(fit.params).all(axis=1)
    assert zero[40] and np.isfinite(fit.regressors[40]).sum() > 300  # zero design rows, not zero regressors
    days = np.arange(ar.shape[1])
    holes = (days >= 210) & (days < 260) & (days % 7 != 3)
    windows = np.stack([(days >= 200) & (days <= 202), days == 230, (days >= 205) & (days < 399), holes])
    span = span if spans else None
    implicit, explicit = fit.design_rows(), Design.explicit(linear_design(fit.params, fit.regressors))
    assert implicit.intercept and not explicit.intercept and implicit.zero.tolist() == zero.tolist()
    got = []
    for design, rows in [(implicit, slice(None)), (explicit, slice(None)), (implicit, slice(7, 61))]:
        d = Design(design.x[rows], design.intercept, design.zero[rows], design.k)
        one = [None if a is None else a[rows] for a in (ar, fit.xtx_inv, span, returns, fit.normal, fit.sigma)]
        sar = np.empty((len(one[0]), 230))  # the last 230 days: 30 estimation days among them
        sums = window_pass(one[0], d, *one[1:3], windows, *one[3:5], kind, sar=(one[5], est_days, sar))
        got.append({**vars(sums), "sar": sar})
    assert np.isfinite(got[0]["sar"]).sum() > 10000 and (got[0]["s"][:, :, -1] != 0).any()
    for name, values in got[1].items():
        assert values.tobytes() == got[0][name].tobytes(), name
        part = values[7:61] if name == "sar" else values[:, 7:61]  # sar (P, E), the sums (W, P[, k])
        assert part.tobytes() == got[2][name].tobytes(), name


@pytest.fixture(scope="module")
def gappy_study():
    """Prices with missing sessions (multi-session returns) and missing market days, events close together
    (masked days), and a ticker with too short a history (market-adjusted fallback)."""
    sim = simulate_study(n_events=12, n_firms=6, effect=0.01, rho=0.2, same_date=False, seed=4)
    rng = np.random.default_rng(9)
    prices = sim.prices
    market = (prices["ticker"] == sim.market).to_numpy()
    drop = (rng.random(len(prices)) < np.where(market, 0.01, 0.06)) | (
        (prices["ticker"] == prices["ticker"].iloc[0]).to_numpy() & (rng.random(len(prices)) < 0.5)
    )
    late = sim.events.assign(event_id=sim.events["event_id"] + "x", date=sim.events["date"] + pd.Timedelta(days=20))
    return EventStudy(
        pd.concat([sim.events, late], ignore_index=True),
        prices[~drop].reset_index(drop=True),
        market=sim.market,
        calendar="data",
        mask="events",
        min_obs=150,
        on_insufficient="market-adjusted",
        windows=[(-1, 1), (0, 5), (-5, 10)],
    )


def test_fused_chunks_match_statsmodels_pair_by_pair(gappy_study, monkeypatch):
    study = gappy_study
    monkeypatch.setattr(stages, "CHUNK_PAIRS", 9)  # chunks of 9, 9, ..., and a shorter last one
    stage = stages.run_pairs(study, study.events, study.prices)
    status = stage.pairs["status"].to_numpy()
    assert {"ok", "fallback"} <= set(status) and (np.asarray(stage.span) > 1).any()
    returns, span, dates = np.asarray(stage.returns), np.asarray(stage.span), np.asarray(stage.dates)
    market = study.prices[study.prices["ticker"] == study.market["*"]].set_index("date")["adj_close"]
    sessions = np.sort(study.prices["date"].unique())
    mret = (market.reindex(sessions) / market.reindex(sessions).shift(1) - 1).to_numpy()  # one-session returns
    est_days = (stage.days >= study.windows.estimation[0]) & (stage.days <= study.windows.estimation[1])
    checked = 0
    for i in range(len(stage)):
        at = np.searchsorted(sessions, dates[i])
        x = np.where(np.isnat(dates[i]), np.nan, mret[np.minimum(at, len(sessions) - 1)])
        clean = stage.estimation[i]
        masked_or_gap = est_days & np.isfinite(returns[i]) & np.isfinite(x) & ~clean
        assert (span[i][masked_or_gap] != 1).all() or stage.pairs["masked_days"].iloc[i] > 0
        assert not (clean & ~est_days).any() and np.isfinite(returns[i][clean]).all() and np.isfinite(x[clean]).all()
        if status[i] != "ok":
            continue
        ols = sm.OLS(returns[i][clean], sm.add_constant(x[clean])).fit()
        np.testing.assert_allclose(stage.params[i], ols.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stage.sigma[i], np.sqrt(ols.scale), rtol=1e-9)
        np.testing.assert_allclose(stage.ar[i], returns[i] - stage.normal[i], rtol=0, atol=0)
        xtx_inv = ols.cov_params() / ols.scale
        for window, table in stage.cars.items():
            inside = (stage.days >= window[0]) & (stage.days <= window[1]) & np.isfinite(stage.ar[i])
            # a k-session return: its normal return and design row are summed over the k sessions
            rows = np.zeros((len(stage.days), 2))
            for d in np.flatnonzero(inside):
                back = np.arange(d - max(span[i][d], 1) + 1, d + 1)
                rows[d] = len(back), x[back].sum()
            s = rows[inside].sum(axis=0)
            se = np.sqrt(ols.scale * (np.maximum(span[i][inside], 1).sum() + s @ xtx_inv @ s))
            np.testing.assert_allclose(table["car"][i], stage.ar[i][inside].sum(), rtol=1e-12)
            np.testing.assert_allclose(table["car_se"][i], se, rtol=1e-9)
            bhar = np.prod(1 + returns[i][inside]) - np.prod(1 + stage.normal[i][inside])
            np.testing.assert_allclose(table["bhar"][i], bhar, rtol=1e-9, atol=1e-15)
            for d in np.flatnonzero(inside):
                c = max(span[i][d], 1) + rows[d] @ xtx_inv @ rows[d]
                np.testing.assert_allclose(stage.sar[i][d], stage.ar[i][d] / np.sqrt(ols.scale * c), rtol=1e-9)
        np.testing.assert_allclose(stage.sar[i][clean], stage.ar[i][clean] / np.sqrt(ols.scale), rtol=1e-9)
        checked += 1
    assert checked > 50
    fallback = status == "fallback"
    np.testing.assert_allclose(stage.ar[fallback], returns[fallback] - stage.normal[fallback], rtol=0, atol=0)
    assert np.isnan(stage.ar[~stage.active]).all()


def test_rank_screen_equals_matrix_rank():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 30, 2))
    x[:, :, 0] = 1.0
    x[:5000, :, 1] = 0.3 + rng.normal(size=(5000, 30)) * 10.0 ** rng.integers(-20, 0, (5000, 1))  # near constant
    x[5000:5100] = 0.0
    xtx = np.einsum("pda,pdb->pab", x, x)
    xtx[6000:6100, 1] = 3 * xtx[6000:6100, 0]
    xtx[6000:6100, :, 1] = 3 * xtx[6000:6100, :, 0]  # singular
    expected = np.linalg.matrix_rank(xtx)
    assert set(np.unique(expected)) == {0, 1, 2}
    np.testing.assert_array_equal(matrix_rank(xtx), expected)
    np.testing.assert_array_equal(matrix_rank(xtx[:, :1, :1]), np.linalg.matrix_rank(xtx[:, :1, :1]))


def _numpy_solve(xtx, xty, n):
    """The inverse and parameters as numpy gives them: the screen's rank, LAPACK's inverse, einsum's sums."""
    k = xtx.shape[1]
    full_rank = (matrix_rank(xtx) == k) & (n > k)
    xtx_inv = np.linalg.inv(np.where(full_rank[:, None, None], xtx, np.eye(k)))
    return xtx_inv, np.einsum("pkl,pl->pk", xtx_inv, xty), full_rank


def test_the_compiled_2x2_solve_gives_numpys_bits():
    """The market model's X'X (counts, sums and sums of squares of returns, from 3 to 250 days) solved by the
    compiled pass and by numpy: the same bits, the compiled pass taking all but the undecided and exchanged ones;
    singular, near-singular, row-exchanging and underdetermined X'X are numpy's too."""
    rng = np.random.default_rng(3)
    size = 400_000
    n = rng.integers(3, 251, size).astype(float)
    x = rng.normal(0.0, 0.02, (size, 250)) * 10.0 ** rng.uniform(-1, 1, (size, 1))
    x = np.where(np.arange(250) < n[:, None], x, 0.0)
    x[:1000] = 0.25  # a constant market over the window: singular
    x[1000:2000, :] += 0.01 * 10.0 ** rng.integers(-12, -6, (1000, 1)) * (np.arange(250) % 2)  # near constant
    x[2000:2500] += 5.0  # |sum x| above the count: LU exchanges the rows
    x = np.where(np.arange(250) < n[:, None], x, 0.0)
    xtx = np.empty((size, 2, 2))
    xtx[:, 0, 0], xtx[:, 0, 1] = n, x.sum(axis=1)
    xtx[:, 1, 0], xtx[:, 1, 1] = xtx[:, 0, 1], (x * x).sum(axis=1)
    xty = rng.normal(0.0, 0.02, (size, 2)) * [[1.0, 0.05]]
    n[2500:2600] = 2.0  # rank 2 without a degree of freedom
    xtx_inv, params, full_rank = solve(xtx, xty, n)
    expected = _numpy_solve(xtx, xty, n)
    np.testing.assert_array_equal(full_rank, expected[2])
    assert full_rank.mean() > 0.99 and not full_rank[:1000].any() and not full_rank[2500:2600].any()
    for got, want in zip((xtx_inv, params), expected[:2], strict=True):
        same = got[full_rank].view(np.int64) == want[full_rank].view(np.int64)
        assert same.all(), f"{(~same).sum()} values differ"
    fused = lu_rounding()
    if fused is None:  # neither rounding gives this BLAS's bits: every X'X went to numpy (checked above)
        return
    done, other = np.zeros(size, dtype=bool), np.empty_like(xtx)
    _solve_2x2(xtx, xty, n, other, np.empty_like(xty), np.zeros(size, dtype=bool), done, not fused)
    assert done[2600:].mean() > 0.99 and not done[:1000].any() and not done[2000:2500].any()
    differ = other[full_rank & done].view(np.int64) != xtx_inv[full_rank & done].view(np.int64)
    assert differ.sum() > 100  # the other rounding is not numpy's here: lu_rounding's choice decides the bits
