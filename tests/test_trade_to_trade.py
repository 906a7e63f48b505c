"""Missing sessions (issue 11): trade-to-trade returns, and windows the data do not cover, through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner

from eventstudy.cli import main

E09 = "event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n"


def _run(tmp: Path, prices: Path, events: str, *windows: tuple[int, int]) -> tuple[Path, str]:
    (tmp / "events.csv").write_text(events)
    out = tmp / "out"
    flags = [x for w in windows for x in ("--window", str(w[0]), str(w[1]))]
    args = ["run", "--events", str(tmp / "events.csv"), "--tickers", "MP", "--market", "SPY", *flags]
    result = CliRunner().invoke(main, [*args, "--prices", str(prices), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def mp_runs(tmp_path_factory, prices_dir):
    """MP against SPY on E09, with all prices and with MP's 2025-10-09 row removed."""
    runs = {}
    for name in ("full", "gap"):
        tmp = tmp_path_factory.mktemp(name)
        folder = tmp / "prices"
        folder.mkdir()
        shutil.copy(prices_dir / "SPY.csv", folder)
        mp = pd.read_csv(prices_dir / "MP.csv", dtype=str)
        (mp if name == "full" else mp[mp["date"] != "2025-10-09"]).to_csv(folder / "MP.csv", index=False)
        out, text = _run(tmp, folder, E09, (-1, 1), (0, 1))
        runs[name] = {t: pd.read_csv(out / f"{t}.csv") for t in ("ar", "car", "parameters")}, text, folder
    return runs


def test_missing_day0_keeps_the_move_trade_to_trade(mp_runs):
    (full, _, _), (gap, text, _) = mp_runs["full"], mp_runs["gap"]
    fcar = full["car"].set_index("window")
    gcar = gap["car"].set_index("window")
    far = full["ar"].set_index("day")
    # on today's code the gap dropped days 0 and 1: CAR[-1,1] -0.056 against +0.069 with the row present
    r0, r1 = far.loc[0, "return"], far.loc[1, "return"]
    # the two-session return (1 + R0)(1 + R1) - 1 replaces R0 + R1; the normal return is the same sum
    assert gcar.loc["-1..1", "car"] == pytest.approx(fcar.loc["-1..1", "car"] + r0 * r1, rel=1e-10)
    assert gcar.loc["-1..1", "car"] == pytest.approx(0.0707, abs=5e-5)
    # variance: 3 sigma^2 + s'(X'X)^-1 s with s = (3, sum R_m), the same sessions as the full window
    assert gcar.loc["-1..1", "car_se"] == pytest.approx(fcar.loc["-1..1", "car_se"], rel=1e-10)
    assert gcar.loc["-1..1", "n_days"] == 2 and bool(gcar.loc["-1..1", "complete"])
    assert gcar.loc["0..1", "n_days"] == 1 and bool(gcar.loc["0..1", "complete"])
    gar = gap["ar"].set_index("day")
    assert np.isnan(gar.loc[0, "return"]) and gar.loc[0, "span"] == 0 and gar.loc[1, "span"] == 2
    assert set(far["span"]) == {1}
    assert "E09 window -1..1: MP (2 of 3 days) with a price" in text


def test_trade_to_trade_standardized_ar_matches_statsmodels(mp_runs):
    """SAR of the two-session return = AR / sqrt(2 sigma^2 + x' Cov(beta) x), x = (2, R_m0 + R_m1)."""
    (full, _, _), (gap, _, folder) = mp_runs["full"], mp_runs["gap"]
    par = gap["parameters"].iloc[0]
    frames = [
        pd.read_csv(folder / f"{t}.csv", parse_dates=["date"]).set_index("date")["adj_close"] for t in ("MP", "SPY")
    ]
    ret = pd.concat(frames, axis=1, keys=["MP", "SPY"], sort=True).pct_change()
    est = ret.loc[par["estimation_start"] : par["estimation_end"]]
    ols = sm.OLS(est["MP"], sm.add_constant(est["SPY"])).fit()
    assert len(est) == par["n_obs"] and ols.params.iloc[1] == pytest.approx(par["beta"], rel=1e-9)
    far = full["ar"].set_index("day")
    x = np.array([2.0, ret.loc["2025-10-09", "SPY"] + ret.loc["2025-10-10", "SPY"]])
    normal = x @ ols.params.to_numpy()
    two_day = (1 + far.loc[0, "return"]) * (1 + far.loc[1, "return"]) - 1
    sar = (two_day - normal) / np.sqrt(2 * ols.scale + x @ ols.cov_params().to_numpy() @ x)
    gar = gap["ar"].set_index("day")
    assert gar.loc[1, "normal_return"] == pytest.approx(normal, rel=1e-9)
    assert gar.loc[1, "sar"] == pytest.approx(sar, rel=1e-9)


