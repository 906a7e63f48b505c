"""Write the report files atomically: ``report.html`` and ``report.md`` with ``figures/*.png``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eventstudy.errors import InputError
from eventstudy.io import atomic_write_bytes
from eventstudy.report.document import (
    frame_of,
)
from eventstudy.report.render import render_html, render_markdown
from eventstudy.report.sections import FORMATS, build_sections


def _prices_of(results: Any) -> pd.DataFrame | None:
    """The long price frame for the price figure: ``results.prices``, else the run's ``prices`` path."""
    prices = getattr(results, "prices", None)
    if isinstance(prices, pd.DataFrame) and not prices.empty:
        return prices
    source = (getattr(results, "config", None) or {}).get("prices")
    if isinstance(source, str) and Path(source).exists():
        from eventstudy.prices.files import read_prices

        tickers = set(frame_of(results, "parameters").get("ticker", pd.Series(dtype=str)).astype(str))
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
            atomic_write_bytes(out / "figures" / f"{key}.png", data)
        written["md"] = out / "report.md"
        atomic_write_bytes(written["md"], render_markdown(title, sections).encode("utf-8"))
    if "html" in formats:
        written["html"] = out / "report.html"
        atomic_write_bytes(written["html"], render_html(title, sections, images).encode("utf-8"))
    return written
