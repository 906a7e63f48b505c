"""The pair stage of a study: per-pair work (panel, model, AR, CAR), gathered and fitted in chunks of pairs.

:func:`run_pairs` returns a :class:`PairStage`; :func:`concat` joins the stages of disjoint subsets (other processes,
other machines) into exactly the in-process arrays, in the study's pair order (see :mod:`eventstudy.engine.stages`).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pandas as pd

from eventstudy.engine.contamination import Labels
from eventstudy.engine.factor_models import FACTOR_MODELS
from eventstudy.engine.gaps import bridge_gaps
from eventstudy.engine.garch import conditional_car
from eventstudy.engine.grid import merge_grids
from eventstudy.engine.models import combine, fit_model
from eventstudy.engine.normal import estimate_normal
from eventstudy.engine.pages import populate_in_background, release_freed_pages
from eventstudy.engine.panel import EventPanel, PanelLayout, panel_days, panel_layout
from eventstudy.engine.stage_arrays import PairStage
from eventstudy.engine.statistics import car_statistics, cumulative_sar
from eventstudy.engine.volume import volume_stage
from eventstudy.engine.window_pass import window_complete, window_pass
from eventstudy.events.catalog import EventSet
from eventstudy.inference.ar_rows import MARKET_ROW, NAN_ROW, matching_normals, matching_rows
from eventstudy.inference.threads import concurrent_kernels

FALLBACK_MIN_OBS = 20
ACTIVE = ("ok", "fallback")


CHUNK_PAIRS = 25_000  # pairs gathered and fitted at a time: bounds the pair stage's temporaries (fresh pages)
HELD = ("estimation", "event_ar", "event_normal", "event_sar")  # the (P, D) and (P, E) arrays a stage stores


def run_pairs(study, events: EventSet, prices: pd.DataFrame, estimation_normal: bool = False) -> PairStage:
    """The pair stage of ``events``, a subset of ``study.events`` (rows of its frame with their index labels).

    ``prices`` must hold the subset's tickers, the market and the factors (with ``calendar="data"`` their dates
    are the sessions: give the same dates as the full run). The pairs are gathered and fitted ``CHUNK_PAIRS`` at a
    time (every pair's numbers depend on its own row only, so chunks give exactly the numbers of one pass). Where
    numba's threading layer lets two threads launch parallel kernels (and no volume is studied: its stage reads the
    gathered arrays), chunk k's statistics and stage (:func:`_finish_chunk`) run on a thread of their own while
    chunk k + 1 is gathered and fitted on this one, into the other of two work buffers (their serial numpy and
    Arrow steps fill the core the compiled kernels leave idle); the chunks are finished in order, one at a time.
    The run's arrays and the work buffers are made before the layout, and their pages mapped on a thread of their
    own while the layout is built on one core (:func:`~eventstudy.engine.pages.populate_in_background`: the chunks
    then write into mapped pages, 1M pairs' 1.2 GB, instead of faulting them in on the pipeline's busy threads).

    The estimation days' normal returns are kept (``PairStage.estimation_normal``) with ``estimation_normal``, and
    otherwise only where a group of the study's battery can be one of Binder's systems (its pairs on one day 0 and
    venue, distinct tickers): with ``group_tests="event+all"`` when an event has two tickers, and while all the
    studied pairs share one day 0 and venue (the pooled group). Both are necessary for such a group, in a subset of
    the pairs too, so a subset keeps them whenever the full study would read them (see :func:`concat`).
    """
    clock = Stopwatch()
    frame = events.frame
    index = frame.index.to_numpy()
    full = len(frame) == len(study.events) and np.array_equal(index, np.arange(len(frame)))
    mask_events = study.mask_events if study.mask_events is not None or full else study.events
    if study.mask == "none":
        block = None
    elif study.mask == "catalog" or study.mask_events is None:
        block = "mask"
    else:
        block = study.events
    held, work = _arrays(study, len(frame), panel_days(study.windows))  # the layout's pairs and days
    pages = populate_in_background([*work, *held.values()])  # mapped on the core the layout leaves idle
    layout = panel_layout(
        EventSet(frame.reset_index(drop=True)),
        prices,
        study.windows,
        market=study.market,
        factors=study.factors,
        calendar=study.calendar,
        venues=study.venues,
        listed=study.listed,
        kind=study.returns,
        mask_events=mask_events,
        confounders=study.confounders,
        max_move=study.max_move,
        block_events=block,
    )
    clock.lap("panel")
    release_freed_pages()  # the price matrix and alignment temporaries
    keep = estimation_normal or _event_systems(study)
    state = {"pooled": not keep, "dates": None}  # whether the studied pairs so far share one day 0 and venue
    parts, buffers, finishing = [], {}, []  # the chunks write into the run's arrays; gathers reuse ``buffers``
    with ThreadPoolExecutor(1, thread_name_prefix="eventstudy-chunks") as pool:
        for k, start in enumerate(range(0, max(len(layout), 1), CHUNK_PAIRS)):
            rows = slice(start, min(start + CHUNK_PAIRS, len(layout)))
            if k >= len(work):
                finishing[k - len(work)].result()  # done with the buffer this chunk reuses
                clock.lap("statistics")
            n, w = rows.stop - rows.start, work[k % len(work)]
            out = {name: v[rows] for name, v in held.items()} | {"normal": w[0, :n], "ar": w[1, :n]}
            modelled = _pair_model(study, layout, rows, clock, out, buffers)
            if k == 0 and not concurrent_kernels():  # (a kernel has run now) one buffer: chunks finished in turn
                del work[1:]
            args = (study, index, rows, out, modelled, held, keep, state, parts)
            finishing.append(pool.submit(_finish_chunk, *args) if len(work) > 1 else _done(_finish_chunk(*args)))
            clock.lap("statistics")
        for done in finishing:
            done.result()
        clock.lap("statistics")
    del buffers, work
    pages.join()
    stage = concat(parts, release=True)
    stage.contamination = layout.contamination  # flagged on a thread while the chunks ran (panel_layout)
    if stage.volume is not None:  # the volume measure's pairs are the same
        stage.volume.contamination = stage.contamination
    stage.timings = clock.times
    release_freed_pages()  # the chunks' temporaries
    return stage


def _arrays(study, n_pairs: int, days: np.ndarray) -> tuple[dict, list]:
    """``(held, work)``: the run's (pairs x days) arrays the stage keeps (``HELD``, and ``ar_stored`` for a model
    whose estimation rows are not regenerated) and the chunks' work buffers (a chunk's normal and abnormal returns,
    every day; two where chunk k + 1 may be modelled into one while chunk k is finished: more than one chunk and
    no volume), not yet written."""
    n_days, n_event = len(days), int((days > study.windows.estimation[1]).sum())
    held = {"estimation": np.empty((n_pairs, n_days), dtype=bool)}
    held |= {name: np.empty((n_pairs, n_event)) for name in HELD[1:]}
    if not (study.model == "market" and study.beta == "ols"):  # no row regenerates: all stored, in place
        held["ar_stored"] = np.empty((n_pairs, n_days - n_event))
    pipelined = n_pairs > CHUNK_PAIRS and not study.volume
    return held, [np.empty((2, min(CHUNK_PAIRS, n_pairs), n_days)) for _ in range(1 + pipelined)]


def _event_systems(study) -> bool:
    """Whether a group of one event can be one of Binder's systems: ``group_tests="event+all"`` and an event
    with two tickers."""
    if study.group_tests != "event+all":
        return False
    return bool(study.events.frame[["event_id", "ticker"]].drop_duplicates()["event_id"].duplicated().any())


def _done(value) -> Future:
    done: Future = Future()
    done.set_result(value)
    return done


def _finish_chunk(
    study, index: np.ndarray, rows: slice, out: dict, modelled: tuple, held: dict, keep: bool, state: dict, parts: list
) -> None:
    """A modelled chunk's statistics and stage (:func:`_pair_statistics`), its arrays moved into the run's ``held``
    ones, appended to ``parts``; called for each chunk in turn (on one thread: ``state`` and earlier ``parts``
    change here)."""
    part = _pair_statistics(study, index, rows, out, *modelled)
    for name in HELD:  # a model that made arrays of its own (fallback, gaps, GARCH): copied, then freed
        values = getattr(part, name)
        if values.base is not held[name]:
            held[name][rows] = values
            setattr(part, name, held[name][rows])
    if state["pooled"]:
        found = part.pairs.loc[part.active, ["day0", "venue"]]
        state["dates"] = (found if state["dates"] is None else pd.concat([state["dates"], found])).drop_duplicates()
        state["pooled"] = len(state["dates"]) <= 1
        for kept in parts if not state["pooled"] else ():  # no Binder system: the estimation days' normals unread
            kept.estimation_normal = kept.normal_slot = None
    if keep or state["pooled"]:  # the rows the grid does not regenerate, copied (the work buffer is reused)
        part.normal_slot, part.estimation_normal = _estimation_normals(part)
    else:
        part.estimation_normal = None
    parts.append(part)


def _pair_model(study, layout: PanelLayout, rows: slice, clock: Stopwatch, out: dict, buffers: dict) -> tuple:
    """The layout's pairs ``rows`` gathered (into ``buffers``, see :meth:`PanelLayout.gather`) and fitted, their
    normal and abnormal returns written into ``out`` (``normal``, ``ar``: the chunk's (P, D) arrays; ``event_normal``
    and, with GARCH, ``event_sar`` too, where the model allows: ``HELD``), and the window sums: ``(panel, fit,
    status, reason, active, masks, sums)``. What :func:`_pair_statistics` reads of the panel is not in ``buffers``
    (the next chunk's gather overwrites them)."""
    panel = layout.gather(rows, buffers, out["estimation"], contamination=False)  # run_pairs takes the layout's
    clock.lap("panel")
    fit, status, reason = _estimate(study, panel, (out["normal"], out["ar"]))
    start = len(panel.days) - out["event_normal"].shape[1]  # the first event day
    out["event_normal"][:] = fit.normal[:, start:]
    clock.lap("model")
    active = panel.pairs["status"].isin(ACTIVE).to_numpy(dtype=bool) if status is None else np.isin(status, ACTIVE)
    fit.ar[~active] = np.nan  # the chunk's own array: pairs not studied get NaN in place
    est_days = (panel.days >= study.windows.estimation[0]) & (panel.days <= study.windows.estimation[1])
    masks = np.stack([panel.day_mask(w) for w in study.windows.events])
    garch = fit.variance is not None  # its SAR divides by the conditional variance: fit.standardized_ar
    sums = window_pass(
        fit.ar,
        fit.design_rows(),
        fit.xtx_inv,
        panel.span,
        masks,
        panel.returns,
        fit.normal,
        study.returns,
        sar=None if garch else (fit.sigma, est_days, out["event_sar"]),
    )
    if garch:
        fit.standardized_ar(fit.ar, est_days, out=out["event_sar"])
    return panel, fit, status, reason, active, masks, sums


def _pair_statistics(
    study, index: np.ndarray, rows: slice, out: dict, panel, fit, status, reason, active, masks, sums
) -> PairStage:
    """The pair stage of a modelled chunk (:func:`_pair_model`): each window's CAR statistics, the estimation rows
    the grid does not regenerate, and the stage's fields."""
    ar = fit.ar
    start = len(panel.days) - out["event_normal"].shape[1]  # the first event day
    windows = study.windows.events
    cars = {}
    for i, w in enumerate(windows):
        table = car_statistics(sums, i, fit.xtx_inv, fit.sigma, fit.dof)
        cars[w] = conditional_car(table, fit, masks[i]) | {"complete": window_complete(sums, i, masks[i])}
    first, last = np.maximum(panel.estimation_bounds, 0).T  # the gather's first and last clean estimation days
    has = panel.estimation_bounds[:, 0] >= 0
    nat = np.datetime64("NaT")
    csar = {w: cumulative_sar(cars[w]["car"], cars[w]["car_se"]) for w in windows}
    slot, stored = _estimation_rows(panel, fit.params, active, ar[:, :start], out.get("ar_stored"))
    stage = PairStage(
        index=index[rows],
        days=panel.days,
        regressor_names=panel.regressor_names,
        pairs=panel.pairs if status is None else panel.pairs.assign(status=status, reason=reason),
        alignment=panel.alignment.drop(columns="day0_index"),
        model=fit.model,
        params=fit.params,
        sigma=fit.sigma,
        n_obs=fit.n_obs,
        dof=fit.dof,
        r2=fit.r2,
        estimation_start=np.where(has, _date_at(panel, first), nat),
        estimation_end=np.where(has, _date_at(panel, last), nat),
        active=active,
        grid=panel.grid,
        cells=panel.cells,
        estimation=panel.estimation,
        event_ar=ar[:, start:],  # a view of the chunk's array: run_pairs copies it
        ar_slot=slot,
        ar_stored=stored,
        event_normal=out["event_normal"],
        event_sar=out["event_sar"],
        estimation_normal=fit.normal[:, :start],  # a view of the chunk's array: run_pairs copies it or drops it
        cars=cars,
        csar=csar,
        contamination=panel.contamination,
        extra=fit.extra,
        stored_design=fit.design if study.model in FACTOR_MODELS else None,
    )
    if study.volume:
        venues = panel.pairs["venue"].to_numpy()
        market = None if study.market is None else [study.market.get(v, study.market.get("*")) for v in venues]
        stage.volume = volume_stage(stage, panel, study.prices, study.volume, market, study.windows, study.min_obs)
    return stage


def _estimation_rows(
    panel: EventPanel, params: np.ndarray, active: np.ndarray, ar: np.ndarray, into: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(ar_slot, ar_stored)`` of a chunk's estimation-day ARs ``ar`` (n, L1), NaN where a pair is not ``active``:
    every row copied into ``into`` when given; else the rows the session grid reproduces bit for bit (NaN rows,
    market-model residuals: checked row by row with :func:`~eventstudy.inference.ar_rows.matching_rows`) are not
    stored, the others are."""
    if into is not None:
        into[:] = ar
        return np.arange(len(ar), dtype=np.int64), into
    slot = np.where(active, MARKET_ROW, NAN_ROW).astype(np.int64)
    if params.shape[1] == 2:  # alpha, beta
        rows = panel.grid.market_rows(panel.cells, params, slot, np.empty((0, ar.shape[1])), ar.shape[1])
        same = matching_rows(rows, ar)
    else:
        same = ~active  # rows of NaN (the caller's)
    slot[~same] = np.arange(int((~same).sum()))
    return slot, ar[~same]


def _estimation_normals(part: PairStage) -> tuple[np.ndarray, np.ndarray]:
    """``(normal_slot, estimation_normal)`` of a chunk whose ``estimation_normal`` holds every row: the rows the
    grid regenerates bit for bit (:meth:`~eventstudy.engine.grid.SessionGrid.market_normals`, checked row by row as
    they are computed with :func:`~eventstudy.inference.ar_rows.matching_normals`) are not stored, the others are
    copied."""
    normal = part.estimation_normal
    slot = np.full(len(normal), MARKET_ROW, dtype=np.int64)
    if part.params.shape[1] == 2:  # alpha, beta
        rows = part.grid.market_rows(part.cells, part.params, slot, np.empty((0, normal.shape[1])), normal.shape[1])
        same = matching_normals(rows, normal)
    else:
        same = np.zeros(len(normal), dtype=bool)
    slot[~same] = np.arange(int((~same).sum()))
    return slot, normal[~same]


def _date_at(panel: EventPanel, day: np.ndarray) -> np.ndarray:
    """(P,) the session date of each pair's panel day ``day`` (P,) (NaT where it has none)."""
    return panel.grid.dates(panel.cells, day[:, None])[:, 0]


def concat(stages: list[PairStage], release: bool = False) -> PairStage:
    """Concatenate pair stages of disjoint subsets, ordered by the canonical pair index.

    ``release``: drop each field from ``stages`` once it is copied (peak memory one field above the result).
    ``estimation_normal`` is None unless every stage holds it (a subset drops it only when no group of the study
    can read it: :func:`run_pairs`); its stored rows are renumbered like the ARs'.
    """
    if len(stages) == 1:
        return stages[0]
    index = np.concatenate([s.index for s in stages])
    order = np.argsort(index, kind="stable")
    if np.array_equal(order, np.arange(len(order))):  # in order already (run_pairs's chunks): nothing to take
        order = None
    grid, cells = merge_grids([s.grid for s in stages], [s.cells for s in stages])
    stored_before = np.cumsum([0] + [len(s.ar_stored) for s in stages[:-1]])
    normals = None if any(s.estimation_normal is None for s in stages) else _normal_slots(stages)
    out = {}
    for f in fields(PairStage):
        values = [getattr(s, f.name) for s in stages]
        first = values[0]
        if f.name in ("days", "regressor_names"):
            out[f.name] = first
        elif f.name == "grid":
            out[f.name] = grid
        elif f.name == "cells":
            out[f.name] = _take(cells, order)
        elif f.name == "ar_slot":  # the stored rows keep the subsets' order: their slots are renumbered
            out[f.name] = _take([np.where(v >= 0, v + n, v) for v, n in zip(values, stored_before, strict=True)], order)
        elif f.name == "ar_stored":
            out[f.name] = _take(values, None)
        elif f.name in ("volume", "stored_returns", "stored_design", "contamination") and first is None:
            out[f.name] = None
        elif f.name == "estimation_normal" and normals is None:
            out[f.name] = None
        elif f.name == "estimation_normal":  # the stored rows keep the subsets' order
            out[f.name] = _take(values, None)
        elif f.name == "normal_slot":
            out[f.name] = None if normals is None else _take(normals, order)
        elif f.name == "volume":
            out[f.name] = concat(values, release)
        elif f.name == "timings":
            out[f.name] = {k: sum(v.get(k, 0.0) for v in values) for k in dict.fromkeys(k for v in values for k in v)}
        elif isinstance(first, pd.DataFrame):
            frame = pd.concat(values, ignore_index=True)
            out[f.name] = frame if order is None else frame.iloc[order].reset_index(drop=True)
        elif f.name == "contamination":
            out[f.name] = {w: Labels.concat([v[w] for v in values], order) for w in first}
        elif isinstance(first, dict):
            out[f.name] = {w: _concat_values([v[w] for v in values], order) for w in first}
        else:
            out[f.name] = _take(values, order)
        if release:
            del values, first
            for stage in stages:
                setattr(stage, f.name, None)
    return PairStage(**out)


def _normal_slots(stages: list[PairStage]) -> list[np.ndarray]:
    """Each stage's ``normal_slot`` (row i when None: every row stored) renumbered onto the concatenated rows."""
    out, before = [], 0
    for s in stages:
        slot = np.arange(len(s), dtype=np.int64) if s.normal_slot is None else s.normal_slot
        out.append(np.where(slot >= 0, slot + before, slot))
        before += len(s.estimation_normal)
    return out


def _take(values: list[np.ndarray], order: np.ndarray | None) -> np.ndarray:
    """``np.concatenate(values)[order]`` (``order`` None: in order); no copy at all when ``values`` are the
    consecutive row blocks of one array (run_pairs's chunks) in order."""
    identity = order is None
    base = values[0].base
    if identity and isinstance(base, np.ndarray) and _blocks_of(values, base):
        return base
    whole = np.concatenate(values)
    return whole if identity else whole[order]


def _blocks_of(values: list[np.ndarray], base: np.ndarray) -> bool:
    """Whether ``values`` are ``base[a:b], base[b:c], ...`` covering all of ``base``."""
    if sum(len(v) for v in values) != len(base) or base.ndim != values[0].ndim:
        return False
    at = base.__array_interface__["data"][0]
    for v in values:
        if v.base is not base or v.__array_interface__["data"][0] != at or not v.flags.c_contiguous:
            return False
        at += v.nbytes
    return base.flags.c_contiguous


def _concat_values(values: list, order: np.ndarray | None):
    if isinstance(values[0], dict):
        return {k: _take([v[k] for v in values], order) for k in values[0]}
    return _take(values, order)


class Stopwatch:
    """Seconds per phase: ``lap(name)`` adds the time since the previous lap to ``times[name]``."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.times[phase] = self.times.get(phase, 0.0) + now - self._last
        self._last = now


def _estimate(study, panel: EventPanel, out: tuple[np.ndarray, np.ndarray]):
    """The fit, and the pairs' status and reason after it (object arrays), or ``(fit, None, None)`` when no pair's
    changed: the usual chunk, whose text columns are then compared in Arrow and never converted to Python strings
    (about 0.2 s of the calling thread at 1,000,000 pairs)."""
    ok = (panel.pairs["status"] == "ok").to_numpy(dtype=bool)
    fit, notes = estimate_normal(
        study.model,
        panel,
        studied=ok,
        min_obs=study.min_obs,
        factor_table=study.factor_table,
        beta=study.beta,
        jobs=study.jobs,
        out=out,
    )
    short = ok & ((fit.n_obs < study.min_obs) | ~fit.usable)
    flat = ok & ~short & ~(fit.sigma > 0)
    if not (short | flat | (ok & (notes != ""))).any():  # every studied pair stays "ok"
        return bridge_gaps(fit, panel.returns, panel.span), None, None
    status, reason = (panel.pairs[name].to_numpy(dtype=object, copy=True) for name in ("status", "reason"))
    few = short & (fit.n_obs < study.min_obs)
    status[short] = "insufficient"
    reason[few] = _per_value(
        fit.n_obs[few], lambda n: f"{n} clean estimation returns, below the minimum of {study.min_obs}"
    )
    reason[short & ~few] = "the estimation regressors are degenerate (X'X is singular)"
    for i in np.flatnonzero(flat):
        est = panel.returns[i][panel.estimation[i]]
        why = (
            f"its price never moves over the estimation window ({est.size} returns, all {est[0]:g})"
            if est.size and np.all(est == est[0])
            else f"the {fit.model[i]} model fits the estimation returns exactly (sigma {fit.sigma[i]:g})"
        )
        status[i], reason[i] = "insufficient", f"{why}: no variance to test an abnormal return against"
    short |= flat
    for i in np.flatnonzero(ok & ~short & (notes != "")):
        status[i], reason[i] = "fallback", notes[i]
    if study.on_insufficient == "market-adjusted" and short.any():
        fallback = fit_model("market-adjusted", panel.returns, panel.regressors[:, :, :1], panel.estimation)
        use = short & (fallback.n_obs >= FALLBACK_MIN_OBS)
        status[use] = "fallback"
        reason[use] = reason[use] + _per_value(
            fallback.n_obs[use], lambda n: f"; used market-adjusted returns (sigma from {n} returns)"
        )
        reason[short & ~use] = reason[short & ~use] + (
            f"; too few for the market-adjusted fallback (needs {FALLBACK_MIN_OBS})"
        )
        fit = combine(fit, fallback, use)
    return bridge_gaps(fit, panel.returns, panel.span), status, reason


def _per_value(values: np.ndarray, text) -> np.ndarray:
    """``text(v)`` for each of ``values`` as an object array, formatted once per distinct value."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([text(v) for v in distinct], dtype=object)[inverse]
