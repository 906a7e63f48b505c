"""Fama-French / Carhart models from factor files: the reader (French and plain formats, its errors) and the fit
against statsmodels OLS of excess returns, end to end through ``eventstudy run --model ff3|carhart``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.engine.factor_models import fit_factor_file_model
from eventstudy.errors import InputError
from eventstudy.prices.factors import read_factors

FF3 = ("Mkt-RF", "SMB", "HML")


def _factors(dates: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(dates)
    return pd.DataFrame(
        {
            "Mkt-RF": rng.normal(0.0004, 0.011, n),
            "SMB": rng.normal(0, 0.006, n),
            "HML": rng.normal(0, 0.006, n),
            "RMW": rng.normal(0, 0.004, n),
            "CMA": rng.normal(0, 0.004, n),
            "RF": np.full(n, 0.00017),
            "MOM": rng.normal(0, 0.008, n),
        },
        index=pd.DatetimeIndex(dates, name="date"),
    ).round(6)


def write_french(path: Path, table: pd.DataFrame, columns: tuple[str, ...], header: str = "Mkt-RF") -> Path:
    """A file laid out as Ken French distributes it: notes, ',A,B,...' header, YYYYMMDD rows in percent."""
    names = [header if c == "Mkt-RF" else ("Mom   " if c == "MOM" else c) for c in columns]
    lines = [
        "This file was created by CMPT_ME_BEME_RETS_DAILY using the 202508 CRSP database.",
        "The 1-month TBill rate data until 202405 are from Ibbotson Associates.",
        "",
        "," + ",".join(names),
    ]
    for day, row in table[list(columns)].iterrows():
        lines.append(day.strftime("%Y%m%d") + "," + ",".join(f"{100 * v:8.4f}" for v in row))
    lines += ["", "Copyright 2025 Kenneth R. French", ""]
    path.write_text("\r\n".join(lines))
    return path


def test_french_and_plain_files_read_to_the_same_decimal_table(tmp_path):
    table = _factors(pd.bdate_range("2024-01-02", periods=30))
    french = write_french(tmp_path / "F-F_Research_Data_Factors_daily.CSV", table, (*FF3, "RF"))
    mom = write_french(tmp_path / "F-F_Momentum_Factor_daily.CSV", table, ("MOM",))
    plain = tmp_path / "plain.csv"
    table[[*FF3, "RF"]].rename_axis("date").to_csv(plain, date_format="%Y-%m-%d")
    got = read_factors([french, mom])
    assert list(got.columns) == [*FF3, "MOM", "RF"]
    pd.testing.assert_frame_equal(got, table[[*FF3, "MOM", "RF"]], check_freq=False, atol=1e-9)
    pd.testing.assert_frame_equal(read_factors(plain), table[[*FF3, "RF"]], check_freq=False, atol=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,Mkt-RF,SMB,Foo,RF\n2024-01-02,0.01,0.0,0.0,0.0\n", "no header with factor columns"),
        ("date,Mkt-RF,SMB,HML,RF\n2024-01-02,1.2,0.5,-0.3,0.02\n2024-01-03,-0.8,0.1,0.4,0.02\n", "percent"),
        ("date,Mkt-RF,SMB,HML,RF\n2024-13-02,0.01,0.0,0.0,0.0\n", "line 2: cannot read date '2024-13-02'"),
        (",Mkt-RF,SMB,HML,RF\n202401,1.2,0.5,-0.3,0.4\n", "monthly or annual"),
        ("date,Mkt-RF,SMB,HML,RF\n2024-01-02,0.01,x,0.0,0.0\n", "line 2: non-numeric"),
        ("date,Mkt-RF,SMB,HML,RF\n2024-01-02,0.01,0.0,0.0,0.0\n2024-01-02,0.01,0.0,0.0,0.0\n", "appears twice"),
        ("date,Mkt-RF,SMB,HML,RF\n2024-01-02,0.01,0.0,0.0\n", "line 2: 4 fields, the header has 5"),
    ],
)
def test_bad_factor_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "factors.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_factors(path)


def test_files_that_disagree_are_refused(tmp_path):
    table = _factors(pd.bdate_range("2024-01-02", periods=10))
    a = write_french(tmp_path / "a.csv", table, (*FF3, "RF"))
    other = table.assign(RF=table["RF"] * 2)
    b = write_french(tmp_path / "b.csv", other, ("RMW", "RF"))
    with pytest.raises(InputError, match="RF on 2024-01-02 differs"):
        read_factors([a, b])


@pytest.mark.parametrize("model", ["ff3", "ff5", "carhart"])
def test_factor_models_match_statsmodels_on_excess_returns(model):
    names = {"ff3": FF3, "ff5": (*FF3, "RMW", "CMA"), "carhart": (*FF3, "MOM")}[model]
    dates = pd.bdate_range("2023-01-02", periods=140)
    table = _factors(dates, seed=1)
    rng = np.random.default_rng(5)
    f = table[list(names)].to_numpy()
    loadings = rng.normal(1.0, 0.3, (2, len(names)))
    returns = table["RF"].to_numpy()[:, None] + 0.0003 + f @ loadings.T + rng.normal(0, 0.02, (140, 2))
    returns = returns.T
    returns[0, 17] = np.nan
    grid = np.tile(dates.to_numpy(), (2, 1))
    est = np.zeros((2, 140), bool)
    est[:, :120] = True
    est &= np.isfinite(returns)
    est[1, 40:45] = False
    table = table.drop(index=dates[60])  # a day without factors leaves the estimation window
    required = np.zeros((2, 140), bool)
    required[:, 125:130] = True
    fit = fit_factor_file_model(model, returns, grid, est, table, required, np.array(["A", "B"]))
    for i in range(2):
        use = est[i] & (grid[i] != dates[60].to_datetime64())
        excess = returns[i, use] - table["RF"].reindex(dates[use]).to_numpy()
        x = sm.add_constant(table.reindex(dates[use])[list(names)].to_numpy())
        ols = sm.OLS(excess, x).fit()
        np.testing.assert_allclose(fit.params[i], ols.params, rtol=1e-9)
        np.testing.assert_allclose(fit.sigma[i], np.sqrt(ols.scale), rtol=1e-9)
        assert fit.n_obs[i] == ols.nobs
        t = 130
        xt = np.r_[1.0, table.loc[dates[t], list(names)].to_numpy()]
        expected_ar = returns[i, t] - table.loc[dates[t], "RF"] - xt @ ols.params
        np.testing.assert_allclose(fit.ar[i, t], expected_ar, rtol=1e-9)
        np.testing.assert_allclose(fit.normal[i, t], returns[i, t] - expected_ar, rtol=1e-9)
        cov = ols.cov_params() / ols.scale
        np.testing.assert_allclose(fit.prediction_factor()[i, t], 1 + xt @ cov @ xt, rtol=1e-9)
    assert fit.model[0] == model and set(fit.extra) == {f"beta_{n}" for n in names[1:]}


def test_factor_file_must_cover_the_event_window():
    dates = pd.bdate_range("2023-01-02", periods=50)
    table = _factors(dates[:45])
    grid = np.tile(dates.to_numpy(), (1, 1))
    required = np.zeros((1, 50), bool)
    required[0, 46] = True
    with pytest.raises(InputError, match=r"no values for 2023-03-07 \(ticker MP\).*cover 2023-01-02 to 2023-03-03"):
        fit_factor_file_model("ff3", np.zeros((1, 50)), grid, np.ones((1, 50), bool), table, required, np.array(["MP"]))


def test_run_ff3_and_carhart_end_to_end(tmp_path, prices_dir):
    spy = pd.read_csv(prices_dir / "SPY.csv", parse_dates=["date"])
    table = _factors(pd.DatetimeIndex(spy["date"]), seed=3)
    ff = write_french(tmp_path / "ff.CSV", table, (*FF3, "RF"))
    mom = write_french(tmp_path / "mom.CSV", table, ("MOM",))
    events = tmp_path / "events.csv"
    events.write_text("event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n")
    base = ["run", "--events", str(events), "--tickers", "MP,UUUU", "--prices", str(prices_dir), "--window", "0", "1"]
    for model, files in (("ff3", [ff]), ("carhart", [ff, mom])):
        out = tmp_path / model
        args = [*base, "--model", model, *(a for f in files for a in ("--factors-file", str(f))), "--out", str(out)]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        params = pd.read_csv(out / "parameters.csv")
        ar = pd.read_csv(out / "ar.csv", parse_dates=["date"])
        assert set(params["model"]) == {model} and "beta_HML" in params
        names = [*FF3, "MOM"] if model == "carhart" else list(FF3)
        for row in params.itertuples():
            coefs = np.r_[row.alpha, row.beta, [getattr(row, f"beta_{n}") for n in names[1:]]]
            pair = ar[ar["ticker"] == row.ticker].set_index("date")
            f = table.reindex(pair.index)
            normal = f["RF"] + sm.add_constant(f[names].to_numpy()) @ coefs
            np.testing.assert_allclose(pair["normal_return"], normal, rtol=1e-6, atol=1e-12)
    args = [*base, "--model", "carhart", "--factors-file", str(ff), "--out", str(tmp_path / "x")]
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code == 2 and "needs factor columns MOM" in bad.output
    assert not (tmp_path / "x").exists()
