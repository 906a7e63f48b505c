"""The HTML and Markdown report: content, escaping of user text, self-containment, atomic writes, CLI."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.errors import InputError
from eventstudy.report import md_escape, reading, safe_url, write_report

EVIL = "<script>alert(1)</script>"
TICKERS = ["AAA", "BBB", "CCC", "DDD"]
WINDOWS = ["-1..1", "0..0", "0..5", "-5..10"]
TESTS = {
    "csect_t": (4.1, 0.0004),
    "patell_z": (5.0, 1e-6),
    "bmp_t": (3.2, 0.004),
    "sign": (2.0, 0.046),
    "wilcoxon": (2.2, 0.03),
    "kp_bmp_t": (1.6, 0.13),
    "time_series_t": (1.4, 0.16),
    "grank": (1.1, 0.27),
    "corrado_rank": (1.0, 0.31),
    "generalized_sign": (1.9, 0.057),
}


def fake_results(label: str = EVIL, excerpt: str = "Shares <b>jumped</b> | 5% & more") -> SimpleNamespace:
    """Results in the engine's contract shape: one event, four tickers, days -10..10, a shared day 0."""
    rng = np.random.default_rng(7)
    day0 = pd.Timestamp("2025-10-09")
    sessions = pd.bdate_range(day0 - pd.Timedelta(days=420), day0 + pd.Timedelta(days=40))
    i0 = sessions.get_loc(day0)
    ar_rows, car_rows, par_rows, ali_rows = [], [], [], []
    for k, ticker in enumerate(TICKERS):
        ars = rng.normal(0.0, 0.02, 21)
        ars[10] += 0.05 * (k + 1)
        if ticker == "DDD":
            ars[3] = np.nan
        for d, a in zip(range(-10, 11), ars, strict=True):
            ar_rows.append(("E09", ticker, d, sessions[i0 + d], a + 0.001, 0.001, a, a / 0.02))
        for w in WINDOWS:
            lo, hi = (int(x) for x in w.split(".."))
            car = float(np.nansum(ars[lo + 10 : hi + 11]))
            se = 0.02 * np.sqrt(hi - lo + 1)
            p = float(2 * (1 - __import__("scipy").stats.norm.cdf(abs(car / se))))
            car_rows.append(
                ("E09", ticker, w, car, se, car / se, p, car * 1.01, "C01 tariff" if w in ("0..5", "-5..10") else "")
            )
        n_obs = 110 if ticker == "CCC" else 240
        par_rows.append(
            (
                "E09",
                ticker,
                "market",
                "ok",
                "",
                n_obs,
                0.0004,
                1.2,
                0.02,
                0.31,
                sessions[i0 - 250],
                sessions[i0 - 11],
                day0,
                3,
            )
        )
        ali_rows.append(
            ("E09", ticker, "XNYS", "2025-10-09 01:00+00:00", "2025-10-09 09:00+08:00", day0, "before open")
        )
    par_rows.append(
        ("E09", "EEE", "market", "insufficient_data", "only 12 clean returns < 60", 12)
        + (np.nan,) * 4
        + (pd.NaT, pd.NaT, day0, 0)
    )
    ar = pd.DataFrame(ar_rows, columns=["event_id", "ticker", "day", "date", "return", "normal_return", "ar", "sar"])
    car = pd.DataFrame(
        car_rows,
        columns=["event_id", "ticker", "window", "car", "car_se", "car_t", "car_p", "bhar", "contaminated"],
    )
    parameters = pd.DataFrame(
        par_rows,
        columns=[
            "event_id",
            "ticker",
            "model",
            "status",
            "reason",
            "n_obs",
            "alpha",
            "beta",
            "sigma",
            "r2",
            "estimation_start",
            "estimation_end",
            "day0_date",
            "masked_days",
        ],
    )
    tests = pd.DataFrame(
        [("all", w, t, s, p, 4) for w in WINDOWS for t, (s, p) in TESTS.items()],
        columns=["group", "window", "test", "statistic", "p_value", "n"],
    )
    alignment = pd.DataFrame(
        ali_rows,
        columns=["event_id", "ticker", "venue", "announced_at_utc", "announced_at_local", "day0", "reason"],
    )
    events = pd.DataFrame(
        {
            "event_id": "E09",
            "ticker": TICKERS,
            "date": day0,
            "time": "09:00",
            "timezone": "Asia/Shanghai",
            "label": label,
            "kind": "tightening",
            "instrument": "MOFCOM Announcement No. 61 of 2025",
            "source_url": "https://example.org/a?x=1&y=2 ; javascript:alert(2)",
            "excerpt": excerpt,
        }
    )
    prices = pd.DataFrame(
        [(d, t, 10 * (1 + 0.1 * k) * np.exp(0.001 * j)) for k, t in enumerate(TICKERS) for j, d in enumerate(sessions)],
        columns=["date", "ticker", "adj_close"],
    )
    return SimpleNamespace(
        ar=ar,
        car=car,
        parameters=parameters,
        tests=tests,
        alignment=alignment,
        events=events,
        prices=prices,
        aar=pd.DataFrame(columns=["group", "window", "day", "n", "aar", "caar"]),
        config={"model": "market", "market": "SPY", "estimation": [-250, -11], "label": EVIL},
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = write_report(fake_results(), out)
    return out, paths, paths["html"].read_text(encoding="utf-8"), paths["md"].read_text(encoding="utf-8")


def test_user_text_is_escaped_in_html(report):
    _, _, page, _ = report
    parser = _Collector()
    parser.feed(page)
    assert [t for t, _ in parser.tags if t == "script"] == []
    assert "<script>" not in page and "<b>jumped" not in page
    assert EVIL in "".join(parser.text)  # shown as text
    assert "Shares <b>jumped</b> | 5% & more" in "".join(parser.text)
    hrefs = [a["href"] for t, a in parser.tags if t == "a"]
    assert hrefs == ["https://example.org/a?x=1&y=2"]  # javascript: dropped, & decoded back by the parser


def test_html_is_self_contained(report):
    _, _, page, _ = report
    assert not re.search(r"""src\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page.lower()
    assert not re.search(r"url\(", page)
    assert "@import" not in page
    parser = _Collector()
    parser.feed(page)
    images = [a for t, a in parser.tags if t == "img"]
    assert len(images) == 4
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)


def test_every_section_is_present(report):
    _, _, page, md = report
    for section in (
        "headline",
        "warnings",
        "studied",
        "fig-car_paths",
        "fig-car_bars",
        "car",
        "tests",
        "fig-ar_heatmap",
        "fig-prices",
        "alignment",
        "diagnostics",
        "settings",
    ):
        assert f'<section id="{section}">' in page
        assert f'<a id="{section}"></a>' in md
    for text in (
        "MOFCOM Announcement No. 61 of 2025",
        "Asia/Shanghai",
        "before open",
        "XNYS",
        "kp_bmp_t",
        "generalized_sign",
        "robust (hold their size with shared dates and overlapping windows)",
        "insufficient_data",
        "only 12 clean returns",
    ):
        assert text in page


def test_tests_table_side_by_side_and_reading(report):
    _, _, page, _ = report
    header = re.search(r"<tr><th>group</th>.*?</tr>", page).group(0)
    names = re.findall(r"<th>([a-z_]+)</th>", header)
    assert names[2:] == [  # grouped by family: the naive tests, then the robust one
        "csect_t",
        "patell_z",
        "bmp_t",
        "sign",
        "wilcoxon",
        "time_series_t",
        "grank",
        "corrado_rank",
        "generalized_sign",
        "kp_bmp_t",
    ]
    assert 'colspan="9">naive (' in page and 'colspan="1">robust (' in page
    assert "4.10*** (&lt;0.001)" in page and "1.60 (0.130)" in page


def test_reading_uses_the_numbers():
    results = fake_results()
    text = reading(results, "-1..1")
    mean = results.car.loc[results.car["window"] == "-1..1", "car"].mean()
    rbar = (1 - (1.6 / 3.2) ** 2) / (1 + 3 * (1.6 / 3.2) ** 2)
    assert f"{mean:+.2%}" in text
    assert "naive cross-sectional t is 4.1 (p<0.001) but the KP-adjusted BMP t is 1.6 (p=0.130)" in text
    assert f"correlation of {rbar:.2f} among N=4 same-day pairs" in text
    assert "weaker than the naive test suggests" in text
    results.tests.loc[results.tests["test"] == "kp_bmp_t", "p_value"] = 0.01
    assert "survives the adjustment" in reading(results, "-1..1")
    results.tests.loc[results.tests["test"] == "csect_t", "p_value"] = 0.5
    results.tests.loc[results.tests["test"] == "kp_bmp_t", "p_value"] = 0.5
    assert "Neither test rejects zero" in reading(results, "-1..1")


def test_car_table_marks_and_warnings(report):
    _, _, page, md = report
    results = fake_results()
    row = results.car[(results.car["ticker"] == "DDD") & (results.car["window"] == "0..0")].iloc[0]
    assert f"{row['car']:+.2%}" in page
    assert "CCC: short estimation window, 110 clean returns of 240" in page
    assert "E09 EEE: status insufficient_data" in page
    assert "E09 CAR[-5, +10], CAR[0, +5]: the window contains a confounder (C01 tariff) for AAA, BBB, CCC, DDD" in page
    assert "All 5 pairs share day 0 (2025-10-09)" in page
    assert "†" in page


def test_markdown_escapes_and_figures(report):
    out, _, _, md = report
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "Shares &lt;b&gt;jumped&lt;/b&gt; \\| 5% &amp; more" in md
    assert "](javascript:" not in md and "[example.org](https://example.org/a?x=1&y=2)" in md
    for key in ("car_paths", "car_bars", "ar_heatmap", "prices"):
        png = out / "figures" / f"{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(figures/{key}.png)" in md
    # every table row has the header's number of cells (escaped pipes do not split cells)
    for block in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        counts = {len(re.split(r"(?<!\\)\|", line)) for line in block.strip().splitlines()}
        assert len(counts) == 1, block
    assert not list(out.glob(".*.tmp"))


def test_helpers():
    assert md_escape("a|b*c_<d>") == "a\\|b\\*c\\_&lt;d&gt;"
    assert safe_url("https://x.org/p?q=1") == "https://x.org/p?q=1"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "http://",
        "https://a b",
        'https://x"y',
        "ftp://x",
    ):
        assert safe_url(bad) is None


def test_only_html_and_no_prices(tmp_path):
    results = fake_results()
    results.prices = None
    paths = write_report(results, tmp_path, formats=("html",))
    assert set(paths) == {"html"} and not (tmp_path / "report.md").exists()
    page = paths["html"].read_text()
    assert "Figure not drawn" in page and page.count("<img ") == 3
    with pytest.raises(InputError, match="unknown report format"):
        write_report(results, tmp_path, formats=("pdf",))


def test_cli_report(tmp_path, monkeypatch):
    from eventstudy.cli import main

    results = fake_results()
    loaded = []

    def from_dir(path):
        loaded.append(path)
        return results

    monkeypatch.setattr("eventstudy.cli.report.EventStudyResults.from_dir", staticmethod(from_dir))
    outcome = CliRunner().invoke(main, ["report", str(tmp_path), "--format", "md"])
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "report.md").exists() and not (tmp_path / "report.html").exists()
    assert str(tmp_path / "report.md") in outcome.output
    outcome = CliRunner().invoke(main, ["report", str(tmp_path / "missing")])
    assert outcome.exit_code == 2
