"""The report's content model (tables, paragraphs, quotes, figures, sections) and cell formatting.

Content is assembled once from these blocks and rendered to HTML and Markdown by :mod:`eventstudy.report.render`.
Text from user files stays text here; escaping is the renderer's job, and only ``http(s)`` URLs become links.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eventstudy.plotting import (
    parse_window,
)


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
def fmt_num(value: Any, fmt: str = "{:.2f}") -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    return fmt.format(value) if np.isfinite(value) else ""


def fmt_pct(value: Any) -> str:
    return fmt_num(value, "{:+.2%}")


def fmt_p(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def p_phrase(value: float) -> str:
    text = fmt_p(value)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def cell_text(value: Any) -> str:
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


def source_links(value: Any) -> tuple[Link | str, ...] | str:
    """Source cell: the ``;``-separated parts that are http(s) URLs become links, the rest stays text."""
    text = cell_text(value)
    if not text:
        return ""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    return tuple(Link(urlsplit(p).netloc, p) if safe_url(p) else p for p in parts)


def frame_of(results: Any, name: str) -> pd.DataFrame:
    frame = getattr(results, name, None)
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def windows_of(car: pd.DataFrame) -> list[str]:
    windows = list(dict.fromkeys(car["window"].astype(str))) if "window" in car else []
    return sorted(windows, key=lambda w: (parse_window(w)[1] - parse_window(w)[0], parse_window(w)))


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """A figure as PNG bytes on a white background."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()
