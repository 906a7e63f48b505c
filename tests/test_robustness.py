"""The robustness grid: every specification equals its own EventStudy fit; ff3 from a factor file; CLI and heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy import EventStudy, robustness
from eventstudy.cli import main
from eventstudy.errors import InputError
from eventstudy.plotting import plot_robustness

EVENTS = pd.DataFrame({"event_id": ["E09"] * 3, "ticker": ["MP", "UUUU", "ALB"], "date": ["2025-10-09"] * 3})


@pytest.fixture(scope="module")
def prices(prices_dir):
    from eventstudy import read_prices

    return read_prices(prices_dir)


def test_grid_rows_are_the_studies_they_name(prices, tmp_path):
    spy = prices[prices["ticker"] == "SPY"].set_index("date")
    rng = np.random.default_rng(0)
    factors = pd.DataFrame(
        {"Mkt-RF": spy["adj_close"].pct_change().fillna(0), "SMB": rng.normal(0, 0.005, len(spy))},
        index=spy.index,
    ).assign(HML=rng.normal(0, 0.005, len(spy)), RF=0.0001)
    path = tmp_path / "ff.csv"
    factors.rename_axis("date").to_csv(path, date_format="%Y-%m-%d")
    table = robustness(
        EVENTS,
        prices,
        models=["market", "factor", "ff3"],
        benchmarks=["SPY", "REMX"],
        estimations=[(-250, -11), (-120, -11)],
        windows=[(0, 1)],
        factors_file=path,
    )
    specs = table[["model", "benchmark", "estimation"]].drop_duplicates()
    # market x 2 benchmarks, factor(REMX) with SPY only (REMX as its own factor is skipped), ff3 once: x 2 windows
    assert len(specs) == (2 + 1 + 1) * 2 and len(table) == len(specs) * 3
    assert set(specs["model"]) == {"market", "factor (REMX)", "ff3"}
    direct = EventStudy(EVENTS, prices, market="REMX", estimation=(-120, -11), windows=[(0, 1)]).fit().car
    rows = table[(table["model"] == "market") & (table["benchmark"] == "REMX") & (table["estimation"] == "-120..-11")]
    np.testing.assert_allclose(rows["car"].to_numpy(), direct["car"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(rows["car_p"].to_numpy(), direct["car_p"].to_numpy(), rtol=1e-12)
    ff = table[table["model"] == "ff3"]
    assert (ff["benchmark"] == "FF").all() and np.isfinite(ff["car"]).all()
    fig = plot_robustness(table)
    assert len(fig.axes[0].get_yticklabels()) == len(specs)
    with pytest.raises(InputError, match="needs --factors-file"):
        robustness(EVENTS, prices, models=["ff3"])


def test_robustness_cli(tmp_path, prices_dir):
    events = tmp_path / "events.csv"
    EVENTS.to_csv(events, index=False)
    out = tmp_path / "robust"
    args = ["robustness", "--events", str(events), "--prices", str(prices_dir), "--window", "0", "1"]
    result = CliRunner().invoke(
        main, [*args, "--benchmarks", "SPY,IWM", "--estimation", "-250", "-11", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "robustness.csv")
    assert len(table) == (2 + 2 + 2) * 3  # market, market-adjusted, factor (REMX) x SPY, IWM x 3 tickers
    assert (out / "robustness.png").stat().st_size > 10_000
