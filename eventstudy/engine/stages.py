"""The two stages of a study: per-pair work (panel, model, AR, CAR; :mod:`eventstudy.engine.pair_stage`) and
per-group work (AAR, test battery; here).

``finish(study, run_pairs(study, study.events, study.prices))`` is the whole study. The pair stage of any subset
of the study's pairs can be computed on its own (another process, another machine) and the stages concatenated
with :func:`concat` into exactly the in-process arrays, in the study's pair order: every pair carries its
position in ``study.events.frame`` (its canonical index). Masking and contamination always use the study's full
``mask_events`` (default: all its events) and confounders, so a subset holding every event of its tickers gives
exactly the per-pair numbers of the full run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

from eventstudy.engine.ar_table import ArSource
from eventstudy.engine.pages import release_freed_pages
from eventstudy.engine.pair_stage import PairStage, Stopwatch, concat, run_pairs
from eventstudy.engine.panel import Windows
from eventstudy.engine.placebo import (
    chunks,
    null_draws,
    placebo_groups,
    placebo_plan,
    placebo_tests,
)
from eventstudy.engine.tables import (
    car_frame,
    estimation_sums,
    parameter_frame,
    tests_frame,
    text_column,
    volatility_frame,
)
from eventstudy.engine.volume import av_frame, cav_frame
from eventstudy.inference.daily import daily_aar_t
from eventstudy.inference.groups import Groups
from eventstudy.inference.moments import DaySums, group_day_means
from eventstudy.inference.multitest import adjust_p_values
from eventstudy.results import EventStudyResults

__all__ = ["PairStage", "Stopwatch", "concat", "finish", "masking_cost", "run_pairs"]


def finish(study, stage: PairStage, prices_table: bool = True, release: bool = False) -> EventStudyResults:
    """The group stage: AAR/CAAR, the test battery per group, and the tidy tables (the used prices only with
    ``prices_table``, else an empty price frame; the AR table as its :class:`~eventstudy.engine.ar_table.ArSource`,
    built into a frame when ``results.ar`` is first read). The AAR, car and parameter tables, which no test feeds,
    are built on this thread while the rank tests end on theirs (:func:`~eventstudy.engine.tables.tests_frame`'s
    ``meanwhile``).

    ``release``: the stage is the caller's to drop (``fit``): its (pairs x days) arrays of every day (``ar``, the
    estimation mask, the estimation days' normal returns) are let go once the tests and the AR table's source have
    read them, before the remaining tables are built (1M pairs: 2.35 GB less after ``fit``)."""
    clock = Stopwatch()
    labels, groups = _groups(study, stage)

    @functools.cache
    def est() -> DaySums:
        """The groups' estimation day sums (the tests' portfolio sd and signs, the AAR frame's daily t): computed
        once, by the tests on this thread while their group tests run on another."""
        return estimation_sums(stage, study.windows, groups)

    built: dict[str, pd.DataFrame] = {}

    def untested() -> None:
        """The tables no test feeds (the AAR frame, car, parameters): built while the rank tests end."""
        built["aar"] = _aar_frame(study, stage, labels, groups, est().mean)
        built.update(car=car_frame(stage), parameters=parameter_frame(stage))
        clock.lap("tables")

    tests, placebo = _placebo(study, stage, labels, groups, _tests(study, stage, labels, groups, clock, est, untested))
    clock.lap("placebo")
    ar = ArSource(stage, study.windows)  # the frame is built when results.ar is first read
    if release:
        stage.ar_stored = stage.estimation = stage.estimation_normal = stage.normal_slot = None  # read by none below
        release_freed_pages()
    tables = {
        "ar": ar,
        "car": built["car"],
        "parameters": built["parameters"],
        "alignment": stage.alignment,
        "events": study.events.frame.drop(columns="explicit"),
        "prices": _used_prices(study, stage) if prices_table else study.prices.iloc[0:0],
        "av": None if stage.volume is None else av_frame(stage.volume, study.windows),
        "cav": None if stage.volume is None else cav_frame(stage.volume),
    }
    clock.lap("tables")
    config = study.config()
    config["insufficient_by_masking"] = masking_cost(stage, study.min_obs)
    return EventStudyResults(
        **tables,
        aar=built["aar"],
        tests=adjust_p_values(tests),
        placebo=placebo,
        config=config,
        timings={**stage.timings, **clock.times},
    )


def _placebo(
    study, stage: PairStage, labels: np.ndarray, groups: Groups, tests: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The tests with their placebo p-values and the placebo draws (:mod:`eventstudy.engine.placebo`), if any."""
    plan = placebo_plan(study, stage)
    if plan is None:
        return tests, None
    chosen = placebo_groups(study, labels, groups)
    taken: dict = {}
    # every draw's pooled group may be one of Binder's systems: the pseudo stages keep every normal return
    parts = [
        null_draws(study, stage, run_pairs(plan.study, part, study.prices, True), first, chosen, plan, taken)
        for first, part in chunks(plan)
    ]
    return placebo_tests(study, stage, plan, tests, chosen, parts)


