"""The arrays of a pair stage (:class:`PairStage`): what is stored per pair, and the (P, D) arrays rebuilt from the
session grid or composed from their stored parts when read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy.engine.contamination import Labels
from eventstudy.engine.gaps import span_design
from eventstudy.engine.grid import GridArray, SessionGrid
from eventstudy.engine.models import linear_design as linear_design_of
from eventstudy.engine.panel import Window
from eventstudy.inference.ar_rows import MARKET_ROW, ArRows


@dataclass
class PairStage:
    """Everything computed per (event, ticker) pair; arrays are (P,), (P, D), (P, E) or (P, k), one row per pair.

    ``index`` is each pair's position in the study's events frame; :func:`concat` orders by it. Arrays that are a
    gather from the session grid (``dates``, ``returns``, ``span``, the model's ``design``) are not stored: the
    properties of the same names rebuild them from each pair's ``cells`` (see :mod:`eventstudy.engine.grid`),
    unless a measure stored its own (``stored_returns``, ``stored_design``: abnormal volume, factor-file models).

    The D days are the estimation window's L1 days, then the E days after it (to the report span's end). Normal
    returns, ARs and SARs are stored for those E days (``event_normal``, ``event_ar``, ``event_sar``: what the AR
    table reads); the properties ``normal``, ``ar`` and ``sar`` are the (P, D) arrays. The estimation days' ARs
    (``estimation_ar``, :class:`~eventstudy.inference.ar_rows.ArRows`) are stored (``ar_stored``) only for the pairs
    whose rows the grid does not regenerate bit for bit (``ar_slot``; :func:`stored_ar` stores every row). SAR_it =
    AR_it / sigma_i on every estimation day (C = 1 for every model, GARCH and abnormal volume included), the same
    quotient computed where it is read (GRANK divides as it ranks). The estimation days' normal returns are read
    only by Binder's systems (groups of pairs on one day 0): when the study can form such a group
    (:func:`run_pairs`) ``estimation_normal`` holds the rows the grid does not give back bit for bit (addressed by
    ``normal_slot`` like the ARs; a market-model pair's are regenerated, :meth:`SessionGrid.market_normals`), else
    it is None.
    """

    index: np.ndarray  # (P,) canonical pair position
    days: np.ndarray  # (D,) relative days (shared by every pair)
    regressor_names: tuple[str, ...]
    pairs: pd.DataFrame  # event_id, ticker, venue, day0, explicit, masked_days, status, reason
    alignment: pd.DataFrame  # the alignment table rows of the pairs (without day0_index)
    model: np.ndarray  # (P,) model used per pair
    params: np.ndarray  # (P, k)
    sigma: np.ndarray
    n_obs: np.ndarray
    dof: np.ndarray
    r2: np.ndarray
    estimation_start: np.ndarray  # (P,) datetime64[ns], first clean estimation date (NaT if none)
    estimation_end: np.ndarray
    active: np.ndarray  # (P,) bool: status ok or fallback
    grid: SessionGrid  # the session matrices (shared by every pair)
    cells: np.ndarray  # (P, 3) each pair's place in the grid
    estimation: np.ndarray  # (P, D) clean estimation days
    event_ar: np.ndarray  # (P, E) abnormal returns of the last E days (NaN for pairs not studied)
    ar_slot: np.ndarray  # (P,) int64: each pair's estimation-day ARs: a row of ``ar_stored``, NAN_ROW or MARKET_ROW
    ar_stored: np.ndarray  # (S, D - E) the estimation-day ARs of the pairs they are stored for
    event_normal: np.ndarray  # (P, E) normal returns of the last E days (after the estimation window)
    event_sar: np.ndarray  # (P, E) standardized abnormal returns of those days
    estimation_normal: np.ndarray | None  # (S2, D - E) the estimation days' normal returns stored (``normal_slot``)
    cars: dict[Window, dict[str, np.ndarray]]  # per window: car, car_se, car_t, car_p, bhar, n_days, complete
    csar: dict[Window, np.ndarray]  # per window: cumulative SAR
    contamination: dict[Window, Labels]  # per window: each pair's label as a code into distinct labels ("" = 0)
    extra: dict[str, np.ndarray]  # model-specific parameters.csv columns (GARCH, factor loadings, thin trading)
    stored_returns: np.ndarray | None = None  # (P, D) the measure when it is not the grid's returns (volume)
    stored_design: np.ndarray | None = None  # (P, D, k) the design when it is not built from the grid's regressors
    volume: PairStage | None = None  # abnormal volume as a stage of its own (``volume=``)
    normal_slot: np.ndarray | None = None  # (P,) row of ``estimation_normal``, NAN_ROW or MARKET_ROW (None: row i)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (summed over subsets)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def dates(self) -> GridArray:
        """(P, D) datetime64[ns] session dates, NaT outside the calendar."""
        return self._gathered(lambda cells, days: self.grid.dates(cells, days), "datetime64[ns]")

    @property
    def returns(self) -> np.ndarray | GridArray:
        """(P, D) returns (trade-to-trade; NaN without a price)."""
        if self.stored_returns is not None:
            return self.stored_returns
        return self._gathered(lambda cells, days: self.grid.take(self.grid.returns, cells, days, np.nan), float)

    @property
    def span(self) -> GridArray:
        """(P, D) int64 sessions each return spans (1 normally, k after k - 1 sessions without a price, 0 none)."""
        return self._gathered(lambda cells, days: self.grid.take(self.grid.span, cells, days, 0, np.int64), np.int64)

    @property
    def design(self) -> np.ndarray | GridArray:
        """(P, D, k) the model's regressors, intercept first (zero where a pair has no estimated parameters), summed
        over each return's span (:func:`~eventstudy.engine.gaps.bridge_gaps`)."""
        if self.stored_design is not None:
            return self.stored_design

        def build(rows):
            cells, every = self.cells[rows], np.arange(len(self.days))
            span = self.grid.take(self.grid.span, cells, every, 0)
            return linear_design(self.params[rows], self.grid.take_regressors(cells, every), span)

        return GridArray(build, (len(self), len(self.days), self.params.shape[1]), float)

    @property
    def normal(self) -> GridArray:
        """(P, D) normal returns: ``estimation_normal`` (an error where not held), then ``event_normal``."""

        def build(rows):
            if self.estimation_normal is None:
                raise ValueError(
                    "the pair stage holds the normal returns of the event days only (no group of the study's battery "
                    "is on one day 0): read event_normal, or keep them all with run_pairs(..., estimation_normal=True)"
                )
            event = self.event_normal[rows]
            out = np.empty((len(event), len(self.days)))
            self._estimation_normals(rows, out[:, : self.event_start])
            out[:, self.event_start :] = event
            return out

        return self._composed(build, self.event_normal)

    @property
    def sar(self) -> GridArray:
        """(P, D) standardized abnormal returns: AR_it / sigma_i on the estimation window's days, then ``event_sar``."""

        def build(rows):
            with np.errstate(divide="ignore", invalid="ignore"):  # sigma 0 or NaN: a pair not studied (AR NaN)
                estimation = self.estimation_ar.take(rows) / self.sigma[rows, None]
            return np.concatenate([estimation, self.event_sar[rows]], axis=1)

        return self._composed(build, self.event_sar)

    @property
    def ar(self) -> GridArray:
        """(P, D) abnormal returns, NaN for pairs not studied: ``estimation_ar``, then ``event_ar``."""

        def build(rows):
            return np.concatenate([self.estimation_ar.take(rows), self.event_ar[rows]], axis=1)

        return self._composed(build, self.event_ar, self.estimation_ar)

    @property
    def estimation_ar(self) -> ArRows:
        """(P, L1) abnormal returns of the estimation window's days, as rows the compiled kernels read: stored, NaN
        or regenerated from the grid (:mod:`eventstudy.inference.ar_rows`)."""
        width = self.event_start
        if not (self.ar_slot == MARKET_ROW).any():
            return ArRows(self.ar_stored, self.ar_slot, 0, width)
        return self.grid.market_rows(self.cells, self.params, self.ar_slot, self.ar_stored, width)

    def _estimation_normals(self, rows, out: np.ndarray) -> None:
        """Write the estimation days' normal returns of ``rows`` to ``out`` (n, L1): stored, NaN or regenerated
        (``normal_slot``)."""
        if self.normal_slot is None:
            out[:] = self.estimation_normal[rows]
            return
        slot = self.normal_slot[rows]
        stored, market = slot >= 0, slot == MARKET_ROW
        if market.all():  # every row regenerated: written in place
            self.grid.market_normals(self.cells[rows], self.params[rows], self.event_start, out)
            return
        out[:] = np.nan
        out[stored] = self.estimation_normal[slot[stored]]
        if market.any():
            cells, params = self.cells[rows][market], self.params[rows][market]
            out[market] = self.grid.market_normals(cells, params, self.event_start)

    @property
    def event_start(self) -> int:
        """The column of the first day after the estimation window (D - E)."""
        return len(self.days) - self.event_sar.shape[1]

    def _composed(self, build, event: np.ndarray, estimation: ArRows | None = None) -> GridArray:
        """A (P, D) array of ``build(rows)``; the event days' columns read from ``event`` (P, E) alone, the
        estimation days' from ``estimation`` (P, L1) alone when given."""
        start = self.event_start

        def columns(rows, days):
            if len(days) and days[0] >= start:
                return event[rows, days[0] - start : days[-1] + 1 - start]
            if estimation is not None and len(days) and days[-1] < start:
                return estimation.window(int(days[0]), int(days[-1]) + 1).take(rows)
            return build(rows)[:, days]

        return GridArray(build, (len(self), len(self.days)), float, columns)

    def _gathered(self, take, dtype) -> GridArray:
        every = np.arange(len(self.days))
        return GridArray(
            lambda rows: take(self.cells[rows], every),
            (len(self), len(self.days)),
            dtype,
            lambda rows, days: take(self.cells[rows], days),
        )


def linear_design(params: np.ndarray, regressors: np.ndarray, span: np.ndarray) -> np.ndarray:
    """The design (P, D, k) of a linear model on the panel's regressors (intercept, then the first k - 1), zero for
    pairs without estimated parameters, span-summed where a return spans several sessions."""
    return span_design(linear_design_of(params, regressors), span)


def stored_ar(ar: np.ndarray, start: int) -> dict[str, np.ndarray]:
    """The :class:`PairStage` fields of abnormal returns ``ar`` (P, D) whose estimation days (the first ``start``)
    are all stored: ``event_ar``, ``ar_slot``, ``ar_stored`` (views of ``ar``)."""
    return {"event_ar": ar[:, start:], "ar_slot": np.arange(len(ar), dtype=np.int64), "ar_stored": ar[:, :start]}
