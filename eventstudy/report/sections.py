"""The event-study report: one self-contained HTML file and a Markdown file with PNG figures beside it.

:func:`write_report` turns an :class:`~eventstudy.results.EventStudyResults` into ``report.html`` (inline CSS,
figures as base64 PNG data URIs, no scripts, no external resources) and ``report.md`` (figures under
``figures/``). The content is assembled once as a list of sections made of tables, paragraphs, quotes and
figures, then rendered twice. Every piece of text that comes from a user file (labels, article excerpts,
tickers, reasons) is escaped for the target format, and links are kept only if they are ``http(s)`` URLs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eventstudy.errors import InputError
from eventstudy.plotting import (
    default_window,
    parse_window,
    plot_ar_heatmap,
    plot_car_bars,
    plot_car_paths,
    plot_prices,
    significance_stars,
    window_label,
)

__all__ = ["NAIVE_TESTS", "ROBUST_TESTS", "reading", "write_report"]

NAIVE_TESTS = ("csect_t", "patell_z", "bmp_t", "sign", "wilcoxon")
ROBUST_TESTS = ("kp_bmp_t", "time_series_t", "grank", "corrado_rank", "generalized_sign")
FORMATS = ("html", "md")
_SHORT_SHARE = 0.5  # a pair with fewer clean estimation returns than this share of the window is "short"


# --------------------------------------------------------------------------------------------- content model
@dataclass(frozen=True)
class Link:
    text: str
    url: str


Cell = str | Link | tuple[Link | str, ...]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    groups: list[tuple[str, int]] = field(default_factory=list)  # optional header row: (label, colspan)
    numeric: bool = False  # cells hold numbers: keep each on one line


@dataclass
class Para:
    text: str
    kind: str = ""  # "" | "lede" | "warning" | "note"


@dataclass
class Quote:
    text: str
    cite: str


@dataclass
class Image:
    key: str
    caption: str


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Table | Para | Quote | Image | list[Para]]


# ----------------------------------------------------------------------------------------------- formatting
def _num(value: Any, fmt: str = "{:.2f}") -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    return fmt.format(value) if np.isfinite(value) else ""


def _pct(value: Any) -> str:
    return _num(value, "{:+.2%}")


def _p(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _p_phrase(value: float) -> str:
    text = _p(value)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def _text(value: Any) -> str:
    """A cell from a user frame as one line of text ('' for missing); dates without a clock time as dates."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() and value.tz is None else str(value)
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return " ".join(str(value).split())


