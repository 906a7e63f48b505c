"""Figures hold the data they claim to show, checked on small hand-made frames in the engine's shape."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from scipy import stats

from eventstudy.errors import InputError
from eventstudy.plotting import (
    car_paths,
    default_window,
    plot_ar_heatmap,
    plot_car_bars,
    plot_car_paths,
    plot_prices,
    significance_stars,
)

DAYS = list(range(-3, 4))
# AR per pair and day -3..3 (one event, three tickers; ZZZ has no trade on day -1)
AR = {
    ("E1", "XXX"): [0.01, -0.02, 0.00, 0.05, 0.01, -0.01, 0.02],
    ("E1", "YYY"): [0.00, 0.01, -0.01, 0.03, 0.02, 0.00, 0.00],
    ("E1", "ZZZ"): [-0.01, 0.00, np.nan, 0.08, -0.02, 0.01, 0.01],
}


def _results(ar: dict = AR) -> SimpleNamespace:
    day0 = pd.Timestamp("2025-10-09")
    rows = [
        (event, ticker, day, day0 + pd.offsets.BDay(day), value)
        for (event, ticker), values in ar.items()
        for day, value in zip(DAYS, values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["event_id", "ticker", "day", "date", "ar"])
    car = pd.DataFrame(
        [
            ("E1", "XXX", "0..0", 0.05, 0.02, 2.5, 0.012),
            ("E1", "YYY", "0..0", 0.03, 0.02, 1.5, 0.14),
            ("E1", "ZZZ", "0..0", 0.08, 0.02, 4.0, 0.0001),
            ("E1", "XXX", "-1..1", 0.06, 0.035, 1.7, 0.09),
            ("E1", "YYY", "-1..1", 0.04, 0.035, 1.1, 0.27),
            ("E1", "ZZZ", "-1..1", -0.06, 0.035, -1.7, 0.09),
        ],
        columns=["event_id", "ticker", "window", "car", "car_se", "car_t", "car_p"],
    )
    params = pd.DataFrame(
        {
            "event_id": "E1",
            "ticker": ["XXX", "YYY", "ZZZ"],
            "day0_date": day0,
            "estimation_start": pd.Timestamp("2025-06-02"),
            "estimation_end": pd.Timestamp("2025-09-24"),
        }
    )
    dates = pd.bdate_range("2025-01-02", "2025-12-31")
    prices = pd.DataFrame(
        [(d, t, 10.0 + i + 0.01 * j) for i, t in enumerate(["XXX", "YYY"]) for j, d in enumerate(dates)],
        columns=["date", "ticker", "adj_close"],
    )
    return SimpleNamespace(ar=frame, car=car, parameters=params, prices=prices)


def _line(fig: Figure, label: str):
    (ax,) = fig.axes
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_car_paths_cumulate_with_flat_gaps():
    paths = car_paths(_results().ar, days=(-3, 3))
    assert paths.loc[("E1", "ZZZ")].tolist() == pytest.approx(np.nancumsum(AR[("E1", "ZZZ")]).tolist())
    assert paths.loc[("E1", "ZZZ"), -1] == paths.loc[("E1", "ZZZ"), -2]


def test_caar_line_band_and_ticker_lines():
    fig = plot_car_paths(_results(), days=(-3, 3))
    assert isinstance(fig, Figure) and isinstance(fig.canvas, matplotlib.backends.backend_agg.FigureCanvasAgg)
    cum = np.array([np.nancumsum(v) for v in AR.values()])
    caar = _line(fig, "CAAR")
    assert caar.get_xdata().tolist() == DAYS
    assert caar.get_ydata() == pytest.approx(cum.mean(axis=0))
    assert _line(fig, "YYY").get_ydata() == pytest.approx(cum[1])
    (band,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    half = stats.t.ppf(0.975, 2) * cum.std(axis=0, ddof=1) / np.sqrt(3)
    vertices = band.get_paths()[0].vertices
    top = {x: y for x, y in vertices if np.isclose(y, np.interp(x, DAYS, cum.mean(axis=0) + half))}
    assert set(top) >= set(DAYS)
    assert vertices[:, 1].min() == pytest.approx((cum.mean(axis=0) - half).min())
    assert "N = 3 pairs" in fig.axes[0].get_title()


def test_car_paths_range_is_clipped_and_group_selected():
    fig = plot_car_paths(_results(), days=(-10, 10))  # the frame only holds days -3..3
    assert _line(fig, "CAAR").get_xdata().tolist() == DAYS
    with pytest.raises(InputError, match="E2"):
        plot_car_paths(_results(), group="E2")


def test_heatmap_cells_and_centred_colours():
    fig = plot_ar_heatmap(_results(), days=(-3, 3))
    ax = fig.axes[0]
    (image,) = ax.get_images()
    data = image.get_array()
    assert data.shape == (3, 7)
    assert data.mask[2, 2] and not data.mask[0, 2]  # ZZZ's missing day is masked (drawn grey)
    assert data[0].tolist() == pytest.approx(AR[("E1", "XXX")])
    bound = np.percentile(np.abs([v for row in AR.values() for v in row if not np.isnan(v)]), 95)
    assert image.norm.vcenter == 0 and image.norm.vmin == pytest.approx(-bound) and image.norm.vmax == bound
    assert [t.get_text() for t in ax.get_yticklabels()] == ["XXX", "YYY", "ZZZ"]
    assert "8" in [t.get_text() for t in ax.texts]  # ZZZ day 0 written in percent


def test_bars_heights_error_bars_and_stars():
    fig = plot_car_bars(_results())  # default window is -1..1
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.06, 0.04, -0.06])
    (errors,) = [c for c in ax.collections if c.get_segments()]
    spans = [seg[:, 1].max() - seg[:, 1].min() for seg in errors.get_segments()]
    assert spans == pytest.approx([2 * 1.96 * 0.035] * 3)
    assert sorted(t.get_text() for t in ax.texts if "*" in t.get_text() and "p<" not in t.get_text()) == ["*", "*"]
    assert "[-1, +1]" in ax.get_title()
    zero = plot_car_bars(_results(), window=(0, 0)).axes[0]
    assert [p.get_height() for p in zero.patches] == pytest.approx([0.05, 0.03, 0.08])


def test_prices_panels_mark_day0():
    fig = plot_prices(_results())
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["XXX", "YYY", "ZZZ"]
    line = visible[0].get_lines()[0]
    first = pd.bdate_range("2025-01-02", "2025-12-31").get_loc(pd.Timestamp("2025-06-02"))
    assert line.get_ydata()[0] == pytest.approx(10.0 + 0.01 * first)  # the panel starts at estimation_start
    day0 = matplotlib.dates.date2num(pd.Timestamp("2025-10-09"))
    marks = [matplotlib.dates.date2num(ln.get_xdata()) for ln in visible[1].get_lines()[1:]]
    assert any(np.allclose(x, day0) for x in marks)
    assert any(t.get_text() == "no prices" for t in visible[2].texts)
    with pytest.raises(InputError, match="price frame"):
        plot_prices(SimpleNamespace(ar=_results().ar, parameters=_results().parameters))


@pytest.mark.parametrize("years", [1, 2, 2.5, 3])
def test_prices_panels_pick_their_date_ticks_for_an_estimation_window_of_any_length(years):
    """An estimation window starting two to three years before day 0 used to leave matplotlib's date locator with
    no month step that fits 3-5 ticks: it warned ("unable to pick an appropriate interval") and chose its own."""
    results = _results()
    start = pd.Timestamp("2025-10-09") - pd.Timedelta(days=int(365 * years))
    results.parameters["estimation_start"] = start
    dates = pd.bdate_range(start - pd.Timedelta(days=30), "2025-12-31")
    results.prices = pd.DataFrame({"date": dates, "ticker": "XXX", "adj_close": np.linspace(10, 12, len(dates))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning of the tick locator fails the test
        fig = plot_prices(results, tickers=["XXX"])
        fig.canvas.draw()
        ticks = fig.axes[0].get_xticks()
    assert 2 <= len(ticks) <= 6


def test_helpers():
    assert [significance_stars(p) for p in (0.005, 0.03, 0.07, 0.2, float("nan"))] == ["***", "**", "*", "", ""]
    assert default_window(pd.DataFrame({"window": ["0..5", "0..0"]})) == "0..0"
    assert default_window(pd.DataFrame({"window": ["2..7"]})) == "2..7"
    with pytest.raises(InputError):
        plot_car_paths(pd.DataFrame({"x": [1]}))
