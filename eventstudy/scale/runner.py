"""Run an event study on a Dask cluster with exactly the in-process result.

The pairs are split by ticker group (:func:`~eventstudy.scale.partition.partition_by_ticker`). For every partition
the cluster runs three small graphs of tasks:

1. ``load``: read the partition's tickers, the market and the factors from the price source (a dataset partitioned
   by ticker, a per-ticker folder, the DuckDB store, or rows shipped from the driver); the frame stays on the worker.
2. ``dates``: the dates the partition's prices hold. The driver unions them, so every partition builds its panel
   on the same date grid as the in-process run (the grid is the union of the study's tickers' dates).
3. ``pairs``: :func:`~eventstudy.engine.stages.run_pairs` on the partition (the same vectorised engine), which
   returns its :class:`~eventstudy.engine.stages.PairStage`.

The driver concatenates the pair stages in the study's pair order (:func:`~eventstudy.engine.stages.concat`) and
runs the group stage (:func:`~eventstudy.engine.stages.finish`: AAR, the pooled and per-event test battery, the
tidy tables) on them, so every number is computed by the same code on the same values as in
``EventStudy(...).fit()``. A worker that dies mid-run loses its tasks and the frames it held; Dask reruns them
from their recipe on another worker (up to ``distributed.scheduler.allowed-failures`` times), and the result is
the same.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client, Future, KilledWorker, as_completed

from eventstudy.engine.stages import PairStage, concat, finish, run_pairs
from eventstudy.engine.study import EventStudy
from eventstudy.errors import ClusterError, InputError
from eventstudy.events.catalog import EventSet
from eventstudy.hugepages import numpy_advice_off
from eventstudy.prices.batches import empty_frame
from eventstudy.prices.store import PriceStore
from eventstudy.results import EventStudyResults
from eventstudy.scale.cluster import LOCAL, check_scheduler, dask_client
from eventstudy.scale.partition import Partition, partition_by_ticker
from eventstudy.scale.sources import PriceSource, price_source

Progress = Callable[[int, int], None]
DEFAULT_PAIRS_PER_PARTITION = 20_000


def fit_distributed(
    events: EventSet | str | Path | pd.DataFrame,
    prices: pd.DataFrame | str | Path | PriceStore | PriceSource | Sequence[str | Path],
    *,
    scheduler: str | Client = LOCAL,
    partitions: int | None = None,
    pairs_per_partition: int = DEFAULT_PAIRS_PER_PARTITION,
    progress: Progress | None = None,
    **options,
) -> EventStudyResults:
    """``EventStudy(events, prices, **options).fit()``, computed on a Dask cluster; the same results.

    Parameters
    ----------
    events, options
        As for :class:`~eventstudy.engine.study.EventStudy` (``market=``, ``model=``, ``windows=``, ...).
    prices
        A price dataset partitioned by ticker (:func:`~eventstudy.prices.dataset.write_price_dataset`), a folder
        of per-ticker files, the DuckDB store (a :class:`~eventstudy.prices.store.PriceStore` or its ``.duckdb``
        path): each task reads only its tickers there (workers must see the path). A long price frame, or any
        other file: read on the driver, each task receives its rows.
    scheduler
        ``"local"`` (a cluster of this machine's cores, started and stopped here), a scheduler address
        ``"tcp://HOST:PORT"``, or a ``distributed.Client``.
    partitions, pairs_per_partition
        How many tasks to split the pairs into (default: one per ``pairs_per_partition`` pairs and at least two per
        worker; at most one per ticker). A ticker's pairs are never split.
    progress
        Called as ``progress(done, total)`` as partitions finish (the CLI draws a bar with it on a terminal).

    Raises
    ------
    ClusterError
        When the scheduler cannot be reached, or a task killed its worker more often than Dask retries.
    """
    check_scheduler(scheduler)
    source = price_source(prices)
    local_frame = isinstance(source, pd.DataFrame)
    if options.get("placebo_draws"):
        raise InputError(
            "placebo draws re-run the study on pseudo dates over the whole price history, on one machine: run them "
            "without --scheduler, or pass --placebo 0"
        )
    options["placebo_draws"] = 0  # the default (auto) placebo would need every ticker's full history here
    study = EventStudy(events, source if local_frame else empty_frame(), **options)
    with dask_client(scheduler) as client:
        if partitions is None:  # at least two tasks per worker, so a slow one does not hold up the rest
            workers = len(client.scheduler_info()["workers"])
            partitions = max(-(-len(study.events) // max(pairs_per_partition, 1)), 2 * workers)
        parts = partition_by_ticker(study.events, partitions)
        try:
            stage, used = _compute(client, study, source, parts, progress)
        except KilledWorker as exc:
            raise ClusterError(
                f"a task kept killing its Dask worker ({exc}); the workers may lack memory: give them more, or "
                "use more, smaller partitions (partitions= / --partitions)"
            ) from None
    return finish(study if local_frame else _with(study, prices=used), stage, release=True)


def _compute(client: Client, study: EventStudy, source, parts: list[Partition], progress: Progress | None):
    run = uuid.uuid4().hex[:12]
    regressors = list(dict.fromkeys([*(study.market or {}).values(), *study.factors]))
    mask = study.mask_events if study.mask_events is not None else study.events
    loads = [
        client.submit(
            _load,
            _rows(source, [*p.tickers, *regressors]) if isinstance(source, pd.DataFrame) else source,
            [*p.tickers, *regressors],
            key=f"eventstudy-load-{p.number}-{run}",
        )
        for p in parts
    ]
    futures: list[Future] = list(loads)
    if progress is not None:
        progress(0, len(parts))
    try:
        dates = client.gather(
            [client.submit(_dates, f, key=f"eventstudy-dates-{i}-{run}") for i, f in enumerate(loads)]
        )
        grid = np.unique(np.concatenate(dates)) if dates else np.array([], dtype="datetime64[ns]")
        stages = [
            client.submit(
                _pair_stage,
                *_task_inputs(study, mask, p),
                load,
                grid,
                p.tickers[0],
                key=f"eventstudy-pairs-{p.number}-{run}",
            )
            for p, load in zip(parts, loads, strict=True)
        ]
        futures += stages
        for done, _ in enumerate(as_completed(stages, loop=client.loop), start=1):
            if progress is not None:
                progress(done, len(stages))
        stage = concat(client.gather(stages))
        used = None
        if not isinstance(source, pd.DataFrame):
            lo, hi = stage.grid.date_range(stage.cells, len(stage.days))  # no (pairs x days) dates built
            shown = [[t for t in p.tickers if t not in regressors] for p in parts]
            shown[0] += regressors  # the market and factors once, from the first partition
            rows = [client.submit(_used_rows, load, names, lo, hi) for load, names in zip(loads, shown, strict=True)]
            futures += rows
            used = _sorted(client.gather(rows))
        return stage, used
    finally:
        client.cancel(futures)


# --------------------------------------------------------------------------------------------- tasks
def _load(source: PriceSource | pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    """A partition's prices: its rows as shipped, or read from the source (only these tickers)."""
    return source if isinstance(source, pd.DataFrame) else source.load(tickers)


def _dates(prices: pd.DataFrame) -> np.ndarray:
    return np.unique(prices["date"].to_numpy(dtype="datetime64[ns]"))


def _pair_stage(study: EventStudy, events: EventSet, prices: pd.DataFrame, grid: np.ndarray, pad: str) -> PairStage:
    """``run_pairs`` on the partition, its prices padded with empty rows on the dates only other partitions have.

    The in-process panel's date grid is the union of all the study's tickers' dates; an all-NaN row adds a date
    to that grid and nothing else (no price, no return), so the partition's panel sits on the same grid.
    """
    missing = np.setdiff1d(grid, prices["date"].to_numpy(dtype="datetime64[ns]"), assume_unique=True)
    if missing.size:
        filler = empty_frame().reindex(range(missing.size))
        filler["date"], filler["ticker"] = missing, pad
        prices = pd.concat([prices, filler[prices.columns]], ignore_index=True)
    with numpy_advice_off():  # as in EventStudy.fit: the stage's arrays without huge-page stalls
        return run_pairs(study, events, prices)


def _used_rows(prices: pd.DataFrame, tickers: list[str], lo, hi) -> pd.DataFrame:
    if lo is None:
        return prices.iloc[0:0]
    return prices[prices["ticker"].isin(tickers) & prices["date"].between(lo, hi)]


# --------------------------------------------------------------------------------------------- helpers
def _task_inputs(study: EventStudy, mask: EventSet, part: Partition) -> tuple[EventStudy, EventSet]:
    """The study as a task sees it: its own pairs and masking events, no prices, and ``jobs=1`` (a Dask worker may
    not start processes of its own; the cluster is the parallelism)."""
    events = part.events(study.events)
    return _with(study, events=events, mask_events=_restrict(mask, part.tickers), prices=None, jobs=1), events


def _rows(frame: pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    return frame[frame["ticker"].isin(tickers)].reset_index(drop=True)


def _restrict(events: EventSet, tickers: Sequence[str]) -> EventSet:
    frame = events.frame
    return EventSet(frame[frame["ticker"].isin(list(tickers))].reset_index(drop=True))


def _sorted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(["ticker", "date"], ignore_index=True)


def _with(study: EventStudy, **attributes) -> EventStudy:
    """A shallow copy of ``study`` with some attributes replaced (tasks get their events, not the universe)."""
    out = copy.copy(study)
    for name, value in attributes.items():
        setattr(out, name, value)
    return out