def safe_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL without spaces, quotes or control characters, else None."""
    url = url.strip()
    if not url or re.search(r"[\s\"'<>\\`\x00-\x1f\x7f]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _links(value: Any) -> tuple[Link | str, ...] | str:
    """Source cell: the ``;``-separated parts that are http(s) URLs become links, the rest stays text."""
    text = _text(value)
    if not text:
        return ""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    return tuple(Link(urlsplit(p).netloc, p) if safe_url(p) else p for p in parts)


def _frame(results: Any, name: str) -> pd.DataFrame:
    frame = getattr(results, name, None)
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def _windows(car: pd.DataFrame) -> list[str]:
    windows = list(dict.fromkeys(car["window"].astype(str))) if "window" in car else []
    return sorted(windows, key=lambda w: (parse_window(w)[1] - parse_window(w)[0], parse_window(w)))


# ------------------------------------------------------------------------------------------------- reading
def _implied_rbar(bmp: float, kp: float, n: int) -> float | None:
    """Invert kp = bmp * sqrt((1 - r) / (1 + (n - 1) r)) for the average residual correlation r."""
    if n < 2 or not np.isfinite(bmp) or not np.isfinite(kp) or bmp == 0 or kp / bmp <= 0:
        return None
    f2 = (kp / bmp) ** 2
    return (1 - f2) / (1 + (n - 1) * f2)


def _rbar(tests: pd.DataFrame, group: str, window: str) -> float | None:
    """The average pairwise residual correlation the engine recorded for ``kp_bmp_t`` (``rbar`` column)."""
    if "rbar" not in tests:
        return None
    rows = tests[(tests["group"].astype(str) == group) & (tests["window"].astype(str) == window)]
    values = pd.to_numeric(rows["rbar"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


def _test_row(tests: pd.DataFrame, group: str, window: str, test: str) -> tuple[float, float, int]:
    rows = tests[
        (tests["group"].astype(str) == group) & (tests["window"].astype(str) == window) & (tests["test"] == test)
    ]
    if rows.empty:
        return float("nan"), float("nan"), 0
    row = rows.iloc[0]
    n = int(row["n"]) if pd.notna(row["n"]) else 0
    return float(row["statistic"]), float(row["p_value"]), n


def reading(results: Any, window: str, group: str = "all", alpha: float = 0.05) -> str:
    """One plain-English line comparing the naive cross-sectional t with the KP-adjusted BMP t.

    The average pairwise residual correlation is the ``rbar`` column of ``results.tests`` when present, else it
    is recovered from the two BMP statistics (kp_bmp_t = bmp_t * sqrt((1 - r) / (1 + (N - 1) r)), Kolari &
    Pynnönen 2010), so the sentence only uses numbers that are in ``results.tests``.
    """
    tests = _frame(results, "tests")
    car = _frame(results, "car")
    naive_t, naive_p, n = _test_row(tests, group, window, "csect_t")
    kp_t, kp_p, _ = _test_row(tests, group, window, "kp_bmp_t")
    bmp_t, _, bmp_n = _test_row(tests, group, window, "bmp_t")
    rows = car[car["window"].astype(str) == window]
    if group != "all":
        rows = rows[rows["event_id"].astype(str) == group]
    caar = float(rows["car"].mean()) if len(rows) else float("nan")
    label = f"CAR{window_label(window)}"
    head = f"Mean {label} is {_pct(caar)} over N={n or len(rows)} pairs. "
    if not (np.isfinite(naive_p) and np.isfinite(kp_p)):
        return head + "The pooled tests are not available for this window."
    naive = f"the naive cross-sectional t is {naive_t:.1f} ({_p_phrase(naive_p)})"
    robust = f"the KP-adjusted BMP t is {kp_t:.1f} ({_p_phrase(kp_p)})"
    rbar = _rbar(tests, group, window)
    rbar = _implied_rbar(bmp_t, kp_t, bmp_n or n) if rbar is None else rbar
    params = _frame(results, "parameters")
    if group != "all" and "event_id" in params:
        params = params[params["event_id"].astype(str) == group]
    dates = pd.to_datetime(params.get("day0_date", pd.Series(dtype=str)), errors="coerce").dropna()
    if dates.nunique() == 1:
        among = f"among N={bmp_n or n} same-day pairs"
    else:
        among = f"among N={bmp_n or n} pairs on {dates.nunique()} dates"
    corr = f"the average pairwise residual correlation of {rbar:.2f} {among}" if rbar is not None else None
    naive_sig, robust_sig = naive_p < alpha, kp_p < alpha
    if naive_sig and not robust_sig:
        why = f": {corr} means" if corr else ": cross-correlation means"
        return head + f"{naive.capitalize()} but {robust}{why} the evidence is weaker than the naive test suggests."
    if naive_sig and robust_sig:
        tail = f" after allowing for {corr}" if corr else ""
        return head + f"{naive.capitalize()} and {robust}: the effect survives the adjustment{tail}."
    if robust_sig:
        return (
            head + f"{robust.capitalize()} while {naive}: standardizing by each pair's own volatility reveals an "
            "effect the raw CARs' dispersion hides."
        )
    tail = f" ({corr})" if corr else ""
    return (
        head + f"Neither test rejects zero at {alpha:.0%}: {naive}, {robust}{tail}; no reliable average "
        "abnormal return in this window."
    )


# -------------------------------------------------------------------------------------------------- content
def _event_rows(events: pd.DataFrame) -> list[dict[str, Any]]:
    if events.empty or "event_id" not in events:
        return []
    out = []
    for event_id, rows in events.groupby(events["event_id"].astype(str), sort=False):
        first = {c: next((v for v in rows[c] if _text(v)), None) for c in rows.columns}
        first["tickers"] = ", ".join(dict.fromkeys(rows["ticker"].astype(str))) if "ticker" in rows else ""
        first["event_id"] = event_id
        out.append(first)
    return out


def _studied(results: Any) -> Section:
    events = _event_rows(_frame(results, "events"))
    columns = ["event", "date", "time", "time zone", "kind", "instrument", "label", "tickers", "sources"]
    rows = []
    blocks: list = []
    for ev in events:
        sources = _links(ev.get("source_url")) or _links(ev.get("source"))
        rows.append(
            [
                _text(ev["event_id"]),
                _text(ev.get("date")),
                _text(ev.get("time")),
                _text(ev.get("timezone")),
                _text(ev.get("kind")),
                _text(ev.get("instrument")),
                _text(ev.get("label")),
                _text(ev.get("tickers")),
                sources,
            ]
        )
    blocks.append(Table(columns, rows))
    for ev in events:
        if _text(ev.get("summary")):
            blocks.append(Para(f"{_text(ev['event_id'])}: {_text(ev['summary'])}"))
        excerpt = _text(ev.get("excerpt")) or _text(ev.get("evidence"))
        if excerpt:
            origin = _text(ev.get("source")) or "the source article"
            blocks.append(Quote(excerpt, f"{_text(ev['event_id'])}: excerpt from {origin}"))
    if not events:
        blocks = [Para("The results carry no event table.", "note")]
    return Section("studied", "What was studied", blocks)


def _settings(results: Any) -> Section:
    config = getattr(results, "config", None) or {}
    rows = [[str(k), v if isinstance(v, str) else json.dumps(v, default=str)] for k, v in config.items()]
    blocks: list = [Table(["setting", "value"], rows)] if rows else [Para("No run settings recorded.", "note")]
    return Section("settings", "Settings of the run", blocks)


def _alignment(results: Any) -> Section:
    frame = _frame(results, "alignment")
    cols = ["event_id", "ticker", "venue", "announced_at_local", "announced_at_utc", "day0", "reason"]
    if frame.empty:
        params = _frame(results, "parameters")
        cols = [c for c in ("event_id", "ticker", "day0_date") if c in params]
        rows = [[_text(v) for v in r] for r in params[cols].itertuples(index=False)]
        return Section(
            "alignment",
            "Day 0 alignment",
            [
                Para("No alignment table was recorded; day 0 per pair as used by the models:", "note"),
                Table(cols, rows),
            ],
        )
    cols = [c for c in cols if c in frame]
    rows = [[_text(v) for v in r] for r in frame[cols].itertuples(index=False)]
    intro = Para(
        "Day 0 is the first session on each ticker's own venue that could react to the announcement: "
        "a release during or after the session moves to the next session; a release before the open is "
        "that day."
    )
    return Section("alignment", "Day 0 alignment", [intro, Table(cols, rows)])


def _diagnostics(results: Any) -> Section:
    params = _frame(results, "parameters")
    spec = [
        ("event", "event_id", _text),
        ("ticker", "ticker", _text),
        ("model", "model", _text),
        ("status", "status", _text),
        ("reason", "reason", _text),
        ("n", "n_obs", lambda v: _num(v, "{:.0f}")),
        ("alpha", "alpha", lambda v: _num(v, "{:+.5f}")),
        ("beta", "beta", lambda v: _num(v, "{:.3f}")),
        ("R²", "r2", lambda v: _num(v, "{:.3f}")),
        ("sigma", "sigma", lambda v: _num(v, "{:.4f}")),
        ("masked days", "masked_days", lambda v: _num(v, "{:.0f}")),
        ("estimation from", "estimation_start", _text),
        ("estimation to", "estimation_end", _text),
        ("day 0", "day0_date", _text),
    ]
    spec = [s for s in spec if s[1] in params]
    rows = [[fmt(row[col]) for _, col, fmt in spec] for _, row in params.iterrows()]
    note = Para(
        "n = clean estimation returns (missing sessions and masked days removed); sigma = residual standard "
        "deviation; masked days = estimation days removed because they fall in another event's or a "
        "confounder's window."
    )
    return Section("diagnostics", "Models and estimation diagnostics", [note, Table([s[0] for s in spec], rows)])


def _car_section(results: Any) -> Section:
    car = _frame(results, "car")
    windows = _windows(car)
    contaminated = "contaminated" in car
    rows = []
    for (event_id, ticker), pair in car.groupby(["event_id", "ticker"], sort=True):
        cells: list[Cell] = [_text(event_id), _text(ticker)]
        by_window = {str(w): r for w, r in zip(pair["window"], pair.itertuples(index=False), strict=True)}
        for window in windows:
            r = by_window.get(window)
            if r is None or not _pct(r.car):
                cells.append("")
                continue
            flag = " †" if contaminated and _text(getattr(r, "contaminated", "")) else ""
            stars = significance_stars(float(r.car_p))
            cells.append(f"{_pct(r.car)}{stars}{flag} (t={_num(r.car_t)}, p={_p(r.car_p)})")
        rows.append(cells)
    columns = ["event", "ticker", *[f"CAR{window_label(w)}" for w in windows]]
    legend = "Cells: CAR (t, p) from each pair's model standard error; * p<0.10, ** p<0.05, *** p<0.01."
    if contaminated:
        legend += " † the window contains a declared confounder (see warnings)."
    return Section("car", "CAR per ticker and window", [Para(legend, "note"), Table(columns, rows, numeric=True)])


def _tests_table(results: Any, groups: Sequence[str], windows: Sequence[str]) -> Table:
    tests = _frame(results, "tests")
    rows = []
    for group in groups:
        for window in windows:
            cells: list[Cell] = [group, window_label(window).replace(" ", "\u00a0")]
            n = 0
            for test in (*NAIVE_TESTS, *ROBUST_TESTS):
                stat, p, k = _test_row(tests, group, window, test)
                n = n or k
                cells.append(f"{_num(stat)}{significance_stars(p)} ({_p(p)})" if np.isfinite(stat) else "")
            rows.append([*cells[:2], str(n), *cells[2:]])
    columns = ["group", "window", "N", *NAIVE_TESTS, *ROBUST_TESTS]
    groups_row = [("", 3), ("naive", len(NAIVE_TESTS)), ("cross-correlation-robust", len(ROBUST_TESTS))]
    return Table(columns, rows, groups_row)


def _tests_section(results: Any, main: str) -> Section:
    car = _frame(results, "car")
    windows = _windows(car)
    blocks: list = [
        Para(
            "Pooled over all pairs (group all). Cells: statistic (p). The naive tests estimate the variance "
            "from the cross-section and assume independent pairs; the robust ones allow for the correlation "
            "of abnormal returns on shared dates (Kolari-Pynnönen adjustment, the portfolio time-series t of "
            "Brown-Warner, rank tests on the estimation-window distribution, Cowan's generalized sign).",
            "note",
        ),
        _tests_table(results, ["all"], windows),
        [Para(reading(results, w)) for w in [main, *[w for w in windows if w != main]]],
    ]
    event_ids = sorted(set(_frame(results, "tests").get("group", pd.Series(dtype=str)).astype(str)) - {"all"})
    if len(event_ids) > 1:
        blocks.append(Para(f"Per event, window {window_label(main)}:", "note"))
        blocks.append(_tests_table(results, event_ids, [main]))
    return Section("tests", "Pooled tests: naive and cross-correlation-robust", blocks)


def _warnings(results: Any) -> Section:
    params = _frame(results, "parameters")
    car = _frame(results, "car")
    config = getattr(results, "config", None) or {}
    items: list[str] = []
    requested = str(config.get("model", "")) or None
    est = config.get("estimation") or (-250, -11)
    try:
        expected = int(est[1]) - int(est[0]) + 1
    except (TypeError, ValueError, IndexError):
        expected = 240
    for _, row in params.iterrows():
        pair = f"{_text(row.get('event_id'))} {_text(row.get('ticker'))}"
        status = _text(row.get("status"))
        if status and status != "ok":
            items.append(f"{pair}: status {status}: {_text(row.get('reason')) or 'no reason given'}.")
        model = _text(row.get("model"))
        if requested and model and model != requested:
            items.append(f"{pair}: fell back from {requested} to {model} ({_text(row.get('reason'))}).")
        n_obs = row.get("n_obs")
        if pd.notna(n_obs) and status in ("", "ok") and float(n_obs) < _SHORT_SHARE * expected:
            items.append(
                f"{pair}: short estimation window, {float(n_obs):.0f} clean returns of {expected} requested; "
                "its sigma and beta are less precise."
            )
    if "contaminated" in car:
        labels = car["contaminated"].map(lambda v: "; ".join(dict.fromkeys(_text(v).split("; "))))  # dedupe
        flagged = car.assign(what=labels)
        flagged = flagged[~flagged["what"].str.lower().isin(["", "false", "0", "nan"])]
        tickers = flagged.groupby(["event_id", "window", "what"], sort=False)["ticker"].agg(
            lambda t: ", ".join(dict.fromkeys(t.astype(str)))
        )
        windows = tickers.reset_index().groupby(["event_id", "what", "ticker"], sort=True)["window"].agg(list)
        for (event_id, what, names), spans in windows.items():
            spans = ", ".join(f"CAR{window_label(str(w))}" for w in sorted(spans, key=parse_window))
            items.append(
                f"{_text(event_id)} {spans}: the window contains a confounder ({what}) for {names}; "
                "that CAR mixes the event with the confounder."
            )
    dates = pd.to_datetime(params.get("day0_date", pd.Series(dtype=str)), errors="coerce").dropna()
    if len(dates) > 1 and dates.nunique() == 1:
        items.append(
            f"All {len(dates)} pairs share day 0 ({dates.iloc[0]:%Y-%m-%d}): their abnormal returns are "
            "correlated, so the naive tests overstate significance; read the robust columns."
        )
    blocks: list = [[Para(i, "warning") for i in items]] if items else [Para("No warnings.", "note")]
    return Section("warnings", "Warnings", blocks)


def _figures(results: Any, prices: pd.DataFrame | None, main: str) -> tuple[dict[str, bytes], list[Section]]:
    specs = [
        (
            "car_paths",
            "CAR paths",
            lambda: plot_car_paths(results),
            "CAR path per ticker from day -10 and the CAAR (black) with a 95% cross-sectional band.",
        ),
        (
            "car_bars",
            f"CAR{window_label(main)} per ticker",
            lambda: plot_car_bars(results, window=main),
            f"CAR{window_label(main)} per ticker with +/-1.96 standard errors from each pair's model.",
        ),
        (
            "ar_heatmap",
            "Abnormal returns by day",
            lambda: plot_ar_heatmap(results),
            "Abnormal return per ticker and event day, in percent; grey = no trade.",
        ),
        (
            "prices",
            "Prices and event days",
            lambda: plot_prices(results, prices),
            "Adjusted close with the estimation window (blue), event window (orange) and day 0 (red).",
        ),
    ]
    images: dict[str, bytes] = {}
    sections = []
    for key, title, make, caption in specs:
        try:
            images[key] = _png(make())
            blocks: list = [Image(key, caption)]
        except InputError as exc:
            blocks = [Para(f"Figure not drawn: {exc}", "note")]
        sections.append(Section(f"fig-{key}", title, blocks))
    return images, sections


def _png(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _title(results: Any) -> str:
    events = _event_rows(_frame(results, "events"))
    if len(events) == 1:
        ev = events[0]
        label = _text(ev.get("label")) or _text(ev.get("instrument"))
        return f"Event study: {ev['event_id']}" + (f", {label}" if label else "") + f" ({_text(ev.get('date'))})"
    return f"Event study: {len(events)} events"


def _lede(results: Any, main: str) -> str:
    params = _frame(results, "parameters")
    config = getattr(results, "config", None) or {}
    tickers = list(dict.fromkeys(params["ticker"].astype(str))) if "ticker" in params else []
    parts = [f"{len(params)} event-ticker pairs over {len(tickers)} tickers ({', '.join(tickers)})"]
    if config.get("model"):
        parts.append(f"model: {config['model']}")
    market = config.get("market")
    if isinstance(market, dict) and market:
        names = [v if k == "*" else f"{v} ({k})" for k, v in market.items()]
        parts.append("market: " + ", ".join(str(n) for n in names))
    elif market:
        parts.append(f"market: {market}")
    parts.append(f"main window: {window_label(main)}")
    return "; ".join(parts) + "."


def build_sections(results: Any, prices: pd.DataFrame | None = None) -> tuple[str, list[Section], dict]:
    """The report's title, sections and PNG figures (``{key: bytes}``), before rendering."""
    car = _frame(results, "car")
    if car.empty:
        raise InputError("the results hold no CARs: nothing to report (did every pair fail? see parameters.csv)")
    main = default_window(car)
    images, figure_sections = _figures(results, prices, main)
    headline = Section("headline", "Headline", [Para(_lede(results, main), "lede"), Para(reading(results, main))])
    sections = [
        headline,
        _warnings(results),
        _studied(results),
        figure_sections[0],
        figure_sections[1],
        _car_section(results),
        _tests_section(results, main),
        figure_sections[2],
        figure_sections[3],
        _alignment(results),
        _diagnostics(results),
        _settings(results),
    ]
    return _title(results), sections, images


