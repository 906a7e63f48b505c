"""`eventstudy run --catalog`: every tightening event over US and Chinese tickers, each on its own venue and market,
with other events and confounders masked out of the estimation windows (issue 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner

from eventstudy.cli import main

TICKERS = "MP,USAR,CRML,UUUU,NAK,TMQ,LAC,TMC,600111.SS,600259.SS,000831.SZ"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, repo_root, prices_dir):
    out = tmp_path_factory.mktemp("catalog") / "out"
    seeds = repo_root / "seeds"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--catalog",
            str(seeds / "events.csv"),
            "--kind",
            "tightening",
            "--tickers",
            TICKERS,
            "--market",
            "SPY",
            "--market",
            "XSHG=000300.SS",
            "--market",
            "XSHE=000300.SS",
            "--listings",
            str(seeds / "listings.csv"),
            "--confounders",
            str(seeds / "confounders.csv"),
            "--prices",
            str(prices_dir),
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out


def test_only_tightening_events_are_studied(run_dir, repo_root):
    catalog = pd.read_csv(repo_root / "seeds" / "events.csv")
    params = pd.read_csv(run_dir / "parameters.csv")
    assert set(params["event_id"]) == set(catalog.loc[catalog["kind"] == "tightening", "event_id"])
    assert len(params) == params["event_id"].nunique() * 11  # every pair reported, studied or not


def test_alignment_file_per_venue(run_dir):
    table = pd.read_csv(run_dir / "alignment.csv").set_index(["event_id", "ticker"])
    assert table.loc[("E07", "MP"), "day0"] == "2025-04-04"
    assert table.loc[("E07", "600111.SS"), "day0"] == "2025-04-07"
    assert table.loc[("E09", "000831.SZ"), "venue"] == "XSHE"
    assert table.loc[("E09", "USAR"), "day0"] == "2025-10-09"


def test_other_events_and_confounders_are_masked(run_dir):
    params = pd.read_csv(run_dir / "parameters.csv").set_index(["event_id", "ticker"])
    e09 = params.loc["E09"]
    assert (e09["masked_days"] > 0).all()
    # MP's estimation window holds the 2025-07-10 DoD deal, the tariff days and the windows of E07, E07b, E08*
    assert e09.loc["MP", "masked_days"] > e09.loc["UUUU", "masked_days"]
    # an event window that holds the 2025-10-10 tariff threat is flagged, never hidden
    car = pd.read_csv(run_dir / "car.csv").fillna({"contaminated": ""})
    flagged = car[(car["event_id"] == "E09") & (car["window"] == "-5..10") & (car["ticker"] == "MP")]
    assert "tariff" in flagged["contaminated"].iloc[0].lower()
    clean = car[(car["event_id"] == "E09") & (car["window"] == "0..0") & (car["ticker"] == "MP")]
    assert clean["contaminated"].iloc[0] == ""


def test_masked_day_is_not_in_the_estimation(run_dir, prices_dir):
    """MP's E09 market model equals an OLS on the estimation days minus the masked ones (independent check)."""
    params = pd.read_csv(run_dir / "parameters.csv").set_index(["event_id", "ticker"]).loc[("E09", "MP")]
    mp = pd.read_csv(prices_dir / "MP.csv", index_col="date")["adj_close"].pct_change()
    spy = pd.read_csv(prices_dir / "SPY.csv", index_col="date")["adj_close"].pct_change()
    days = mp.loc[:"2025-10-08"].index[-250:-10]  # day -250 .. -11 before 2025-10-09
    assert days[0] == params["estimation_start"] and days[-1] == params["estimation_end"]
    full = sm.OLS(mp[days], sm.add_constant(spy[days])).fit()
    assert params["n_obs"] == 240 - params["masked_days"]
    assert full.nobs == 240 and params["n_obs"] < 240
    assert not np.isclose(params["beta"], full.params.iloc[1])  # masking changed the estimate


def test_one_confounder_removes_exactly_its_day(prices_dir):
    """With one declared confounder (MP +51% on 2025-07-10) the fit equals OLS without that day."""
    from eventstudy import EventStudy

    events = pd.DataFrame({"event_id": ["E09"], "ticker": ["MP"], "date": ["2025-10-09"]})
    confounders = pd.DataFrame({"date": ["2025-07-10"], "ticker": ["MP"], "label": ["DoD deal"]})
    res = EventStudy(events, prices_dir, market="SPY", confounders=confounders).fit()
    row = res.parameters.iloc[0]
    assert row["masked_days"] == 1 and row["n_obs"] == 239
    mp = pd.read_csv(prices_dir / "MP.csv", index_col="date")["adj_close"].pct_change()
    spy = pd.read_csv(prices_dir / "SPY.csv", index_col="date")["adj_close"].pct_change()
    days = [d for d in mp.loc[:"2025-10-08"].index[-250:-10] if d != "2025-07-10"]
    ols = sm.OLS(mp[days], sm.add_constant(spy[days])).fit()
    assert row["alpha"] == pytest.approx(ols.params.iloc[0], rel=1e-9)
    assert row["beta"] == pytest.approx(ols.params.iloc[1], rel=1e-9)
    assert row["sigma"] == pytest.approx(np.sqrt(ols.scale), rel=1e-9)


def test_a_shares_use_the_csi300(run_dir, prices_dir):
    params = pd.read_csv(run_dir / "parameters.csv").set_index(["event_id", "ticker"])
    assert params.loc[("E03", "600111.SS"), "venue"] == "XSHG"
    from eventstudy import EventStudy

    events = pd.DataFrame({"event_id": ["E03"], "ticker": ["600111.SS"], "date": ["2023-12-22"]})
    res = EventStudy(events, prices_dir, market={"XNYS": "SPY", "XSHG": "000300.SS"}).fit()
    row = res.parameters.iloc[0]
    stock = pd.read_csv(prices_dir / "600111.SS.csv", index_col="date")["adj_close"].pct_change()
    csi = pd.read_csv(prices_dir / "000300.SS.csv", index_col="date")["adj_close"].pct_change()
    days = stock.loc[:"2023-12-21"].index[-250:-10]  # both series trade every SSE session here
    ols = sm.OLS(stock[days], sm.add_constant(csi[days])).fit()
    assert row["n_obs"] == 240
    assert row["beta"] == pytest.approx(ols.params.iloc[1], rel=1e-9)


def test_pairs_before_listing_are_reported_not_dropped(run_dir):
    params = pd.read_csv(run_dir / "parameters.csv").set_index(["event_id", "ticker"])
    assert params.loc[("E01", "USAR"), "status"] == "not_listed"
    assert params.loc[("E01", "000831.SZ"), "status"] == "no_prices"
    assert params.loc[("E07", "USAR"), "status"] == "insufficient"