def masking_cost(stage: PairStage, min_obs: int) -> int:
    """Pairs left ``insufficient`` only because masked event days took their estimation returns below min_obs."""
    insufficient = (stage.pairs["status"] == "insufficient").to_numpy(dtype=bool)  # compared in Arrow: no strings
    unmasked = stage.pairs["unmasked_obs"].to_numpy()
    return int((insufficient & (stage.n_obs < min_obs) & (unmasked >= min_obs)).sum())


def _tests(
    study,
    stage: PairStage,
    labels: np.ndarray,
    groups: Groups,
    clock: Stopwatch,
    est: DaySums | Callable[[], DaySums] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """The battery on returns, the volatility tests, and the battery on abnormal volume, with a ``measure``
    (``est``: the groups' estimation sums, :func:`~eventstudy.engine.tables.estimation_sums`, or a call that
    computes them; ``meanwhile``: called once while the returns' rank tests end: see
    :func:`~eventstudy.engine.tables.tests_frame`)."""
    bootstrap = (study.bootstrap_draws, study.seed)
    parts = {
        "return": tests_frame(stage, study.windows, groups, labels, clock, bootstrap, est, meanwhile),
        "volatility": volatility_frame(stage, study.windows, groups, labels),
    }
    if stage.volume is not None:
        parts["volume"] = tests_frame(stage.volume, study.windows, groups, labels, clock, bootstrap)
    tests = pd.concat(parts.values(), ignore_index=True)
    measures = np.repeat(np.arange(len(parts)), [len(part) for part in parts.values()])
    tests.insert(0, "measure", text_column(np.array(list(parts), dtype=object), measures))
    clock.lap("tests")  # the volatility tests and the table's assembly (not the placebo's phase that follows)
    return tests


# --------------------------------------------------------------------------------------------- group stage
def _groups(study, stage: PairStage) -> tuple[np.ndarray, Groups]:
    """``(labels, groups)``: "all" (the studied pairs) and, with ``event+all``, each event (in order of first
    appearance; an event without a studied pair is an empty group)."""
    active = np.flatnonzero(stage.active)
    if study.group_tests != "event+all":
        return np.array(["all"], dtype=object), Groups.from_masks(stage.active[None, :])
    codes, event_ids = pd.factorize(stage.pairs["event_id"])  # ids in order of first appearance
    order = active[np.argsort(codes[active], kind="stable")]
    groups = Groups(
        np.r_[np.zeros(len(active), np.int64), codes[order] + 1],
        np.r_[active, order].astype(np.int64),
        len(event_ids) + 1,
        len(stage.active),
    )
    return np.array(["all", *event_ids], dtype=object), groups


def _aar_frame(
    study, stage: PairStage, labels: np.ndarray, groups: Groups, aar_est: np.ndarray | None = None
) -> pd.DataFrame:
    """AAR per group and day; CAAR cumulated from the first day of each window (the report span, then each event
    window), one row per (group, window, day). ``aar_est``: the groups' estimation AAR if computed before
    (:func:`~eventstudy.engine.tables.estimation_sums`), the daily t's denominator."""
    days = slice(*np.searchsorted(stage.days, [study.windows.report_span[0], study.windows.report_span[1] + 1]))
    start = stage.event_start  # the report span's days come after the estimation window's
    aar, n = group_day_means(stage.event_ar[:, days.start - start : days.stop - start], groups)
    if aar_est is None:
        aar_est = estimation_sums(stage, study.windows, groups).mean
    aar_t, aar_p = daily_aar_t(aar, aar_est)
    reported = stage.days[days]
    spans = dict.fromkeys([study.windows.report_span, *study.windows.events])
    inside = [np.flatnonzero((reported >= start) & (reported <= end)) for start, end in spans]
    cols = np.concatenate(inside)
    caar = np.concatenate([np.nancumsum(aar[:, c], axis=1) for c in inside], axis=1)
    window = np.repeat(np.arange(len(spans)), [len(c) for c in inside])
    frame = {"group": text_column(labels, np.repeat(np.arange(len(labels)), len(cols)))}
    frame["window"] = text_column(
        np.array([Windows.label(span) for span in spans], dtype=object), np.tile(window, len(labels))
    )
    frame |= {"day": np.tile(reported[cols], len(labels)), "n": n[:, cols].ravel(), "aar": aar[:, cols].ravel()}
    frame |= {"caar": caar.ravel(), "aar_t": aar_t[:, cols].ravel(), "aar_p": aar_p[:, cols].ravel()}
    return pd.DataFrame(frame)


def _used_prices(study, stage: PairStage) -> pd.DataFrame:
    first, last = stage.grid.date_range(stage.cells, len(stage.days))
    if first is None:
        return study.prices.iloc[0:0]
    used = {*stage.pairs["ticker"].unique(), *(study.market or {}).values(), *study.factors}  # hashed in Arrow
    keep = study.prices["ticker"].isin(used).to_numpy() & study.prices["date"].between(first, last).to_numpy()
    return study.prices if keep.all() else study.prices[keep].reset_index(drop=True)
