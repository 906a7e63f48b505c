"""Abnormal volume (Campbell & Wasley 1996) on the real MP/SPY volumes against a hand computation and statsmodels,
and the volatility tests (variance-ratio F, BMP cross-sectional variance) against scipy by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from eventstudy import EventStudy, EventStudyResults
from eventstudy.engine.volatility import csect_variance, row_variances, variance_ratio


@pytest.fixture(scope="module")
def volumes(prices_dir):
    mp = pd.read_csv(prices_dir / "MP.csv", parse_dates=["date"]).set_index("date")
    spy = pd.read_csv(prices_dir / "SPY.csv", parse_dates=["date"]).set_index("date")
    return mp, spy


def _study(prices_dir, volume: str):
    events = pd.DataFrame({"event_id": ["E09"], "ticker": ["MP"], "date": ["2025-10-09"]})
    return EventStudy(events, prices_dir, market="SPY", windows=[(0, 1), (0, 5)], volume=volume).fit()


def _estimation_days(spy: pd.DataFrame) -> pd.DatetimeIndex:
    sessions = spy.index  # SPY trades every XNYS session
    day0 = sessions.get_loc(pd.Timestamp("2025-10-09"))
    return sessions[day0 - 250 : day0 - 10]


def test_mean_adjusted_abnormal_volume_by_hand(prices_dir, volumes):
    mp, spy = volumes
    res = _study(prices_dir, "mean")
    est = _estimation_days(spy)
    v = np.log1p(mp["volume"].reindex(est).dropna())
    assert res.cav["n_obs"].iloc[0] == len(v) > 60
    mean, sd = v.mean(), v.std(ddof=1)
    av = res.av.set_index("date")
    day0 = pd.Timestamp("2025-10-09")
    expected = np.log1p(mp.loc[day0, "volume"]) - mean
    np.testing.assert_allclose(av.loc[day0, "abnormal_log_volume"], expected, rtol=1e-10)
    np.testing.assert_allclose(av.loc[day0, "sav"], expected / (sd * np.sqrt(1 + 1 / len(v))), rtol=1e-10)
    assert av.loc[day0, "volume"] == mp.loc[day0, "volume"]
    cav = res.cav.set_index("window").loc["0..5"]
    days = spy.index[spy.index.get_loc(day0) : spy.index.get_loc(day0) + 6]
    hand = (np.log1p(mp["volume"].reindex(days)) - mean).sum()
    np.testing.assert_allclose(cav["cav"], hand, rtol=1e-10)
    np.testing.assert_allclose(cav["cav_se"], sd * np.sqrt(6 + 36 / len(v)), rtol=1e-10)
    tests = res.tests[res.tests["group"] == "all"]
    vol = tests[(tests["measure"] == "volume") & (tests["window"] == "0..1")].set_index("test")
    assert set(vol.index) >= {"csect_t", "patell_z", "corrado_rank", "grank"} and vol.loc["csect_t", "n"] == 1
    # the return battery is unchanged and comes first
    assert res.tests["measure"].iloc[0] == "return"


def test_market_volume_model_matches_statsmodels(prices_dir, volumes):
    mp, spy = volumes
    res = _study(prices_dir, "market")
    est = _estimation_days(spy)
    frame = pd.DataFrame({"v": np.log1p(mp["volume"]), "m": np.log1p(spy["volume"])}).reindex(est).dropna()
    ols = sm.OLS(frame["v"], sm.add_constant(frame["m"])).fit()
    day0 = pd.Timestamp("2025-10-09")
    expected = (
        np.log1p(mp.loc[day0, "volume"]) - ols.params["const"] - ols.params["m"] * np.log1p(spy.loc[day0, "volume"])
    )
    np.testing.assert_allclose(res.av.set_index("date").loc[day0, "abnormal_log_volume"], expected, rtol=1e-9)


def test_volume_tables_round_trip(prices_dir, tmp_path):
    res = _study(prices_dir, "mean")
    back = EventStudyResults.from_dir(res.to_dir(tmp_path / "run"))
    pd.testing.assert_frame_equal(back.cav, res.cav, check_dtype=False)
    assert list(back.av.columns) == ["event_id", "ticker", "day", "date", "volume", "abnormal_log_volume", "sav"]
    assert set(back.tests["measure"]) == {"return", "volatility", "volume"}
    assert "Abnormal volume" in back.summary() and "Abnormal volatility" in back.summary()


def test_variance_ratio_is_the_f_test_for_one_pair():
    rng = np.random.default_rng(4)
    ar = rng.normal(0, 0.03, (1, 6))
    sigma, dof = np.array([0.02]), np.array([238])
    f = ar[0].var(ddof=1) / 0.02**2
    p_one = stats.f.cdf(f, 5, 238)
    res = variance_ratio(ar, sigma, dof)
    np.testing.assert_allclose(res.statistic, stats.norm.ppf(p_one), rtol=1e-9)
    np.testing.assert_allclose(res.p_value, 2 * min(p_one, 1 - p_one), rtol=1e-7)
    assert np.isnan(variance_ratio(ar[:, :1], sigma, dof).statistic)  # a one-day window has no variance


@pytest.mark.parametrize("days", [2, 7, 8, 21, 128, 129, 300, 1100])
def test_row_variances_are_numpys_nanvar_bit_for_bit(days):
    """The compiled walk against np.nanvar(ddof=1) of each row (numpy's pairwise sums below 8, at 8 to 128 and
    above 128 values, runs split over several levels), on a strided view with NaN and inf, rows of very different
    scales."""
    rng = np.random.default_rng(days)
    x = rng.standard_normal((2000, days + 5)) * rng.choice([1e-4, 1.0, 1e5], (2000, 1)) + 3.0
    x[rng.random(x.shape) < 0.2] = np.nan
    x[7, 3] = np.inf
    view = x[:, 2 : 2 + days]
    count, variance = row_variances(view)
    present = (~np.isnan(view)).sum(axis=1)
    with warnings.catch_warnings():  # rows with fewer than two values: "Degrees of freedom <= 0"
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanvar(view, axis=1, ddof=1)
    np.testing.assert_array_equal(count, np.isfinite(view).sum(axis=1))
    np.testing.assert_array_equal(variance[present >= 2], expected[present >= 2])
    assert np.isnan(variance[present < 2]).all() and (present >= 2).sum() > 1000


def test_csect_variance_by_hand_and_its_size():
    csar = np.array([0.5, -1.2, 2.5, 0.1, 1.9, -0.7])
    dof = np.full(6, 200)
    v = 200 / 198
    ratio = csar.var(ddof=1) / v
    res = csect_variance(csar, dof)
    np.testing.assert_allclose(res.statistic, ratio)
    chi = 5 * ratio
    np.testing.assert_allclose(res.p_value, 2 * min(stats.chi2.cdf(chi, 5), stats.chi2.sf(chi, 5)))
    # about 5% rejections on t-distributed standardized CARs without a variance change
    rng = np.random.default_rng(9)
    p = np.array([csect_variance(rng.standard_t(200, 30), np.full(30, 200)).p_value for _ in range(400)])
    assert 0.025 < (p < 0.05).mean() < 0.08
    wide = np.array([csect_variance(2 * rng.standard_t(200, 30), np.full(30, 200)).p_value for _ in range(50)])
    assert (wide < 0.05).mean() > 0.9


def _prices_without_volume(prices_dir, tickers):
    from eventstudy.prices.files import read_prices

    prices = read_prices(prices_dir, ["MP", "SPY"])
    return prices.assign(volume=prices["volume"].where(~prices["ticker"].isin(tickers)))


@pytest.mark.parametrize("model", ["mean", "market"])
def test_volume_without_any_volume_is_a_clear_error(prices_dir, model):
    from eventstudy.errors import InputError

    events = pd.DataFrame({"event_id": ["E09"], "ticker": ["MP"], "date": ["2025-10-09"]})
    prices = _prices_without_volume(prices_dir, ["MP", "SPY"])
    with pytest.raises(InputError, match="prices hold none .* run without --volume"):
        EventStudy(events, prices, market="SPY", volume=model).fit()


def test_market_volume_model_without_the_benchmarks_volume_names_it(prices_dir):
    from eventstudy.errors import InputError

    events = pd.DataFrame({"event_id": ["E09"], "ticker": ["MP"], "date": ["2025-10-09"]})
    prices = _prices_without_volume(prices_dir, ["SPY"])
    with pytest.raises(InputError, match="SPY has none in the prices: use --volume mean"):
        EventStudy(events, prices, market="SPY", volume="market").fit()
    res = EventStudy(events, prices, market="SPY", windows=[(0, 1)], volume="mean").fit()  # mean needs only MP's
    assert np.isfinite(res.cav["cav"]).all()


def test_volume_matrix_of_prices_without_volume_is_missing_everywhere():
    from eventstudy.engine.volume import volume_matrix

    prices = pd.DataFrame({"date": pd.to_datetime(["2025-01-02"]), "ticker": ["MP"], "volume": [np.nan]})
    dates = np.array([["2025-01-02", "NaT"]], dtype="datetime64[ns]")
    assert np.isnan(volume_matrix(prices, np.array(["MP"], dtype=object), dates)).all()