# ------------------------------------------------------------------------------------------------ rendering
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1f24;
margin:0;background:#fff}
main{max-width:1280px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:0 0 8px}h2{font-size:20px;margin:36px 0 10px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}tr:nth-child(even) td{background:#fafbfc}
th.group{text-align:center;background:#e8edf2}table.numeric td{white-space:nowrap}
.scroll{overflow-x:auto}
p.lede{font-size:16px;color:#3b4450}p.note{color:#57606a;font-size:13px}
p.warning{background:#fff8e1;border-left:4px solid #f0a500;padding:6px 10px;margin:6px 0}
blockquote{margin:8px 0 12px;padding:6px 14px;border-left:4px solid #9ecae1;background:#f5f9fc;
white-space:pre-wrap}
blockquote cite{display:block;color:#57606a;font-size:12px;margin-top:4px;font-style:normal}
figure{margin:8px 0 16px}figure img{max-width:100%;height:auto;border:1px solid #e1e4e8}
figcaption{color:#57606a;font-size:13px}
footer{margin-top:40px;color:#57606a;font-size:12px}
"""


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        cell = (cell,)
    if isinstance(cell, tuple):
        return "<br>".join(
            f'<a href="{html.escape(c.url, quote=True)}" rel="noopener noreferrer">{html.escape(c.text)}</a>'
            if isinstance(c, Link)
            else html.escape(c)
            for c in cell
        )
    return html.escape(cell)


def _html_block(block: Any, images: dict[str, bytes]) -> str:
    if isinstance(block, list):
        return "\n".join(_html_block(b, images) for b in block)
    if isinstance(block, Para):
        css = f' class="{block.kind}"' if block.kind else ""
        return f"<p{css}>{html.escape(block.text)}</p>"
    if isinstance(block, Quote):
        return f"<blockquote>{html.escape(block.text)}<cite>{html.escape(block.cite)}</cite></blockquote>"
    if isinstance(block, Image):
        data = base64.b64encode(images[block.key]).decode("ascii")
        alt = html.escape(block.caption, quote=True)
        return (
            f'<figure><img id="fig-{block.key}-img" alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    head = ""
    if block.groups:
        cells = "".join(f'<th class="group" colspan="{span}">{html.escape(label)}</th>' for label, span in block.groups)
        head = f"<tr>{cells}</tr>"
    head += "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in block.columns) + "</tr>"
    body = "\n".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in block.rows)
    css = ' class="numeric"' if block.numeric else ""
    return f'<div class="scroll"><table{css}><thead>{head}</thead><tbody>\n{body}\n</tbody></table></div>'


def render_html(title: str, sections: Iterable[Section], images: dict[str, bytes]) -> str:
    """The self-contained HTML page (inline CSS, figures as data URIs, no scripts)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>",
        f"<body><main><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(_html_block(b, images) for b in section.blocks)
        parts.append("</section>")
    parts.append("<footer>Written by eventstudy (eventstudy-lab). Figures are embedded PNG images.</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>])")


def md_escape(text: str) -> str:
    """Text safe in a Markdown paragraph or table cell: HTML-escaped, Markdown syntax characters and ``|``
    backslash-escaped, newlines folded."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        cell = (cell,)
    if isinstance(cell, tuple):
        return "<br>".join(
            f"[{md_escape(c.text)}]({c.url.replace('(', '%28').replace(')', '%29')})"
            if isinstance(c, Link)
            else md_escape(c)
            for c in cell
        )
    return md_escape(cell)


def _md_block(block: Any, figure_dir: str) -> str:
    if isinstance(block, list):
        return "\n".join(_md_block(b, figure_dir) for b in block)
    if isinstance(block, Para):
        prefix = "> **Warning:** " if block.kind == "warning" else ""
        text = md_escape(block.text)
        return f"{prefix}*{text}*\n" if block.kind == "note" else f"{prefix}{text}\n"
    if isinstance(block, Quote):
        return f"> {md_escape(block.text)}\n>\n> — {md_escape(block.cite)}\n"
    if isinstance(block, Image):
        return f"![{md_escape(block.caption)}]({figure_dir}/{block.key}.png)\n\n*{md_escape(block.caption)}*\n"
    columns = block.columns
    if block.groups:
        labels = [label for label, span in block.groups for _ in range(span)]
        columns = [f"{g}: {c}" if g else c for g, c in zip(labels, columns, strict=True)]
    lines = [
        "| " + " | ".join(md_escape(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows),
    ]
    return "\n".join(lines) + "\n"


def render_markdown(title: str, sections: Iterable[Section], figure_dir: str = "figures") -> str:
    """The Markdown report; figures are referenced as ``figure_dir/<key>.png``."""
    parts = [f"# {md_escape(title)}\n"]
    for section in sections:
        parts.append(f'<a id="{section.id}"></a>\n\n## {md_escape(section.title)}\n')
        parts.extend(_md_block(b, figure_dir) for b in section.blocks)
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------- writing
def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prices_of(results: Any) -> pd.DataFrame | None:
    """The long price frame for the price figure: ``results.prices``, else the run's ``prices`` path."""
    prices = getattr(results, "prices", None)
    if isinstance(prices, pd.DataFrame) and not prices.empty:
        return prices
    source = (getattr(results, "config", None) or {}).get("prices")
    if isinstance(source, str) and Path(source).exists():
        from eventstudy.prices import read_prices

        tickers = set(_frame(results, "parameters").get("ticker", pd.Series(dtype=str)).astype(str))
        frame = read_prices(source)
        return frame[frame["ticker"].astype(str).isin(tickers)]
    return None


def write_report(
    results: Any,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    prices: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``report.html`` and/or ``report.md`` (with ``figures/*.png``) for ``results`` into ``out_dir``.

    Parameters
    ----------
    results : EventStudyResults
    out_dir : folder to write into (created if missing)
    formats : any of ``"html"`` and ``"md"``
    prices : long price frame for the price figure; defaults to ``results.prices``, then to the run's
        ``config["prices"]`` path. Without prices that figure is replaced by a note.

    Returns
    -------
    dict mapping each format to the path written. Every file is written to a temporary name and renamed.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown report format(s) {unknown or list(formats)}: choose from {list(FORMATS)}")
    out = Path(out_dir)
    prices = _prices_of(results) if prices is None else prices
    title, sections, images = build_sections(results, prices)
    written: dict[str, Path] = {}
    if "md" in formats:
        for key, data in images.items():
            _atomic_write(out / "figures" / f"{key}.png", data)
        written["md"] = out / "report.md"
        _atomic_write(written["md"], render_markdown(title, sections).encode("utf-8"))
    if "html" in formats:
        written["html"] = out / "report.html"
        _atomic_write(written["html"], render_html(title, sections, images).encode("utf-8"))
    return written
