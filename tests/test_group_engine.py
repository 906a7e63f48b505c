"""The new group tests inside a study: Binder, calendar-time, placebo, daily AAR t, Holm/BH, report, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy import EventStudy, read_events, read_listings
from eventstudy.cli import main
from eventstudy.inference.binder import binder_sur
from eventstudy.inference.randomization import empirical_p
from eventstudy.simulate import simulate_study

US = ["MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"]


def _row(res, test, window, group="all"):
    t = res.tests
    return t[(t["group"] == group) & (t["window"] == window) & (t["test"] == test)].iloc[0]


@pytest.fixture(scope="module")
def e09(repo_root, prices_dir):
    catalog = read_events(repo_root / "seeds" / "events.csv", tickers=US)
    study = EventStudy(
        catalog.select(event_ids=["E09"]),
        prices_dir,
        market="SPY",
        listed=read_listings(repo_root / "seeds" / "listings.csv"),
        confounders=repo_root / "seeds" / "confounders.csv",
        mask_events=catalog,
        windows=[(0, 1), (-1, 1)],
        placebo_draws=29,
        seed=7,
    )
    return study, study.fit(), catalog


def test_binder_in_the_engine_is_the_closed_form_on_the_simulated_prices():
    sim = simulate_study(n_events=1, n_firms=5, rho=0.3, effect=0.02, seed=21)
    res = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", windows=[(0, 1)]).fit()
    wide = sim.prices.pivot(index="date", columns="ticker", values="adj_close").pct_change().iloc[1:]
    day0 = wide.index.get_loc(sim.events["date"].iloc[0])
    est, win = wide.iloc[day0 - 250 : day0 - 10], wide.iloc[day0 : day0 + 2]
    tickers = sim.events["ticker"].tolist()
    x_est = np.column_stack([np.ones(len(est)), est[sim.market]])
    x_win = np.column_stack([np.ones(len(win)), win[sim.market]])
    fit = binder_sur(est[tickers].to_numpy(), x_est, win[tickers].to_numpy(), x_win)
    assert _row(res, "binder_wald", "0..1")["statistic"] == pytest.approx(fit.joint.statistic)
    assert _row(res, "binder_caar_z", "0..1")["p_value"] == pytest.approx(fit.average.p_value)
    # the dummies are the engine's own abnormal returns
    ar = res.ar[res.ar["day"].isin([0, 1])].pivot(index="day", columns="ticker", values="ar")[tickers]
    assert fit.gamma == pytest.approx(ar.to_numpy())


def test_binder_is_not_available_for_pairs_on_several_dates():
    sim = simulate_study(n_events=6, n_firms=2, same_date=False, seed=22)
    res = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", windows=[(0, 0)]).fit()
    assert np.isnan(_row(res, "binder_wald", "0..0")["p_value"])
    assert np.isfinite(_row(res, "binder_wald", "0..0", group="EV0000")["p_value"])


def test_daily_aar_t_and_multiple_testing_columns():
    sim = simulate_study(n_events=4, n_firms=6, seed=23)
    res = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", windows=[(0, 0), (0, 1)]).fit()
    aar = res.aar[(res.aar["group"] == "all") & (res.aar["window"] == "-10..10")].set_index("day")
    assert aar.loc[0, "aar_t"] == pytest.approx(_row(res, "time_series_t", "0..0")["statistic"])
    assert aar.loc[0, "aar_p"] == pytest.approx(_row(res, "time_series_t", "0..0")["p_value"])
    tests = res.tests.dropna(subset=["p_value"])
    assert (tests["p_holm"] >= tests["p_value"] - 1e-12).all() and (tests["p_bh"] >= tests["p_value"] - 1e-12).all()
    rows = tests[(tests["test"] == "csect_t") & (tests["group"] != "all")]
    assert len(rows) == 8 and rows["p_holm"].min() == pytest.approx(min(1, 8 * rows["p_value"].min()))


def test_placebo_draws_are_clean_reproducible_and_give_the_empirical_p(e09, repo_root):
    study, res, catalog = e09
    null = res.placebo
    assert set(null["group"]) == {"all", "E09"} and null["draw"].nunique() >= 25
    assert null.groupby("window")["draw"].nunique().max() <= 29
    # every pseudo window [0, 1] is away from every catalogued event and every market-wide confounder
    sessions = pd.DatetimeIndex(np.unique(study.prices.loc[study.prices["ticker"] == "SPY", "date"]))
    marks = pd.concat([catalog.frame["date"], study.confounders.loc[study.confounders["ticker"] == "*", "date"]])
    mark_pos = sessions.searchsorted(pd.DatetimeIndex(marks.unique()))
    pseudo_pos = sessions.searchsorted(pd.DatetimeIndex(null.loc[null["window"] == "0..1", "pseudo_day0"].unique()))
    assert np.abs(pseudo_pos[:, None] - mark_pos[None, :]).min() >= 2
    # the p-value is the share of draws at least as extreme (independent recomputation)
    for test in ("caar", "csect_t", "binder_caar_z"):
        name = "placebo_caar" if test == "caar" else test
        observed = _row(res, name, "-1..1")["statistic"]
        draws = null[(null["group"] == "all") & (null["window"] == "-1..1") & (null["test"] == test)]["statistic"]
        expected = (1 + (draws.abs() >= abs(observed)).sum()) / (1 + len(draws))
        assert _row(res, name, "-1..1")["p_placebo"] == pytest.approx(expected)
        assert _row(res, name, "-1..1", group="E09")["p_placebo"] == pytest.approx(expected)
    again = EventStudy(
        study.events, study.prices, market="SPY", listed=study.listed, confounders=study.confounders,
        mask_events=catalog, windows=[(0, 1), (-1, 1)], placebo_draws=29, seed=7,
    ).fit()  # fmt: skip
    pd.testing.assert_frame_equal(again.placebo, null)
    assert _row(res, "placebo_caar", "0..1")["statistic"] == pytest.approx(
        res.car[res.car["window"] == "0..1"]["car"].mean()
    )


def test_placebo_finds_a_planted_effect_and_not_a_null_one():
    kwargs = {"n_events": 1, "n_firms": 8, "rho": 0.3, "n_days": 700, "day0": 660}
    planted = simulate_study(effect=0.04, **kwargs, seed=24)
    res = EventStudy(
        planted.events, planted.prices, market="MKT", calendar="data", windows=[(0, 0)], placebo_draws=99
    ).fit()
    assert _row(res, "placebo_caar", "0..0")["p_value"] == pytest.approx(0.01)  # beyond all 99 draws
    draws = res.placebo[res.placebo["test"] == "caar"]
    assert draws["draw"].nunique() == 99 and abs(draws["statistic"].mean()) < 0.01
    assert empirical_p(np.array([0.0]), draws["statistic"].to_numpy()[None, :])[0] == 1.0


def test_report_and_summary_show_the_new_tests(e09, tmp_path):
    from eventstudy.report import write_report

    _, res, _ = e09
    summary = res.summary()
    assert "Binder CAAR" in summary and "placebo CAAR" in summary and "Holm" in summary
    html = write_report(res, tmp_path, formats=("html",))["html"].read_text()
    assert "Shared dates and overlapping windows" in html and "Placebo distribution" in html
    assert "p Holm" in html and "Binder joint" in html


def test_cli_placebo_and_seed_flags(tmp_path, repo_root, prices_dir):
    args = [
        "run", "--catalog", str(repo_root / "seeds" / "events.csv"), "--event", "E09", "--tickers", "MP,UUUU,NAK",
        "--market", "SPY", "--confounders", str(repo_root / "seeds" / "confounders.csv"), "--window", "0", "1",
        "--prices", str(prices_dir / "MP.csv"), "--prices", str(prices_dir / "UUUU.csv"),
        "--prices", str(prices_dir / "NAK.csv"), "--prices", str(prices_dir / "SPY.csv"),
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--placebo", "19", "--seed", "5", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    tests = pd.read_csv(tmp_path / "a" / "tests.csv")
    assert {"p_holm", "p_bh", "p_placebo"} <= set(tests.columns) and "placebo_caar" in set(tests["test"])
    placebo = pd.read_csv(tmp_path / "a" / "placebo.csv")
    assert placebo["draw"].nunique() == 19
    off = CliRunner().invoke(main, [*args, "--placebo", "0", "--out", str(tmp_path / "b")])
    assert off.exit_code == 0 and not (tmp_path / "b" / "placebo.csv").exists()
    bad = CliRunner().invoke(main, [*args, "--placebo", "-3", "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2 and not (tmp_path / "c").exists()


def test_placebo_figure_marks_the_observed_caar(e09):
    from eventstudy.plotting import plot_placebo

    _, res, _ = e09
    fig = plot_placebo(res, window="0..1")
    ax = fig.axes[0]
    draws = res.placebo[(res.placebo["group"] == "all") & (res.placebo["window"] == "0..1")]["draw"].nunique()
    assert f"over {draws} draws" in ax.get_title()
    observed = _row(res, "placebo_caar", "0..1")["statistic"]
    assert ax.lines[0].get_xdata()[0] == pytest.approx(observed)
    assert sum(p.get_height() for p in ax.patches) == draws


def test_placebo_without_a_usable_pseudo_date_says_so(repo_root, prices_dir, tmp_path):
    """A study whose tickers leave no clean, complete pseudo date (USAR and 600111.SS have short histories here):
    the run used to stop on a KeyError; its placebo table is empty and the summary and report say why."""
    from eventstudy.report import write_report

    tickers = ["MP", "USAR", "CRML", "UUUU", "600111.SS", "ALB", "LAC"]
    catalog = read_events(repo_root / "seeds" / "events.csv", tickers=tickers)
    listed = read_listings(repo_root / "seeds" / "listings.csv")
    res = EventStudy(catalog, prices_dir, market="SPY", listed=listed).fit()
    assert res.placebo is not None and res.placebo.empty
    assert np.isnan(res.tests.loc[res.tests["test"] == "placebo_caar", "p_value"]).all()
    assert "placebo: no usable pseudo date" in res.summary()
    html = write_report(res, tmp_path, formats=("html",))["html"].read_text()
    assert "placebo: no usable pseudo date" in html
