"""The report's robustness section: the grid of :func:`eventstudy.robustness` saved in the run folder (by
``eventstudy robustness --out RUN_DIR``), as the CAR/p heatmap and a compact table for the main window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eventstudy.errors import InputError
from eventstudy.plotting import plot_robustness, significance_stars, window_label
from eventstudy.report.document import Cell, Image, Para, Section, Table, cell_text, fmt_p, fmt_pct, png_bytes

_SPEC = ["model", "benchmark", "estimation"]


def robustness_section(results: Any, main: str) -> tuple[dict[str, bytes], list[Section]]:
    """``({"robustness": png}, [section])`` when ``results.robustness`` holds a grid, else ``({}, [])``.

    The table shows the main event window (or the grid's first window when it lacks the main one): one row per
    specification (model, benchmark, estimation window), one column per pair (ticker), cells CAR (p) with stars.
    """
    grid = getattr(results, "robustness", None)
    if not isinstance(grid, pd.DataFrame) or grid.empty:
        return {}, []
    windows = list(dict.fromkeys(grid["window"].astype(str)))
    window = main if main in windows else windows[0]
    images: dict[str, bytes] = {}
    try:
        images["robustness"] = png_bytes(plot_robustness(grid))
        figure: Image | Para = Image(
            "robustness",
            "CAR (colour, label in %) and its p-value for every ticker and event window under each specification "
            "(model | benchmark | estimation window). A result that survives keeps its colour and small p down "
            "its column.",
        )
    except InputError as exc:
        figure = Para(f"Figure not drawn: {exc}", "note")
    rows = grid[grid["window"].astype(str) == window]
    pair = rows["ticker"].astype(str)  # the column of a pair: its ticker, with the event id when there are several
    if rows["event_id"].astype(str).nunique() > 1:
        pair = rows["event_id"].astype(str) + " " + pair
    rows = rows.assign(pair=pair)
    tickers = list(dict.fromkeys(rows["pair"]))
    body = []
    for spec, cells in rows.groupby(_SPEC, sort=False):
        by = dict(zip(cells["pair"], cells.itertuples(index=False), strict=False))
        line: list[Cell] = [cell_text(s) for s in spec]
        for ticker in tickers:
            r = by.get(ticker)
            ok = r is not None and np.isfinite(float(r.car))
            line.append(f"{fmt_pct(r.car)}{significance_stars(float(r.car_p))} ({fmt_p(r.car_p)})" if ok else "")
        body.append(line)
    signs = np.sign(rows.pivot_table(index=_SPEC, columns="pair", values="car", sort=False))
    stable = [t for t in signs.columns if signs[t].dropna().nunique() == 1]
    note = (
        f"CAR{window_label(window)} (p) per ticker under {len(body)} specifications; * p<0.10, ** p<0.05, "
        f"*** p<0.01 from each pair's model standard error. The sign holds under every specification for "
        f"{len(stable)} of {len(tickers)} tickers" + (f" ({', '.join(stable)})." if stable else ".")
    )
    blocks = [figure, Para(note, "note"), Table([*_SPEC, *tickers], body, numeric=True)]
    return images, [Section("robustness", "Robustness: models, benchmarks and estimation windows", blocks)]
