"""In-time placebo (randomization) inference: the study re-run on pseudo-event dates of the same tickers.

:func:`placebo_plan` draws B common shifts of all the study's events to clean pseudo dates (see
:mod:`eventstudy.inference.randomization`: the same pseudo date for every ticker of an event, so the
cross-correlation is intact) and builds the pseudo pairs of every draw as one event set. The pair stage runs on
them like on any pairs (all draws at once, in chunks of at most ``CHUNK_PAIRS`` pseudo pairs), and
:func:`placebo_tests` runs the test battery of the pooled group of every draw and adds to the real test table:

* ``p_placebo``: the empirical two-sided p-value of each statistic among its B placebo values, per group (the
  pooled ``all`` and each event) and window;
* a row ``placebo_caar`` per group and window: the observed CAAR (mean CAR) with its empirical p-value.

A draw counts for a window only when its pseudo windows are clean for that window and every pair studied in the
real run is studied in the draw (enough clean estimation returns at the pseudo date): the null distribution is
always of the same tickers. The placebo values are returned as the ``placebo`` table.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.engine.panel import Windows
from eventstudy.engine.tables import tests_frame
from eventstudy.events.catalog import EventSet
from eventstudy.inference.families import family
from eventstudy.inference.groups import Groups
from eventstudy.inference.randomization import admissible_shifts, draw_shifts, empirical_p

AUTO_DRAWS = 99
AUTO_BUDGET = 20_000  # pseudo pairs the default (placebo_draws=None) allows; beyond it placebo is off
CHUNK_PAIRS = 20_000
OVERSAMPLE = 1.25  # draws run per requested draw, to replace those that lose a ticker
PLACEBO_COLUMNS = ["group", "window", "draw", "shift", "pseudo_day0", "test", "statistic"]


@dataclass
class PlaceboPlan:
    """The pseudo study, its event set (event ids ``<event>@<draw>``) and which draws serve which window."""

    study: object
    events: EventSet
    shifts: np.ndarray  # (R,) sessions moved, per run draw
    dates: np.ndarray  # (R,) pseudo day 0 of the first event, per run draw
    usable: dict  # window -> (R,) bool: the draw is clean for that window
    draws: int  # B requested per window


def placebo_groups(study, labels: np.ndarray, groups: Groups) -> tuple[np.ndarray, Groups]:
    """``(labels, groups)`` of the groups that get a placebo distribution: all of them when ``placebo_draws`` is
    set; by default the pooled group ``all`` (the first) and any group with the same pairs (the event of a
    one-event study)."""
    if study.placebo_draws is not None:
        return labels, groups
    keep = np.flatnonzero(_first_alike(groups) == 0)
    return labels[keep], _take(groups, keep)


def _first_alike(groups: Groups) -> np.ndarray:
    """(G,) for each group the first group with the same pairs (itself when none before it)."""
    weights = np.random.default_rng(0).random((groups.n_pairs, 2))
    keys = np.column_stack([groups.sizes, groups.sum(weights)])  # equal members: bitwise equal sums
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    candidate = first[inverse.ravel()]
    # confirm entry by entry (same sizes, pairs sorted): entry e of group g against its place in the candidate
    g, starts = groups.group, groups.starts
    there = starts[candidate[g]] + np.arange(len(g)) - starts[g]
    differ = np.bincount(g, weights=groups.pair != groups.pair[there], minlength=groups.n_groups) > 0
    return np.where(differ, np.arange(groups.n_groups), candidate)


def _take(groups: Groups, rows: np.ndarray) -> Groups:
    """The groups ``rows`` (increasing) of ``groups``, numbered 0, 1, ... in that order."""
    number = np.full(groups.n_groups, -1)
    number[rows] = np.arange(len(rows))
    use = number[groups.group] >= 0
    return Groups(number[groups.group[use]], groups.pair[use], len(rows), groups.n_pairs)


def draws_for(study, n_pairs: int) -> int:
    """Placebo draws of a study: ``placebo_draws``, or ``AUTO_DRAWS`` within ``AUTO_BUDGET`` pseudo pairs."""
    if study.placebo_draws is not None:
        return int(study.placebo_draws)
    return AUTO_DRAWS if n_pairs * AUTO_DRAWS <= AUTO_BUDGET else 0


def placebo_plan(study, stage) -> PlaceboPlan | None:
    """Draw the shifts and build the pseudo pairs (module docstring); None when no placebo is run."""
    active = stage.active
    draws = draws_for(study, int(active.sum()))
    if draws <= 0 or not active.any():
        return None
    real = study.events.frame.loc[stage.index[active]]
    tickers = list(dict.fromkeys(real["ticker"]))
    grid = np.unique(study.prices.loc[study.prices["ticker"].isin(tickers), "date"].to_numpy(dtype="datetime64[ns]"))
    day0 = stage.pairs["day0"].to_numpy(dtype="datetime64[ns]")[active]
    first_day0 = pd.Series(day0).groupby(real["event_id"].to_numpy(), sort=False).min()
    positions = np.searchsorted(grid, first_day0.to_numpy())
    codes = pd.Index(tickers)
    pair_pos = positions[pd.Index(first_day0.index).get_indexer(real["event_id"])]
    pair_col = codes.get_indexer(real["ticker"])
    masks = _mask_events(study).frame
    marks = pd.concat([masks[["ticker", "date"]], real[["ticker", "date"]]])
    marks = marks[marks["ticker"].isin(tickers)]
    event_marks = (
        np.searchsorted(grid, marks["date"].to_numpy(dtype="datetime64[ns]")),
        codes.get_indexer(marks["ticker"]),
    )
    conf = study.confounders if study.confounders is not None else pd.DataFrame(columns=["ticker", "date"])
    conf = conf[conf["ticker"].isin([*tickers, "*"])]
    conf_marks = (
        np.searchsorted(grid, conf["date"].to_numpy(dtype="datetime64[ns]")),
        codes.get_indexer(conf["ticker"]),
    )
    reach = (study.windows.estimation[0], study.windows.report_span[1])
    lowest = _lowest(study, real, grid)
    allowed = {
        w: admissible_shifts(len(grid), pair_pos, pair_col, event_marks, conf_marks, w, reach, lowest)
        for w in study.windows.events
    }
    order = draw_shifts(np.unique(np.concatenate(list(allowed.values()))), len(grid) * 2, study.seed)
    take = int(np.ceil(draws * OVERSAMPLE)) + 5
    chosen = np.zeros(len(order), dtype=bool)
    for shifts in allowed.values():
        chosen |= np.isin(order, order[np.isin(order, shifts)][:take])
    shifts = order[chosen]
    if len(shifts) == 0:
        return None
    pseudo_pos = pair_pos[None, :] + shifts[:, None]  # (R, pairs)
    frame = pd.concat([real] * len(shifts), ignore_index=True)
    frame["event_id"] = np.repeat([f"@{j}" for j in range(len(shifts))], len(real))
    frame["event_id"] = np.tile(real["event_id"].to_numpy(dtype=object), len(shifts)) + frame["event_id"]
    frame["date"] = grid[pseudo_pos.ravel()]
    frame["time"], frame["timezone"], frame["explicit"] = "", "", False
    pseudo = copy.copy(study)
    pseudo.events = EventSet(frame)
    pseudo.mask_events = _mask_events(study)
    pseudo.volume = None  # the placebo is of the return tests
    return PlaceboPlan(
        study=pseudo,
        events=pseudo.events,
        shifts=shifts,
        dates=grid[positions[0] + shifts],
        usable={w: np.isin(shifts, allowed[w]) for w in study.windows.events},
        draws=draws,
    )


def _lowest(study, real: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Earliest pseudo day-0 position per pair: its ticker has ``min_obs`` sessions of history before the
    estimation window's end, counted from its first price or its listing date (masked days may still fail it)."""
    prices = study.prices[study.prices[["adj_close", "close"]].notna().any(axis=1)]
    first = prices.groupby("ticker")["date"].min()
    listed = pd.Series(study.listed, dtype="datetime64[ns]")
    start = pd.concat([first, listed.reindex(first.index)], axis=1).max(axis=1)
    ticker_pos = np.searchsorted(grid, start.reindex(real["ticker"]).to_numpy(dtype="datetime64[ns]"))
    return ticker_pos + study.min_obs - study.windows.estimation[1] - 1


