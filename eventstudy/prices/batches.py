"""What the price store takes in and reports: the normalized long frame and its content hash, the report of an
import or fetch, and the description of gaps still open."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy.errors import PriceDataError
from eventstudy.prices.quality import VALUE_COLUMNS, QualityReport

FRAME_COLUMNS = ["date", "ticker", *VALUE_COLUMNS]
Gaps = dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]


@dataclass
class ImportReport:
    """What one import or fetch did.

    ``batch_id`` is None when nothing was written (all rows already stored, or only conflicts).
    ``per_ticker`` has ``ticker, rows, new, filled, replaced, unchanged, conflicts``; ``conflicts`` has
    ``ticker, date, column, stored, incoming``; ``quality`` holds the data checks.
    """

    source: str
    content_hash: str
    rows: int
    new: int
    filled: int
    replaced: int
    unchanged: int
    conflicts: pd.DataFrame
    per_ticker: pd.DataFrame
    quality: QualityReport
    batch_id: int | None = None
    replace: bool = False

    @property
    def changed(self) -> bool:
        return self.batch_id is not None

    def summary(self) -> str:
        head = f"{self.source}: {self.rows} rows of {len(self.per_ticker)} tickers"
        if not self.changed and not len(self.conflicts):
            return f"{head}; nothing new, all rows already in the store"
        parts = [f"{self.new} new", f"{self.filled} filled in", f"{self.unchanged} unchanged"]
        if self.replace:
            parts.append(f"{self.replaced} replaced")
        elif len(self.conflicts):
            rows = self.conflicts[["ticker", "date"]].drop_duplicates().shape[0]
            parts.append(f"{rows} conflicting rows kept as stored (use --replace to overwrite)")
        batch = f" (batch {self.batch_id})" if self.changed else ""
        return f"{head}; " + ", ".join(parts) + batch


@dataclass
class EnsureReport:
    """Result of :meth:`PriceStore.ensure`.

    ``fetched`` reports what was downloaded and written (None if nothing), ``remaining`` the gaps still
    open, and ``warning`` (non-strict only) why they are open, in words to show the user.
    """

    fetched: ImportReport | None = None
    remaining: Gaps = field(default_factory=dict)
    warning: str | None = None


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in FRAME_COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    frame["ticker"] = pd.Series(dtype="str")
    return frame


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """A long price frame in the contract's columns and dtypes, sorted, rows without any value dropped."""
    missing = {"date", "ticker"} - set(frame.columns)
    if missing or not {"close", "adj_close"} & set(frame.columns):
        raise PriceDataError(
            f"price frame needs columns date, ticker and close or adj_close; has {list(frame.columns)}"
        )
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).dt.normalize().astype("datetime64[ns]"),
            "ticker": frame["ticker"].astype("str"),
        }
    )
    for col in VALUE_COLUMNS:
        out[col] = frame[col].astype("float64") if col in frame.columns else np.nan
    out = out[out[VALUE_COLUMNS].notna().any(axis=1)]
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the normalized frame written as CSV (stable across runs and machines)."""
    return hashlib.sha256(frame[FRAME_COLUMNS].to_csv(index=False).encode()).hexdigest()


def session_runs(wanted: pd.DatetimeIndex, keep: np.ndarray) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of consecutive kept sessions (consecutive in ``wanted``) as (first, last) pairs."""
    idx = np.flatnonzero(keep)
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    return [(wanted[run[0]], wanted[run[-1]]) for run in np.split(idx, breaks)]


def missing_message(gaps: Gaps) -> str:
    parts = []
    for t, runs in list(gaps.items())[:10]:
        spans = ", ".join(f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in runs[:3])
        parts.append(f"{t} {spans}" + (f" (+{len(runs) - 3} more)" if len(runs) > 3 else ""))
    more = f" and {len(gaps) - 10} more tickers" if len(gaps) > 10 else ""
    tickers = " ".join(list(gaps)[:10])
    return (
        f"prices missing from the store: {'; '.join(parts)}{more}. Import files with "
        f"`eventstudy prices import PATH...` or, with network, `eventstudy prices fetch {tickers}`"
    )
