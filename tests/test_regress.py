"""Second-stage regression of CARs on characteristics: HC3 and date-clustered standard errors by hand, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from eventstudy.cli import main
from eventstudy.errors import InputError
from eventstudy.inference.regression import read_characteristics, regress_car


@pytest.fixture
def sample():
    rng = np.random.default_rng(8)
    n = 40
    chars = pd.DataFrame(
        {"ticker": [f"T{i}" for i in range(n)], "size": rng.normal(0, 1, n), "beta": rng.normal(1, 0.3, n)}
    )
    car = pd.DataFrame(
        {
            "event_id": np.repeat(["E1", "E2", "E3", "E4"], n // 4),
            "ticker": chars["ticker"],
            "car": 0.01
            + 0.02 * chars["size"]
            - 0.03 * chars["beta"]
            + rng.normal(0, 0.02 * (1 + np.abs(chars["size"]))),
        }
    )
    dates = pd.Series(np.repeat(pd.to_datetime(["2025-01-02", "2025-02-03", "2025-03-03", "2025-04-01"]), n // 4))
    return car, chars, dates


def _ols(car, chars):
    x = np.column_stack([np.ones(len(chars)), chars[["size", "beta"]].to_numpy()])
    y = car["car"].to_numpy()
    xtx_inv = np.linalg.inv(x.T @ x)
    b = xtx_inv @ x.T @ y
    return x, y, xtx_inv, b, y - x @ b


def test_hc3_by_hand(sample):
    car, chars, dates = sample
    out = regress_car(car, read_characteristics(chars), "hc3", dates).set_index("term")
    x, y, xtx_inv, b, u = _ols(car, chars)
    h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    cov = xtx_inv @ (x.T * (u / (1 - h)) ** 2) @ x @ xtx_inv
    se = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(out["coef"], b, rtol=1e-10)
    np.testing.assert_allclose(out["se"], se, rtol=1e-10)
    np.testing.assert_allclose(out["p_value"], 2 * stats.t.sf(np.abs(b / se), len(y) - 3), rtol=1e-8)
    r2 = 1 - (u**2).sum() / ((y - y.mean()) ** 2).sum()
    assert list(out.index) == ["const", "size", "beta"] and (out["n"] == 40).all()
    np.testing.assert_allclose(out["r2"], r2)


def test_date_clustered_by_hand(sample):
    car, chars, dates = sample
    out = regress_car(car, read_characteristics(chars), "cluster-date", dates).set_index("term")
    x, y, xtx_inv, b, u = _ols(car, chars)
    groups = pd.factorize(dates)[0]
    meat = sum(np.outer(x[groups == g].T @ u[groups == g], x[groups == g].T @ u[groups == g]) for g in range(4))
    n, k, g = len(y), 3, 4
    cov = g / (g - 1) * (n - 1) / (n - k) * xtx_inv @ meat @ xtx_inv
    se = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(out["se"], se, rtol=1e-10)
    np.testing.assert_allclose(out["p_value"], 2 * stats.t.sf(np.abs(b / se), g - 1), rtol=1e-8)
    with pytest.raises(InputError, match="at least two dates"):
        regress_car(car, read_characteristics(chars), "cluster-date", pd.Series([dates[0]] * 40))


def test_bad_characteristics(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("ticker,size\nMP,1.0\nUUUU,big\n")
    with pytest.raises(InputError, match="row 3: size='big' is not a number"):
        read_characteristics(path)
    path.write_text("symbol,size\nMP,1.0\n")
    with pytest.raises(InputError, match="no 'ticker' column"):
        read_characteristics(path)


def test_regress_cli_on_a_real_run(tmp_path, prices_dir):
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,ticker,date\nE1,MP,2025-10-09\nE1,UUUU,2025-10-09\nE1,ALB,2025-10-09\nE1,LAC,2025-10-09\n"
    )
    run = tmp_path / "run"
    args = ["run", "--events", str(events), "--prices", str(prices_dir), "--market", "SPY", "--window", "0", "1"]
    assert CliRunner().invoke(main, [*args, "--out", str(run)]).exit_code == 0
    chars = tmp_path / "chars.csv"
    chars.write_text("ticker,runup\nMP,0.5\nUUUU,0.2\nALB,-0.1\nLAC,0.3\n")
    result = CliRunner().invoke(main, ["regress", str(run), "--characteristics", str(chars), "--window", "0", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(run / "regression.csv")
    assert list(table.columns) == ["term", "coef", "se", "t", "p_value", "cov_type", "n", "r2"]
    car = pd.read_csv(run / "car.csv").query("window == '0..1'").set_index("ticker")["car"]
    x = pd.read_csv(chars).set_index("ticker").loc[car.index, "runup"]
    np.testing.assert_allclose(table.loc[1, "coef"], np.polyfit(x, car, 1)[0], rtol=1e-9)
    bad = CliRunner().invoke(main, ["regress", str(run), "--characteristics", str(chars), "--window", "0", "5"])
    assert bad.exit_code == 2 and "no CARs for window 0..5 (it has 0..1)" in bad.output
    clustered = ["regress", str(run), "--characteristics", str(chars), "--window", "0", "1", "--cov", "cluster-date"]
    assert "at least two dates" in CliRunner().invoke(main, clustered).output