def _mask_events(study) -> EventSet:
    return study.events if study.mask_events is None else study.mask_events


def chunks(plan: PlaceboPlan) -> list[tuple[int, EventSet]]:
    """``(first draw, pseudo pairs)`` in chunks of whole draws, at most ``CHUNK_PAIRS`` pairs each."""
    frame = plan.events.frame
    per_draw = len(frame) // len(plan.shifts)
    draws = max(1, CHUNK_PAIRS // max(per_draw, 1))
    return [
        (first, EventSet(frame.iloc[first * per_draw : (first + draws) * per_draw]))
        for first in range(0, len(plan.shifts), draws)
    ]


def null_draws(
    study, stage, pseudo, first: int, chosen: tuple[np.ndarray, Groups], plan: PlaceboPlan, taken: dict
) -> pd.DataFrame:
    """Placebo statistics (``group, window, draw, test, statistic``) of one chunk's draws.

    ``pseudo`` is the pair stage of the chunk's pseudo pairs (draws ``first``, ``first + 1``, ...). A draw serves
    a window when it is clean for it and complete (every pair studied in the real run is studied in it), until
    the window has ``plan.draws`` of them (``taken`` counts them across chunks); ``test == "caar"`` is the mean
    CAR. ``chosen`` = (labels, groups) of the real groups (:func:`placebo_groups`); groups with the same members
    as an earlier group are computed once (see :func:`placebo_tests`).
    """
    labels, groups = chosen
    active = stage.active
    per_draw = int(active.sum())
    n_run = len(pseudo.pairs) // per_draw
    draw = np.repeat(np.arange(n_run), per_draw)
    complete = np.bincount(draw, weights=pseudo.active, minlength=n_run) == per_draw
    own = np.flatnonzero(_first_alike(groups) == np.arange(groups.n_groups))
    real = _take(groups, own).subset(active)
    position = np.cumsum(active) - 1  # a studied pair's place within each draw's pseudo pairs
    out, columns = [], ["group", "window", "draw", "test", "statistic"]
    for window in study.windows.events:
        use = np.flatnonzero(complete & plan.usable[window][first : first + n_run])
        use = use[: max(plan.draws - taken.get(window, 0), 0)]
        taken[window] = taken.get(window, 0) + len(use)
        if not len(use):
            continue
        # pseudo group (g, j) = real group g in draw use[j], numbered g * len(use) + j
        number = (real.group[:, None] * len(use) + np.arange(len(use))[None, :]).ravel()
        pair = (use[None, :] * per_draw + position[real.pair][:, None]).ravel()
        sort = np.argsort(number, kind="stable")
        pseudo_groups = Groups(number[sort], pair[sort], len(own) * len(use), len(pseudo.pairs))
        one = Windows(study.windows.estimation, (window,))
        null = tests_frame(pseudo, one, pseudo_groups, np.arange(pseudo_groups.n_groups))
        index = null["group"].to_numpy(dtype=np.int64)
        null["group"], null["draw"] = labels[own][index // len(use)], use[index % len(use)]
        car = pseudo.cars[window]["car"]
        finite = np.isfinite(car)
        mean = pseudo_groups.sum(np.where(finite, car, 0.0)) / np.maximum(pseudo_groups.count(finite), 1)
        caar = {"group": np.repeat(labels[own], len(use)), "window": Windows.label(window)}
        caar |= {"draw": np.tile(use, len(own)), "test": "caar", "statistic": mean}
        out += [pd.DataFrame(caar), null[columns]]
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)
    frame["draw"] = frame["draw"].astype(int) + first
    return frame


def placebo_tests(
    study, stage, plan: PlaceboPlan, tests: pd.DataFrame, chosen: tuple[np.ndarray, Groups], parts: list
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tests`` with ``p_placebo`` and ``placebo_caar`` rows, and the placebo table (module docstring).

    ``chosen`` = (labels, groups) of :func:`placebo_groups`; ``parts`` are the :func:`null_draws` of every chunk.
    """
    labels, groups = chosen
    null = pd.concat(parts, ignore_index=True)
    alike = _first_alike(groups)
    copies = np.flatnonzero(alike != np.arange(groups.n_groups))
    null = pd.concat([null, *(null[null["group"] == labels[alike[g]]].assign(group=labels[g]) for g in copies)])
    null.insert(3, "shift", plan.shifts[null["draw"].to_numpy(dtype=int)])
    null.insert(4, "pseudo_day0", plan.dates[null["draw"].to_numpy(dtype=int)])
    null = null.sort_values(["group", "window", "test", "draw"], kind="stable").reset_index(drop=True)
    return _with_p(study, stage, tests, null, labels, groups), null[PLACEBO_COLUMNS]


def _with_p(study, stage, tests: pd.DataFrame, null: pd.DataFrame, labels: np.ndarray, groups: Groups) -> pd.DataFrame:
    returns = (tests["measure"] == "return").to_numpy() if "measure" in tests else np.ones(len(tests), bool)
    rbar = tests[returns].drop_duplicates(["group", "window"]).set_index(["group", "window"])["rbar"]
    rows = []
    for window in study.windows.events:
        label = Windows.label(window)
        car = stage.cars[window]["car"]
        finite = np.isfinite(car)
        n = groups.count(finite)
        total = groups.sum(np.where(finite, car, 0.0))
        row = {"measure": "return"} if "measure" in tests else {}
        row |= {"group": labels, "window": label, "test": "placebo_caar", "family": family("placebo_caar")}
        row |= {"statistic": np.where(n > 0, total / np.maximum(n, 1), np.nan), "n": n}
        row["rbar"] = rbar.reindex(pd.MultiIndex.from_arrays([labels, np.full(len(labels), label)])).to_numpy()
        rows.append(pd.DataFrame(row))
    rows = pd.concat(rows, ignore_index=True)
    out = pd.concat([tests, rows], ignore_index=True)
    keys = ["group", "window", "test"]
    null_keys = pd.MultiIndex.from_frame(null[keys])
    distinct = null_keys.unique()
    row = distinct.get_indexer(null_keys)
    column = null.groupby(keys, sort=False).cumcount().to_numpy()
    table = np.full((len(distinct) + 1, int(column.max(initial=0)) + 1), np.nan)  # the last row: no placebo
    table[row, column] = null["statistic"].to_numpy(dtype=float)
    tests_of = out["test"].replace({"placebo_caar": "caar"}).to_numpy()
    at = distinct.get_indexer(pd.MultiIndex.from_arrays([out["group"], out["window"], tests_of], names=keys))
    values = table[at]  # -1 (no placebo values) is the last row
    returns = np.r_[returns, np.ones(len(rows), bool)]
    out["p_placebo"] = np.where(returns, empirical_p(out["statistic"].to_numpy(dtype=float), values), np.nan)
    is_caar = (out["test"] == "placebo_caar").to_numpy()
    out.loc[is_caar, "p_value"] = out.loc[is_caar, "p_placebo"]
    return out
