"""The AR table (``ar``: one row per studied pair and report-span day) built when it is used.

At a million pairs the table is 21 million rows (~1.9 GB as a frame). :class:`ArSource` keeps only what it is built
from: the studied pairs' normal returns, ARs and SARs on the report-span days, their identifiers, and the session
grid with each pair's cell, which give the dates, returns and spans by a gather. The ARs are a compact copy (the
stage's (pairs x days) ARs are freed with it); the normal returns and SARs are the stage's own (pairs x event days)
arrays when those days are exactly the report span (the usual windows), else compact copies too. ``frame()`` builds
the table; ``slices(rows)`` builds it a slice of rows at a time for writing (:func:`eventstudy.io.write_table`).
:func:`eventstudy.engine.stages.finish` gives the results object an ``ArSource``
(:class:`eventstudy.table_source.LazyTable`): the frame is built on first access of ``results.ar``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from eventstudy.engine.panel import Windows


def report_days(days: np.ndarray, windows: Windows) -> np.ndarray:
    """(D,) mask of the days reported in the AR and AAR tables."""
    lo, hi = windows.report_span
    return (days >= lo) & (days <= hi)


def ar_frame(stage, windows: Windows) -> pd.DataFrame:
    """One row per studied pair and reported day (the frame of :class:`ArSource`)."""
    return ArSource(stage, windows).frame()


class ArSource:
    """What the AR table of a pair stage (``stage``: studied pairs, report-span days of ``windows``) is built from.

    The reported days are one run of consecutive days: only they are kept and gathered from the session grid, and
    the text columns are repeated as they are typed (an Arrow string column stays one, no Python strings). Rows are
    pair by pair, each pair's days in order; columns event_id, ticker, day, date, return, normal_return, ar, sar,
    span (the measure's own returns when the stage stored them: abnormal volume's).
    """

    def __init__(self, stage, windows: Windows) -> None:
        days = report_days(stage.days, windows)
        cols = slice(*np.flatnonzero(days)[[0, -1]] + [0, 1]) if days.any() else slice(0, 0)
        idx = np.flatnonzero(stage.active)
        self.text = {name: stage.pairs[name].array.take(idx) for name in ("event_id", "ticker")}
        self.days = stage.days[cols]
        self.panel_days = np.arange(len(stage.days))[cols]  # positions of the reported days in each pair's panel
        self.grid, self.cells, self.rows = stage.grid, stage.cells[idx], idx
        self.values = {"return": None if stage.stored_returns is None else stage.stored_returns[idx, cols]}
        self.held = {}  # normal_return, ar, sar: the stage's (P, E) arrays, read at ``rows``, or else in ``values``
        for column, name in (("normal_return", "normal"), ("ar", "ar"), ("sar", "sar")):
            event = getattr(stage, f"event_{name}")
            if cols == slice(stage.event_start, len(stage.days)) and _whole(event):
                self.held[column] = event
            else:
                self.values[column] = getattr(stage, name)[idx, cols]

    def __len__(self) -> int:
        """Rows of the table."""
        return len(self.cells) * len(self.days)

    def frame(self, pairs: slice = slice(None)) -> pd.DataFrame:
        """The table's rows of the studied ``pairs`` (a slice of them; default all)."""
        cells, n_days = self.cells[pairs], len(self.days)
        every = np.repeat(np.arange(len(self.cells))[pairs], n_days)
        columns = {name: text.take(every) for name, text in self.text.items()}
        columns |= {"day": np.tile(self.days, len(cells)), "date": self.grid.dates(cells, self.panel_days).ravel()}
        grid = self.grid
        stored = self.values["return"]
        returns = grid.take(grid.returns, cells, self.panel_days, np.nan) if stored is None else stored[pairs]
        columns["return"] = returns.ravel()
        columns |= {name: self._values(name, pairs).ravel() for name in ("normal_return", "ar", "sar")}
        columns["span"] = grid.take(grid.span, cells, self.panel_days, 0, np.int64).ravel()
        return pd.DataFrame(columns, copy=False)  # the columns are fresh arrays or the source's: no copy

    def _values(self, name: str, pairs: slice) -> np.ndarray:
        """(pairs, L) values of column ``name`` of the studied ``pairs``."""
        return self.held[name][self.rows[pairs]] if name in self.held else self.values[name][pairs]

    def slices(self, rows: int) -> Iterator[pd.DataFrame]:
        """The table's rows ``rows`` at a time (rows ``[k * rows, (k + 1) * rows)``), each built from the pairs it
        touches (see :class:`eventstudy.table_source.TableSource`)."""
        n_days, total = len(self.days), len(self)
        if total == 0:
            yield self.frame(slice(0, 0))
            return
        for start in range(0, total, rows):
            stop = min(start + rows, total)
            first, last = start // n_days, -(-stop // n_days)
            yield self.frame(slice(first, last)).iloc[start - first * n_days : stop - first * n_days]


def _whole(values: np.ndarray) -> bool:
    """Whether ``values`` is a whole array (or a view of all of one), not a view into a larger one it would keep."""
    base = values if values.base is None else values.base
    return isinstance(base, np.ndarray) and base.nbytes == values.nbytes
