"""The report's sections, built from an EventStudyResults: headline, warnings, events, figures, tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from eventstudy.errors import InputError
from eventstudy.inference import FAMILIES, family
from eventstudy.plotting import (
    default_window,
    parse_window,
    plot_ar_heatmap,
    plot_car_bars,
    plot_car_paths,
    plot_placebo,
    plot_prices,
    significance_stars,
    window_label,
)
from eventstudy.report.document import (
    Cell,
    Image,
    Para,
    Quote,
    Section,
    Table,
    cell_text,
    fmt_num,
    fmt_p,
    fmt_pct,
    frame_of,
    png_bytes,
    source_links,
    windows_of,
)
from eventstudy.report.grid import robustness_section
from eventstudy.report.reading import reading, test_row
from eventstudy.report.robust import robust_blocks
from eventstudy.results import window_warnings

FORMATS = ("html", "md")
_SHORT_SHARE = 0.5  # a pair with fewer clean estimation returns than this share of the window is "short"


# -------------------------------------------------------------------------------------------------- content
def _event_rows(events: pd.DataFrame) -> list[dict[str, Any]]:
    if events.empty or "event_id" not in events:
        return []
    out = []
    for event_id, rows in events.groupby(events["event_id"].astype(str), sort=False):
        first = {c: next((v for v in rows[c] if cell_text(v)), None) for c in rows.columns}
        first["tickers"] = ", ".join(dict.fromkeys(rows["ticker"].astype(str))) if "ticker" in rows else ""
        first["event_id"] = event_id
        out.append(first)
    return out


def _studied(results: Any) -> Section:
    events = _event_rows(frame_of(results, "events"))
    columns = ["event", "date", "time", "time zone", "kind", "instrument", "label", "tickers", "sources"]
    rows = []
    blocks: list = []
    for ev in events:
        sources = source_links(ev.get("source_url")) or source_links(ev.get("source"))
        rows.append(
            [
                cell_text(ev["event_id"]),
                cell_text(ev.get("date")),
                cell_text(ev.get("time")),
                cell_text(ev.get("timezone")),
                cell_text(ev.get("kind")),
                cell_text(ev.get("instrument")),
                cell_text(ev.get("label")),
                cell_text(ev.get("tickers")),
                sources,
            ]
        )
    blocks.append(Table(columns, rows))
    for ev in events:
        if cell_text(ev.get("summary")):
            blocks.append(Para(f"{cell_text(ev['event_id'])}: {cell_text(ev['summary'])}"))
        excerpt = cell_text(ev.get("excerpt")) or cell_text(ev.get("evidence"))
        if excerpt:
            origin = cell_text(ev.get("source")) or "the source article"
            blocks.append(Quote(excerpt, f"{cell_text(ev['event_id'])}: excerpt from {origin}"))
    if not events:
        blocks = [Para("The results carry no event table.", "note")]
    return Section("studied", "What was studied", blocks)


def _settings(results: Any) -> Section:
    config = getattr(results, "config", None) or {}
    rows = [[str(k), v if isinstance(v, str) else json.dumps(v, default=str)] for k, v in config.items()]
    blocks: list = [Table(["setting", "value"], rows)] if rows else [Para("No run settings recorded.", "note")]
    return Section("settings", "Settings of the run", blocks)


def _alignment(results: Any) -> Section:
    frame = frame_of(results, "alignment")
    cols = ["event_id", "ticker", "venue", "announced_at_local", "announced_at_utc", "day0", "reason"]
    if frame.empty:
        params = frame_of(results, "parameters")
        cols = [c for c in ("event_id", "ticker", "day0_date") if c in params]
        rows = [[cell_text(v) for v in r] for r in params[cols].itertuples(index=False)]
        return Section(
            "alignment",
            "Day 0 alignment",
            [
                Para("No alignment table was recorded; day 0 per pair as used by the models:", "note"),
                Table(cols, rows),
            ],
        )
    cols = [c for c in cols if c in frame]
    rows = [[cell_text(v) for v in r] for r in frame[cols].itertuples(index=False)]
    intro = Para(
        "Day 0 is the first session on each ticker's own venue that could react to the announcement: "
        "a release during or after the session moves to the next session; a release before the open is "
        "that day."
    )
    return Section("alignment", "Day 0 alignment", [intro, Table(cols, rows)])


def _diagnostics(results: Any) -> Section:
    params = frame_of(results, "parameters")
    spec = [
        ("event", "event_id", cell_text),
        ("ticker", "ticker", cell_text),
        ("model", "model", cell_text),
        ("status", "status", cell_text),
        ("reason", "reason", cell_text),
        ("n", "n_obs", lambda v: fmt_num(v, "{:.0f}")),
        ("alpha", "alpha", lambda v: fmt_num(v, "{:+.5f}")),
        ("beta", "beta", lambda v: fmt_num(v, "{:.3f}")),
        ("R²", "r2", lambda v: fmt_num(v, "{:.3f}")),
        ("sigma", "sigma", lambda v: fmt_num(v, "{:.4f}")),
        ("masked days", "masked_days", lambda v: fmt_num(v, "{:.0f}")),
        ("estimation from", "estimation_start", cell_text),
        ("estimation to", "estimation_end", cell_text),
        ("day 0", "day0_date", cell_text),
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
    car = frame_of(results, "car")
    windows = windows_of(car)
    contaminated = "contaminated" in car
    rows = []
    for (event_id, ticker), pair in car.groupby(["event_id", "ticker"], sort=True):
        cells: list[Cell] = [cell_text(event_id), cell_text(ticker)]
        by_window = {str(w): r for w, r in zip(pair["window"], pair.itertuples(index=False), strict=True)}
        for window in windows:
            r = by_window.get(window)
            if r is None or not fmt_pct(r.car):
                cells.append("")
                continue
            flag = " †" if contaminated and cell_text(getattr(r, "contaminated", "")) else ""
            stars = significance_stars(float(r.car_p))
            cells.append(f"{fmt_pct(r.car)}{stars}{flag} (t={fmt_num(r.car_t)}, p={fmt_p(r.car_p)})")
        rows.append(cells)
    columns = ["event", "ticker", *[f"CAR{window_label(w)}" for w in windows]]
    legend = "Cells: CAR (t, p) from each pair's model standard error; * p<0.10, ** p<0.05, *** p<0.01."
    if contaminated:
        legend += " † the window contains a declared confounder (see warnings)."
    return Section("car", "CAR per ticker and window", [Para(legend, "note"), Table(columns, rows, numeric=True)])


def _tests_table(results: Any, groups: Sequence[str], windows: Sequence[str]) -> Table:
    tests = frame_of(results, "tests")
    kinds = tests["family"] if "family" in tests else tests.get("test", pd.Series(dtype=str)).map(family)
    names = {fam: list(dict.fromkeys(tests.loc[kinds == fam, "test"])) for fam in FAMILIES}
    ordered = [t for fam in FAMILIES for t in names[fam]]
    rows = []
    for group in groups:
        for window in windows:
            cells: list[Cell] = [group, window_label(window).replace(" ", "\u00a0")]
            n = 0
            for test in ordered:
                stat, p, k = test_row(tests, group, window, test)
                n = n or k
                cells.append(f"{fmt_num(stat)}{significance_stars(p)} ({fmt_p(p)})" if np.isfinite(stat) else "")
            rows.append([*cells[:2], str(n), *cells[2:]])
    groups_row = [("", 3)] + [(_FAMILY_HEADS[fam], len(names[fam])) for fam in FAMILIES if names[fam]]
    return Table(["group", "window", "N", *ordered], rows, groups_row)


_FAMILY_HEADS = {
    "naive": "naive (overstate significance when pairs share dates or overlap)",
    "robust": "robust (hold their size with shared dates and overlapping windows)",
}


def _tests_section(results: Any, main: str) -> Section:
    car = frame_of(results, "car")
    windows = windows_of(car)
    blocks: list = [
        Para(
            "Pooled over all pairs (group all). Cells: statistic (p). Tests are grouped by family. The naive "
            "ones take their variance from the cross-section or from averages by relative day and overstate "
            "significance when abnormal returns are correlated on shared dates or when event windows overlap in "
            "calendar time; the robust ones held their size in simulations of both (tests/test_families.py): "
            "the Kolari-Pynnönen adjustment, with each pair's correlation weighted by the window days it shares.",
            "note",
        ),
        _tests_table(results, ["all"], windows),
        [Para(reading(results, w)) for w in [main, *[w for w in windows if w != main]]],
    ]
    event_ids = sorted(set(frame_of(results, "tests").get("group", pd.Series(dtype=str)).astype(str)) - {"all"})
    if len(event_ids) > 1:
        blocks.append(Para(f"Per event, window {window_label(main)}:", "note"))
        blocks.append(_tests_table(results, event_ids, [main]))
    return Section("tests", "Pooled tests: naive and robust to cross-correlation", blocks)


def _robust_section(results: Any, main: str, placebo_figure: Section) -> list[Section]:
    blocks = robust_blocks(results, main)
    if not blocks:
        return []
    title = "Shared dates and overlapping windows: placebo, Binder, calendar-time, multiple testing"
    return [Section("robust", title, blocks), placebo_figure]


def _warnings(results: Any) -> Section:
    params = frame_of(results, "parameters")
    car = frame_of(results, "car")
    config = getattr(results, "config", None) or {}
    items: list[str] = []
    requested = str(config.get("model", "")) or None
    est = config.get("estimation") or (-250, -11)
    try:
        expected = int(est[1]) - int(est[0]) + 1
    except (TypeError, ValueError, IndexError):
        expected = 240
    for _, row in params.iterrows():
        pair = f"{cell_text(row.get('event_id'))} {cell_text(row.get('ticker'))}"
        status = cell_text(row.get("status"))
        if status and status != "ok":
            items.append(f"{pair}: status {status}: {cell_text(row.get('reason')) or 'no reason given'}.")
        model = cell_text(row.get("model"))
        if requested and model and model != requested:
            items.append(f"{pair}: fell back from {requested} to {model} ({cell_text(row.get('reason'))}).")
        n_obs = row.get("n_obs")
        if pd.notna(n_obs) and status in ("", "ok") and float(n_obs) < _SHORT_SHARE * expected:
            items.append(
                f"{pair}: short estimation window, {float(n_obs):.0f} clean returns of {expected} requested; "
                "its sigma and beta are less precise."
            )
    if "contaminated" in car:
        labels = car["contaminated"].map(lambda v: "; ".join(dict.fromkeys(cell_text(v).split("; "))))  # dedupe
        flagged = car.assign(what=labels)
        flagged = flagged[~flagged["what"].str.lower().isin(["", "false", "0", "nan"])]
        tickers = flagged.groupby(["event_id", "window", "what"], sort=False)["ticker"].agg(
            lambda t: ", ".join(dict.fromkeys(t.astype(str)))
        )
        windows = tickers.reset_index().groupby(["event_id", "what", "ticker"], sort=True)["window"].agg(list)
        for (event_id, what, names), spans in windows.items():
            spans = ", ".join(f"CAR{window_label(str(w))}" for w in sorted(spans, key=parse_window))
            items.append(
                f"{cell_text(event_id)} {spans}: the window contains a confounder ({what}) for {names}; "
                "that CAR mixes the event with the confounder."
            )
    items += [f"{line}." for line in window_warnings(car)[0]]
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
            "placebo",
            f"Placebo distribution of the CAAR{window_label(main)}",
            lambda: plot_placebo(results, window=main),
            "CAAR on pseudo-event dates of the same tickers (every event moved by one common number of sessions to "
            "clean dates), with the observed CAAR in red and its mirror image dotted: the two-sided placebo p is "
            "the share of draws outside them.",
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
            images[key] = png_bytes(make())
            blocks: list = [Image(key, caption)]
        except InputError as exc:
            blocks = [Para(f"Figure not drawn: {exc}", "note")]
        sections.append(Section(f"fig-{key}", title, blocks))
    return images, sections


def _title(results: Any) -> str:
    events = _event_rows(frame_of(results, "events"))
    if len(events) == 1:
        ev = events[0]
        label = cell_text(ev.get("label")) or cell_text(ev.get("instrument"))
        return f"Event study: {ev['event_id']}" + (f", {label}" if label else "") + f" ({cell_text(ev.get('date'))})"
    return f"Event study: {len(events)} events"


def _lede(results: Any, main: str) -> str:
    params = frame_of(results, "parameters")
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
    car = frame_of(results, "car")
    if car.empty:
        raise InputError("the results hold no CARs: nothing to report (did every pair fail? see parameters.csv)")
    main = default_window(car)
    images, figure_sections = _figures(results, prices, main)
    grid_images, grid = robustness_section(results, main)
    images.update(grid_images)
    headline = Section("headline", "Headline", [Para(_lede(results, main), "lede"), Para(reading(results, main))])
    sections = [
        headline,
        _warnings(results),
        _studied(results),
        figure_sections[0],
        figure_sections[1],
        _car_section(results),
        _tests_section(results, main),
        *_robust_section(results, main, figure_sections[3]),
        *grid,
        figure_sections[2],
        figure_sections[4],
        _alignment(results),
        _diagnostics(results),
        _settings(results),
    ]
    return _title(results), sections, images
