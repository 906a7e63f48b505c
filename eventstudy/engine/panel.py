"""The event panel: every (event, ticker) pair's returns on one event-time grid.

For P pairs and D relative days (from the estimation window's start to the last reported day) the panel holds
arrays of shape (P, D): the ticker's returns, the regressors' returns (P, D, m), the session dates, and boolean
masks for the estimation window (clean days only) and for days masked because another event or a confounder
falls there. Returns are computed on each ticker's own venue calendar, and the market and factors are taken on
that same calendar, so a regression never pairs returns of different days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.engine.contamination import Labels, flag_contamination, session_index
from eventstudy.engine.grid import SessionGrid
from eventstudy.errors import EventError, PriceDataError, WindowError
from eventstudy.events.catalog import EventSet
from eventstudy.prices.files import MAX_MOVE
from eventstudy.prices.matrix import price_matrix, session_returns
from eventstudy.timing.align import align_events
from eventstudy.timing.venues import DATA_VENUE, Venue, venue_of

Window = tuple[int, int]
STATUS_TEXTS = ("ok", "no_session", "not_listed", "no_prices")  # a pair's status before estimation


@dataclass(frozen=True)
class Windows:
    """Estimation window and event windows in event time (inclusive), validated."""

    estimation: Window
    events: tuple[Window, ...]

    def __post_init__(self) -> None:
        for name, (a, b) in [("estimation", self.estimation), *(("event", w) for w in self.events)]:
            if a > b:
                raise WindowError(f"{name} window [{a}, {b}] starts after it ends: give START <= END")
        if not self.events:
            raise WindowError("no event window given: pass at least one --window A B")
        t0, t1 = self.estimation
        for a, b in self.events:
            if a <= t1 and b >= t0:
                raise WindowError(
                    f"event window [{a}, {b}] overlaps the estimation window [{t0}, {t1}]: end the estimation "
                    f"window before day {a} (e.g. --estimation {t0} {a - 1})"
                )
        if min(a for a, _ in self.events) < t1:
            raise WindowError(
                "the estimation window must come before the event windows (post-event estimation is not supported)"
            )

    @property
    def event_span(self) -> Window:
        """The smallest interval holding every event window (masked around other events)."""
        return min(a for a, _ in self.events), max(b for _, b in self.events)

    @property
    def report_span(self) -> Window:
        """Days reported in AR/AAR tables: the event windows, widened to [-10, 10] where the estimation allows."""
        lo, hi = self.event_span
        return max(self.estimation[1] + 1, min(lo, -10)), max(hi, 10)

    @staticmethod
    def label(window: Window) -> str:
        return f"{window[0]}..{window[1]}"


@dataclass
class EventPanel:
    """Arrays of the study on one event-time grid; see the module docstring."""

    pairs: pd.DataFrame  # one row per pair: event_id, ticker, venue, day0, status, reason, explicit, masked_days
    alignment: pd.DataFrame
    days: np.ndarray  # (D,) relative days
    returns: np.ndarray  # (P, D) trade-to-trade returns (see prices.matrix.returns_on_sessions)
    span: np.ndarray  # (P, D) int16: sessions each return spans (1 normally, k after k - 1 missing, 0 = no return)
    regressors: np.ndarray  # (P, D, m): market first, then factors (one-session returns)
    regressor_names: tuple[str, ...]
    estimation: np.ndarray  # (P, D) clean estimation days
    estimation_bounds: np.ndarray  # (P, 2) each pair's first and last clean estimation day (-1, -1: none)
    masked: np.ndarray  # (P, D) days of other events / confounders
    contamination: dict[Window, Labels]  # per event window, each pair's label as a code into distinct labels
    windows: Windows
    kind: str  # "simple" or "log"
    grid: SessionGrid  # the matrices the arrays were gathered from
    cells: np.ndarray  # (P, 3) each pair's place in the grid (engine.grid)

    def day_mask(self, window: Window) -> np.ndarray:
        """(D,) mask of the relative days of ``window``."""
        return (self.days >= window[0]) & (self.days <= window[1])

    @property
    def dates(self) -> np.ndarray:
        """(P, D) datetime64[ns] session dates, NaT outside the calendar (gathered on each call)."""
        return self.grid.dates(self.cells, np.arange(len(self.days)))


@dataclass
class PanelLayout:
    """Everything of a panel but its (pairs x days) arrays: the grid, each pair's cell, status and contamination.

    :meth:`gather` builds the :class:`EventPanel` of any rows, so a large study is gathered and fitted in chunks.
    The contamination labels are flagged on a thread of their own while the caller goes on (``labels``: their
    future); :attr:`contamination` waits for them.
    """

    pairs: pd.DataFrame
    alignment: pd.DataFrame
    days: np.ndarray
    grid: SessionGrid
    cells: np.ndarray
    blocked: np.ndarray  # (S, T) sessions masked out of each ticker's estimation windows
    labels: Future  # of dict[Window, Labels]: per event window (engine.contamination.Labels)
    regressor_names: tuple[str, ...]
    windows: Windows
    kind: str

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def contamination(self) -> dict[Window, Labels]:
        """Per event window, each pair's contamination label (waits for the labels' thread; raises its error)."""
        return self.labels.result()

    def gather(
        self,
        rows: slice,
        buffers: dict | None = None,
        estimation: np.ndarray | None = None,
        contamination: bool = True,
    ) -> EventPanel:
        """The panel of the pairs ``rows`` (a slice of the layout's pairs), gathered in one compiled pass.

        ``buffers``: arrays kept by the caller between calls; the gathered arrays are written into them (a later
        call with at most as many pairs reuses them: no fresh pages to fault in). ``estimation``: the (P, D) array
        to write the clean estimation days into. ``contamination`` False: the panel's ``contamination`` is None
        (the caller takes the layout's, and does not wait for the labels here).
        """
        cells = self.cells[rows]
        n, n_days, n_reg = len(cells), len(self.days), len(self.grid.regressors)
        buffers = {} if buffers is None else buffers

        def buffer(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
            if name not in buffers or len(buffers[name]) < n:
                buffers[name] = np.empty(shape, dtype=dtype)
            return buffers[name][:n]

        returns, span = buffer("returns", (n, n_days), float), buffer("span", (n, n_days), self.grid.span.dtype)
        regressors = buffer("regressors", (n, n_days, n_reg), float)
        masked = buffer("masked", (n, n_days), bool)
        estimation = np.empty((n, n_days), dtype=bool) if estimation is None else estimation
        bounds = np.empty((n, 2), dtype=np.int64)
        est_cols = np.flatnonzero((self.days >= self.windows.estimation[0]) & (self.days <= self.windows.estimation[1]))
        columns = (int(est_cols[0]), int(est_cols[-1]) + 1) if len(est_cols) else (0, 0)
        self.grid.gather_panel(cells, self.blocked, columns, (returns, span, regressors, masked, estimation, bounds))
        return EventPanel(
            pairs=self.pairs.iloc[rows].reset_index(drop=True),
            alignment=self.alignment.iloc[rows].reset_index(drop=True),
            days=self.days,
            returns=returns,
            span=span,
            regressors=regressors,
            regressor_names=self.regressor_names,
            estimation=estimation,
            estimation_bounds=bounds,
            masked=masked,
            contamination={w: c[rows] for w, c in self.contamination.items()} if contamination else None,
            windows=self.windows,
            kind=self.kind,
            grid=self.grid,
            cells=cells,
        )


def build_panel(events: EventSet, prices: pd.DataFrame, windows: Windows, **options) -> EventPanel:
    """Align every pair to day 0 and gather its returns, regressors and masks (see :func:`panel_layout`)."""
    return panel_layout(events, prices, windows, **options).gather(slice(None))


def panel_layout(
    events: EventSet,
    prices: pd.DataFrame,
    windows: Windows,
    *,
    market: Mapping[str, str] | None,
    factors: Sequence[str] = (),
    calendar: str | None = None,
    venues: Mapping[str, str] | None = None,
    listed: Mapping[str, pd.Timestamp] | None = None,
    kind: str = "simple",
    mask_events: EventSet | None = None,
    confounders: pd.DataFrame | None = None,
    max_move: float = MAX_MOVE,
    block_events: EventSet | str | None = "mask",
) -> PanelLayout:
    """Align every pair to day 0 and place it on the session grid of returns, regressors and masks.

    Parameters
    ----------
    market
        Benchmark per venue (``{"XNYS": "SPY", "XSHG": "000300.SS"}``; key ``"*"`` for any venue), or None for
        models without a market (constant mean).
    factors
        Extra regressors (tickers in ``prices``) after the market, for the factor model.
    calendar
        None: each ticker on its own venue (from its suffix or ``venues``). An exchange_calendars code: every
        ticker on that calendar. ``"data"``: the dates present in the price data are the sessions.
    mask_events
        Events whose event windows are masked out of every estimation window (default: ``events``).
    confounders
        ``date, ticker ('*' = all), label`` shocks masked out of estimation windows and flagged in event windows.
    max_move
        Largest plausible one-day price factor (see :func:`~eventstudy.prices.matrix.returns_on_sessions`).
    block_events
        Events whose event-window span is masked out of estimation windows: ``"mask"`` (default) the
        ``mask_events``; None: none (``mask_events`` are still flagged in event windows); or another EventSet.
        Confounders are masked either way.
    """
    listed = dict(listed or {})
    frame = events.frame
    tickers = events.tickers
    venue_map = {t: calendar or venue_of(t, venues) for t in tickers}
    needed_venues = list(dict.fromkeys(venue_map.values()))
    bench = {v: _benchmark(v, market) for v in needed_venues}
    everything = list(dict.fromkeys([*tickers, *(b for b in bench.values() if b), *factors]))
    wide = price_matrix(prices, everything)
    first_date, last_date = wide.index.min(), wide.index.max()
    span = {
        v: (Venue.from_dates(wide.index) if v == DATA_VENUE else Venue.from_calendar(v, first_date, last_date))
        for v in needed_venues
    }
    outside = frame[(frame["date"] > last_date) | (frame["date"] < first_date)]
    if not outside.empty:
        row = outside.iloc[0]
        raise PriceDataError(
            f"event {row.event_id} on {row.date.date()} is outside the price history "
            f"({first_date.date()} to {last_date.date()}): extend the prices or drop the event"
        )
    alignment = align_events(frame, venue_map, span)
    _check_history(alignment, frame["explicit"].to_numpy(), windows, span)
    mask_alignment = (
        alignment if mask_events is None else align_events(_restrict(mask_events, tickers).frame, venue_map, span)
    )

    if isinstance(block_events, str):
        block_alignment = mask_alignment
    elif block_events is None:
        block_alignment = mask_alignment.iloc[0:0]
    else:
        block_alignment = align_events(_restrict(block_events, tickers).frame, venue_map, span)
    days = panel_days(windows)
    n_pairs, n_reg = len(frame), (1 if any(bench.values()) else 0) + len(factors)
    ends = np.cumsum([0, *(len(span[v].sessions) for v in needed_venues)])
    n_sessions = int(ends[-1])
    returns = spans = None  # ticker-major (T, S): a pair's days are contiguous
    regressors = np.full((n_reg, n_sessions), np.nan)
    blocked = np.zeros((len(tickers), n_sessions), dtype=bool)
    cells = np.zeros((n_pairs, 3), dtype=np.int64)
    flags = []  # each venue's flag_contamination arguments: flagged on a thread while the layout goes on
    column_of = pd.Index(tickers)
    ticker_codes = pd.factorize(frame["ticker"])[0]  # positions in ``tickers`` (its order of first appearance)
    for venue_name, rows in alignment.groupby("venue", sort=False):
        venue = span[venue_name]
        block = slice(int(ends[needed_venues.index(venue_name)]), int(ends[needed_venues.index(venue_name) + 1]))
        names = [t for t in tickers if venue_map[t] == venue_name]
        regs = ([bench[venue_name]] if bench[venue_name] else []) + list(factors)
        if n_reg and len(regs) != n_reg:
            raise PriceDataError(f"no market benchmark for venue {venue_name}: pass --market {venue_name}=TICKER")
        columns = list(dict.fromkeys(names + regs))
        small = len(venue.sessions) <= np.iinfo(np.int16).max  # spans written as int16 (the grid's) directly
        _, ret, ret_span = session_returns(
            wide if columns == list(wide.columns) else wide[columns],  # all of them: the table as it is
            venue.sessions,
            listed,
            kind,
            max_move,
            np.int16 if small else np.int64,
        )
        cols = column_of.get_indexer(names)  # ``names`` are the first rows of ``ret``
        if len(needed_venues) == 1 and (cols == np.arange(len(tickers))).all():
            returns, spans = ret[: len(tickers)], ret_span[: len(tickers)].astype(np.int16, copy=False)  # views
        else:
            if returns is None:
                returns = np.full((len(tickers), n_sessions), np.nan)
                spans = np.zeros((len(tickers), n_sessions), dtype=np.int16)
            returns[cols, block] = ret[: len(names)]
            spans[cols, block] = ret_span[: len(names)]
        reg_at = pd.Index(columns).get_indexer(regs)
        regressors[:, block] = np.where(ret_span[reg_at] == 1, ret[reg_at], np.nan)  # both priced
        blocked[cols, block] = _blocked_sessions(block_alignment, confounders, venue, names, windows.event_span).T
        pos = rows.index.to_numpy()
        day0 = rows["day0_index"].to_numpy()
        cells[pos, 0] = np.where(day0 >= 0, block.start + day0 + days[0], -(2**40))  # no session: no day inside
        cells[pos, 1] = ticker_codes[pos]
        cells[pos, 2] = needed_venues.index(venue_name)
        flags.append((rows, venue))
    if returns is None:  # no pair
        returns = np.full((len(tickers), n_sessions), np.nan)
        spans = np.zeros((len(tickers), n_sessions), dtype=np.int16)
    labels = _flag_in_background(n_pairs, flags, mask_alignment, confounders, windows.events)
    grid = SessionGrid(
        sessions=np.concatenate([span[v].sessions.values for v in needed_venues]).astype("datetime64[ns]"),
        blocks=tuple((v, int(ends[i]), int(ends[i + 1])) for i, v in enumerate(needed_venues)),
        tickers=tuple(tickers),
        returns=returns,
        span=spans,
        regressors=regressors,
    )
    pairs = alignment[["event_id", "ticker", "venue", "day0"]].copy()
    pairs["explicit"] = frame["explicit"].to_numpy()
    est_cols = np.flatnonzero((days >= windows.estimation[0]) & (days <= windows.estimation[1]))
    priced = ~np.isnan(returns) & ~np.isnan(regressors).any(axis=0)[None, :]
    pairs["masked_days"] = grid.count(blocked, cells, est_cols)
    pairs["unmasked_obs"] = grid.count(priced, cells, est_cols)  # clean estimation returns without any masking
    pairs["status"], pairs["reason"] = _pair_status(pairs, wide, cells[:, 1], listed)
    return PanelLayout(
        pairs=pairs,
        alignment=alignment,
        days=days,
        grid=grid,
        cells=cells,
        blocked=blocked,
        labels=labels,
        regressor_names=tuple((["market"] if n_reg > len(factors) else []) + list(factors)),
        windows=windows,
        kind=kind,
    )


def panel_days(windows: Windows) -> np.ndarray:
    """The panel's days relative to day 0: the estimation window's first to the last day reported."""
    return np.arange(windows.estimation[0], windows.report_span[1] + 1)


def _flag_in_background(
    n_pairs: int,
    flags: list[tuple[pd.DataFrame, Venue]],
    mask_alignment: pd.DataFrame,
    confounders: pd.DataFrame | None,
    windows: tuple[Window, ...],
) -> Future:
    """The future of the pairs' contamination labels (:func:`flag_contamination` of each venue's pairs ``flags``,
    venue after venue, the same calls as on one thread) computed on a thread of its own: Arrow, numpy and the
    compiled merge release the GIL, so the labels (1M pairs: ~1 s of one core) overlap the layout's and the pair
    stage's serial steps instead of adding to them."""

    def flag() -> dict[Window, Labels]:
        contamination = {w: Labels.clean(n_pairs) for w in windows}
        for rows, venue in flags:
            flag_contamination(contamination, rows, mask_alignment, confounders, venue, windows)
        return contamination

    pool = ThreadPoolExecutor(1, thread_name_prefix="eventstudy-contamination")
    labels = pool.submit(flag)
    pool.shutdown(wait=False)  # the thread ends after the job; nothing here waits for it
    return labels


def _check_history(alignment: pd.DataFrame, explicit: np.ndarray, windows: Windows, span: Mapping[str, Venue]) -> None:
    """An explicitly requested pair whose estimation window starts before the price data is a user error."""
    t0 = windows.estimation[0]
    short = explicit & (alignment["day0_index"].to_numpy() >= 0) & (alignment["day0_index"].to_numpy() + t0 < 0)
    if short.any():
        row = alignment[short].iloc[0]
        first = span[row.venue].sessions[0]
        raise WindowError(
            f"event {row.event_id}, ticker {row.ticker}: the estimation window {list(windows.estimation)} starts "
            f"{-t0} sessions before day 0 {row.day0.date()}, but the price data begin {first.date()}, "
            f"{row.day0_index} sessions earlier: load more history or shorten it (--estimation "
            f"{-row.day0_index} {windows.estimation[1]})"
        )


def _benchmark(venue: str, market: Mapping[str, str] | None) -> str | None:
    if market is None:
        return None
    if venue in market:
        return market[venue]
    if "*" in market:
        return market["*"]
    raise PriceDataError(f"no market benchmark for venue {venue}: pass --market {venue}=TICKER")


def _restrict(events: EventSet, tickers: Sequence[str]) -> EventSet:
    return EventSet(events.frame[events.frame["ticker"].isin(list(tickers))].reset_index(drop=True))


def _blocked_sessions(
    mask_alignment: pd.DataFrame,
    confounders: pd.DataFrame | None,
    venue: Venue,
    names: list[str],
    span: Window,
) -> np.ndarray:
    """(sessions, tickers) mask: each masking event's window span around its day 0, and each confounder's day."""
    n_sessions = len(venue.sessions)
    rows = mask_alignment[(mask_alignment["venue"] == venue.name) & (mask_alignment["day0_index"] >= 0)]
    cols = pd.Index(names).get_indexer(rows["ticker"]).astype(np.int64)  # -1: a ticker not of ``names``
    rows, cols = rows[cols >= 0], cols[cols >= 0]
    if rows.empty:  # nothing masked by events (``mask="none"``)
        blocked = np.zeros((n_sessions, len(names)), dtype=bool)
    else:
        diff = np.zeros((n_sessions + 1, len(names)), dtype=np.int64)
        start = np.clip(rows["day0_index"].to_numpy() + span[0], 0, n_sessions)
        stop = np.clip(rows["day0_index"].to_numpy() + span[1] + 1, 0, n_sessions)
        np.add.at(diff, (start, cols), 1)
        np.add.at(diff, (stop, cols), -1)
        blocked = np.cumsum(diff, axis=0)[:n_sessions] > 0
    if confounders is not None and not confounders.empty:
        idx = session_index(venue, confounders["date"])
        for i, ticker in zip(idx, confounders["ticker"], strict=True):
            if i < n_sessions:
                if ticker == "*":
                    blocked[i, :] = True
                elif ticker in names:
                    blocked[i, names.index(ticker)] = True
    return blocked


def _pair_status(
    pairs: pd.DataFrame, wide: pd.DataFrame, column: np.ndarray, listed: Mapping[str, pd.Timestamp]
) -> tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray]:
    """Status before estimation: ``ok``, or why the pair cannot be studied (an error for explicit pairs).
    ``column``: each pair's ticker's column in the price table ``wide``."""
    valid = ~np.isnan(wide.to_numpy())
    dates = wide.index.to_numpy()
    first = dates[valid.argmax(axis=0)][column]
    last = dates[len(dates) - 1 - valid[::-1].argmax(axis=0)][column]
    day0 = pairs["day0"].to_numpy(dtype="datetime64[ns]")
    listing = np.full(len(pairs), np.datetime64("NaT"), dtype="datetime64[ns]")
    if listed:
        listing = pairs["ticker"].map(listed).to_numpy(dtype="datetime64[ns]")
    start = np.fmax(first, listing)
    end = last
    no_session = np.isnat(day0)
    not_listed = ~no_session & ~np.isnat(listing) & (day0 < listing)
    no_prices = ~no_session & ~not_listed & ((day0 < start) | (day0 > end))
    status = np.select([no_session, not_listed, no_prices], [1, 2, 3], 0)  # a position in STATUS_TEXTS
    whys = [""]  # the reasons, each pair's a position in them
    reason = np.zeros(len(pairs), dtype=np.int64)
    for i in np.flatnonzero(status):
        row = pairs.iloc[i]
        if no_session[i]:
            why = f"no {row.venue} session on or after the event within the price history"
        elif not_listed[i]:
            why = f"{row.ticker} is listed from {pd.Timestamp(listing[i]).date()}, after day 0"
        else:
            why = (
                f"{row.ticker} has prices from {pd.Timestamp(start[i]).date()} to {pd.Timestamp(end[i]).date()}, "
                f"day 0 is {row.day0.date()}"
            )
        if row.explicit:
            raise EventError(f"event {row.event_id}, ticker {row.ticker}: {why}; drop the row or fix the date")
        reason[i] = len(whys)
        whys.append(why)
    # text columns taken by Arrow from the distinct texts (not a million Python strings converted one by one)
    return pd.array(STATUS_TEXTS, dtype="str").take(status), pd.array(whys, dtype="str").take(reason)