def test_window_past_the_data_is_flagged_incomplete(tmp_path, prices_dir):
    # 2026-07-09 is three sessions before the last price (2026-07-13)
    out, text = _run(tmp_path, prices_dir, "event_id,date\nLATE,2026-07-09\n", (0, 5), (-1, 1), (-5, 100000))
    car = pd.read_csv(out / "car.csv").set_index("window")
    assert not car.loc["0..5", "complete"] and car.loc["0..5", "n_days"] == 3
    assert not car.loc["-5..100000", "complete"]
    assert car.loc["-1..1", "complete"]
    assert "LATE window 0..5 is incomplete for MP (3 of 6 days)" in text
    assert "incomplete" in text.split("CAR per pair")[1]
    report = CliRunner().invoke(main, ["report", str(out), "--format", "md"])
    assert report.exit_code == 0, report.output
    assert "LATE window 0..5 is incomplete for MP (3 of 6 days)" in (out / "report.md").read_text()


def test_window_warnings_are_counted_in_full_but_formatted_only_up_to_the_limit():
    import pandas as pd

    from eventstudy.results import window_warnings

    car = pd.DataFrame(
        {
            "event_id": [f"E{i}" for i in range(60)] + ["E0"],
            "ticker": ["MP"] * 60 + ["UUUU"],
            "window": ["0..5"] * 61,
            "n_days": [3] * 60 + [6],
            "complete": [False] * 60 + [True],
        }
    )
    lines, count = window_warnings(car, 50)
    assert count == 60 and len(lines) == 50
    assert lines[0].startswith("E0 window 0..5 is incomplete for MP (3 of 6 days)")
    everything, total = window_warnings(car)
    assert total == 60 and len(everything) == 60 and everything[:50] == lines
    assert window_warnings(car.iloc[60:]) == ([], 0)


def _trade_to_trade_reference(values: np.ndarray, max_move: float):
    """Trade-to-trade returns written independently, one column and one session at a time (pure Python)."""
    n_sessions, n_tickers = values.shape
    ratio, span, jumps = np.full(values.shape, np.nan), np.zeros(values.shape, dtype=np.int64), []
    for t in range(n_tickers):
        last = None
        for s in range(n_sessions):
            if np.isnan(values[s, t]):
                continue
            if last is not None:
                ratio[s, t] = values[s, t] / values[last, t]
                span[s, t] = s - last
                if ratio[s, t] > max_move or ratio[s, t] * max_move < 1:
                    jumps.append((s, t, last))
            last = s
    return ratio, span, min(jumps) if jumps else None


@pytest.mark.parametrize("kind", ["simple", "log"])
def test_returns_on_sessions_equal_a_session_by_session_reference(kind):
    """The compiled pass gives every return and span exactly, with gaps, leading NaNs, listing dates, a reindex onto
    sessions the data lack, and names the first implausible move in (session, ticker) order."""
    from eventstudy.errors import PriceDataError
    from eventstudy.prices.matrix import returns_on_sessions

    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=300)
    values = np.exp(np.cumsum(rng.normal(0, 0.03, (300, 40)), axis=0)) * 20
    values[rng.random(values.shape) < 0.1] = np.nan
    values[:50, 3] = np.nan
    values[:, 4] = np.nan
    wide = pd.DataFrame(values, index=dates, columns=[f"T{i}" for i in range(40)])
    sessions = dates.delete(np.arange(0, 300, 13)).append(pd.bdate_range("2021-03-01", periods=5))
    listed = {"T5": dates[120]}
    returns, span = returns_on_sessions(wide, sessions, listed, kind)
    placed = wide.reindex(sessions).to_numpy().copy()
    placed[sessions < listed["T5"], 5] = np.nan
    ratio, want_span, jump = _trade_to_trade_reference(placed, 10.0)
    assert jump is None
    want = np.log(ratio) if kind == "log" else ratio - 1.0
    np.testing.assert_array_equal(returns.to_numpy(), want)
    np.testing.assert_array_equal(span.to_numpy(), want_span)
    assert span.dtypes.eq(np.int64).all() and (span.to_numpy()[:, 4] == 0).all()

    bad = wide.copy()
    bad.iloc[200, 30] *= 40  # later ticker, same session as the one named
    bad.iloc[200, 9] /= 40
    bad.iloc[250, 2] *= 40  # earlier ticker, later session
    s, t, p = _trade_to_trade_reference(bad.reindex(sessions).to_numpy(), 10.0)[2]
    with pytest.raises(PriceDataError, match=f"^T{t}: price .* on {sessions[s]:%Y-%m-%d} .* on {sessions[p]:%Y-%m-%d}"):
        returns_on_sessions(bad, sessions)
