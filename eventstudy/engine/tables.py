"""The tidy tables of a study (``car``, ``parameters``, ``tests``) from its pair stage (``ar``:
:mod:`eventstudy.engine.ar_table`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from eventstudy.engine.contamination import Labels
from eventstudy.engine.group_tests import columns_of, event_columns, group_battery_windows, window_days
from eventstudy.engine.panel import Windows
from eventstudy.engine.rank_tests import (
    PositiveShare,
    generalized_sign_groups,
    positive_share,
    sign_test_groups,
    wilcoxon_test_groups,
)
from eventstudy.engine.rank_walks import corrado_grank_windows
from eventstudy.engine.statistics import (
    TEST_NAMES,
    bmp_t_groups,
    csect_t_groups,
    kp_bmp_t_groups,
    patell_z_groups,
    portfolio_sd,
    time_series_t_groups,
)
from eventstudy.engine.volatility import volatility_tests
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.correlation import correlations_of_windows
from eventstudy.inference.daily import aar_sd
from eventstudy.inference.families import family
from eventstudy.inference.groups import GroupResult, Groups
from eventstudy.inference.moments import DaySums, group_day_sums
from eventstudy.inference.result import NA
from eventstudy.inference.row_positions import RowPositions
from eventstudy.inference.threads import in_background

TESTS_COLUMNS = ["group", "window", "test", "family", "statistic", "p_value", "n", "rbar"]


def car_frame(stage) -> pd.DataFrame:
    """One row per studied pair and event window (rows window by window, the pairs in order in each): one frame
    built from whole columns."""
    idx = np.flatnonzero(stage.active)
    rows = slice(None) if len(idx) == len(stage.active) else idx  # every pair studied: views, no gather
    windows = list(stage.cars)
    columns = {name: _repeated(stage.pairs[name].array[rows], len(windows)) for name in ("event_id", "ticker")}
    labels = np.array([Windows.label(window) for window in windows], dtype=object)
    columns["window"] = text_column(labels, np.repeat(np.arange(len(windows)), len(idx)))
    for col in ("car", "car_se", "car_t", "car_p", "bhar", "n_days"):
        columns[col] = np.concatenate([stage.cars[window][col][rows] for window in windows])  # fresh arrays
    contaminated = Labels.concat([stage.contamination[window][rows] for window in windows])
    columns["contaminated"] = text_column(contaminated.table, contaminated.codes)
    columns["complete"] = np.concatenate([stage.cars[window]["complete"][rows] for window in windows])
    return pd.DataFrame(columns, copy=False)  # fresh columns: no consolidating copy (4M rows at 1M pairs: 0.8 -> 0.3 s)


def _repeated(values: pd.api.extensions.ExtensionArray, times: int) -> pd.api.extensions.ExtensionArray:
    """``values`` ``times`` times over: an Arrow text column's chunks repeated (the same buffers, no copy), any other
    column taken."""
    if isinstance(values, pd.arrays.ArrowStringArray):
        text = pa.array(values)
        chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
        return pd.array(pa.chunked_array(chunks * times, type=text.type), dtype=values.dtype)
    return values.take(np.tile(np.arange(len(values)), times))


def parameter_frame(stage) -> pd.DataFrame:
    """One row per pair, studied or not (with its status and reason): one frame built from whole columns, the
    estimates NaN for the pairs not studied."""
    pairs, k, inactive = stage.pairs, stage.params.shape[1], ~stage.active
    unstudied = np.full(len(pairs), np.nan)

    def estimate(values) -> np.ndarray:  # a fresh float array, NaN where the pair was not studied
        return np.where(inactive, unstudied, values)

    columns = {name: _text(pairs[name]) for name in ("event_id", "ticker")}
    columns |= {"model": stage.model, "status": _text(pairs["status"]), "reason": _text(pairs["reason"])}
    columns |= {"n_obs": stage.n_obs, "alpha": estimate(stage.params[:, 0] if k >= 1 else np.nan)}
    columns |= {"beta": estimate(stage.params[:, 1] if k >= 2 else np.nan), "sigma": estimate(stage.sigma)}
    columns |= {"r2": estimate(stage.r2), "estimation_start": pd.to_datetime(stage.estimation_start)}
    columns |= {"estimation_end": pd.to_datetime(stage.estimation_end), "day0_date": pairs["day0"].to_numpy()}
    columns |= {"masked_days": pairs["masked_days"].to_numpy(), "venue": _text(pairs["venue"])}
    for j, name in enumerate(stage.regressor_names[1:], start=2):
        if j < k:
            columns[f"beta_{name}"] = stage.params[:, j]
    for name, values in stage.extra.items():
        columns[name] = estimate(values) if values.dtype.kind == "f" else values
    return pd.DataFrame(columns)


def _text(column: pd.Series) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A text column of the stage's pairs as a table column: pandas' ``str`` array itself (no Python string per row:
    0.4 s for three columns of 1M pairs), else its values (the frame infers their type as before)."""
    return column.array if isinstance(column.dtype, pd.StringDtype) else column.to_numpy()


def tests_frame(
    stage,
    windows: Windows,
    groups: Groups,
    labels: np.ndarray,
    clock=None,
    bootstrap: tuple[int, int] = (0, 0),
    estimation: DaySums | Callable[[], DaySums] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """The test battery of every group (``labels`` (G,) name the rows' ``group``) and event window.

    Rows in the order (window, group, test). A group's pairs are its members with a finite CAR in the window.
    ``bootstrap`` = (draws, seed) of the wild bootstrap of the CAAR (draws 0: off, its rows n/a).
    ``estimation``: :func:`estimation_sums` of ``stage`` and ``groups`` (the AAR frame's), or a call that computes
    them (then called once the group tests have started on their thread, so the two run at once): the
    windows whose members are ``groups`` (no pair lacks a CAR, the usual case) take their ``portfolio_sd`` from its
    AAR, and every window the pairs' positive shares from its counts, rather than reading the estimation ARs again.
    ``meanwhile``: work that needs no test (the study's other tables), called once on this thread after rbar, while
    the rank walk and the group tests end on theirs (at 1M pairs the walk's last second left a core idle).

    ``clock`` (a :class:`~eventstudy.engine.stages.Stopwatch`) gets the phases "tests" (the main thread's work:
    the shared estimation arrays, rbar and kp_bmp_t) and "rank tests" (starting the other tests' thread and, after
    rbar, waiting for its tests and the group tests: :func:`_other_windows`, :func:`group_battery_windows`).
    """
    lap = clock.lap if clock is not None else (lambda phase: None)
    members = [groups.subset(np.isfinite(stage.cars[window]["car"])) for window in windows.events]
    # every day's date as an int position on the sorted session dates: each pair's row a window onto one table of
    # the grid's (no (P, D) datetime or positions array)
    grid, positions = stage.grid.calendar_rows(stage.cells, len(stage.days))
    # the group tests, the rank walk and the other tests each on a thread of their own (in_background) while the
    # estimation sums and rbar are computed here: their kernels and batched algebra release the GIL for most of
    # their time, so on two cores they fill the time this thread's serial steps leave
    group = in_background(group_battery_windows, stage, windows.events, members, bootstrap, (grid, positions))
    est_days, est_rows, clean = estimation_rows(stage, windows)
    ranks = in_background(_rank_windows, stage, windows.events, est_rows, clean, members)  # the longest walk: first
    if callable(estimation):
        estimation = estimation()
    lap("tests")

    def window_sd(window_groups: Groups) -> tuple[np.ndarray, np.ndarray]:
        if estimation is not None and _same_groups(window_groups, groups):
            return aar_sd(estimation.mean)  # = portfolio_sd(est_rows, groups, clean)
        return portfolio_sd(est_rows, window_groups, clean)

    est = Estimation(
        est_rows,
        shared_by_windows(members, window_sd),
        positions.columns(est_days),  # the same table
        stage.sigma,
        clean,
        positive_share(est_rows, clean)  # the members' pairs are the groups': counted in the same pass
        if estimation is None
        else PositiveShare.of_counts(estimation.positive, estimation.finite),
        (grid, positions),
    )
    others = in_background(_other_windows, stage, windows.events, est, members, ranks)
    lap("rank tests")
    # rbar of every window at once: the rows' patterns, packing and shared pairs of window classes done once
    rbars = correlations_of_windows(
        est.rows,
        est.positions,
        [est.calendar[1].columns(columns_of(window_days(stage, w))) for w in windows.events],
        members,
        valid=est.clean,
    )
    lap("tests")
    kp = [kp_bmp_t_groups(stage.csar[window], rbars[w], members[w]) for w, window in enumerate(windows.events)]
    if meanwhile is not None:
        meanwhile()  # (its own laps)
    batteries = [{**o, "kp_bmp_t": k} for o, k in zip(others.result(), kp, strict=True)]
    batteries = [{name: b[name] for name in TEST_NAMES} | g for b, g in zip(batteries, group.result(), strict=True)]
    lap("rank tests")
    return battery_frame(labels, windows.events, batteries, rbars)


def estimation_rows(stage, windows: Windows) -> tuple[slice, ArRows, np.ndarray]:
    """``(days, rows, clean)``: the estimation window's days (a slice of the stage's), the stage's ARs of them (rows
    stored or regenerated: no copy) and where they are clean (a view of ``stage.estimation``)."""
    days = slice(*np.searchsorted(stage.days, [windows.estimation[0], windows.estimation[1] + 1]))  # contiguous
    return days, stage.estimation_ar.window(days.start, days.stop), stage.estimation[:, days]


def estimation_sums(stage, windows: Windows, groups: Groups) -> DaySums:
    """:func:`~eventstudy.inference.moments.group_day_sums` of the estimation days' clean ARs
    (:func:`estimation_rows`): each group's AAR (G, L1) and each pair's numbers of finite and of positive ARs (0 for
    a pair in no group)."""
    _, rows, clean = estimation_rows(stage, windows)
    return group_day_sums(rows, groups, clean)


class Estimation(NamedTuple):
    """The arrays every window's battery shares: the estimation days' ARs (the stage's rows, stored or regenerated
    from the session grid, valid only where ``clean`` holds: every consumer takes the mask), the sigma_i of their SARs
    AR_it / sigma_i (never stored: GRANK divides as it ranks) and the calendar positions of every day's date (int16
    or int32, -1 where a day has no session; each pair's row a window onto one table:
    :meth:`~eventstudy.engine.grid.SessionGrid.calendar_rows`)."""

    rows: ArRows  # (P, L1) the ARs of the estimation days, rows read by the compiled kernels
    portfolio_sd: list[tuple[np.ndarray, np.ndarray]]  # per window: its groups' ``portfolio_sd`` of ``rows``
    positions: RowPositions  # (P, L1) calendar positions of the estimation days (on ``calendar``'s table)
    sigma: np.ndarray  # (P,) the estimation days' SARs are ``rows / sigma`` (C = 1) ...
    clean: np.ndarray  # (P, L1) ... both valid where this is true (the clean estimation days: a view)
    positive: PositiveShare  # each pair's share of positive estimation ARs (the generalized sign test)
    calendar: tuple[np.ndarray, RowPositions]  # the session dates and the (P, D) positions of the stage's days


def shared_by_windows(members: list[Groups], compute: Callable[[Groups], object]) -> list:
    """``compute(members[w])`` for every window, once per distinct membership: windows whose groups hold the same
    pairs (no pair of them lacks a CAR in one window only, the usual case) share one result."""
    out: list = []
    for w, groups in enumerate(members):
        same = [v for v in range(w) if _same_groups(members[v], groups)]
        out.append(out[same[0]] if same else compute(groups))
    return out


def _same_groups(a: Groups, b: Groups) -> bool:
    return a.n_groups == b.n_groups and np.array_equal(a.group, b.group) and np.array_equal(a.pair, b.pair)


def _other_windows(
    stage, windows: list, est: Estimation, members: list[Groups], ranks: Future
) -> list[dict[str, GroupResult]]:
    """Every test of every window's groups but kp_bmp_t (which needs rbar) and the group tests, run beside rbar:
    the other tests of each window (:func:`_window_battery`), then Corrado's and GRANK's (``ranks``: the
    :func:`_rank_windows` started before the estimation sums), so that no test waits for rbar to end before it
    starts."""
    batteries = [
        _window_battery(stage, w, window, est, window_members)
        for w, (window, window_members) in enumerate(zip(windows, members, strict=True))
    ]
    return [battery | rank for battery, rank in zip(batteries, ranks.result(), strict=True)]


def _rank_windows(
    stage, windows: list, rows: ArRows, clean: np.ndarray, members: list[Groups]
) -> list[dict[str, GroupResult]]:
    """Corrado and GRANK of every window's groups (:func:`~eventstudy.engine.rank_walks.corrado_grank_windows`): the
    estimation ARs ``rows`` (valid where ``clean``) read, ranked and walked a block of pairs at a time, GRANK's walk
    on a thread of its own (the estimation-day SARs are AR / sigma_i, C = 1, for every model, GARCH included: divided
    as the kernels read them, ranked in the ARs' order where it sorts them)."""
    columns = [np.flatnonzero(window_days(stage, window)) - stage.event_start for window in windows]  # after L1
    csars = [stage.csar[window] for window in windows]
    corrado, grank = corrado_grank_windows(rows, clean, stage.sigma, stage.event_ar, columns, csars, members)
    return [{"corrado_rank": c, "grank": g} for c, g in zip(corrado, grank, strict=True)]


def _window_battery(stage, w: int, window, est: Estimation, members: Groups) -> dict[str, GroupResult]:
    """The tests of every group over event window ``w`` (``window``) that need neither rbar, nor the ranks, nor
    the group tests' calendar: the parametric tests, sign, generalized sign and Wilcoxon."""
    ar_win = stage.event_ar[:, event_columns(stage, window_days(stage, window))]  # a view: consecutive days
    car, csar = stage.cars[window]["car"], stage.csar[window]
    return {
        "csect_t": csect_t_groups(car, members),
        "time_series_t": time_series_t_groups(est.rows, ar_win, members, est.portfolio_sd[w], est.clean),
        "patell_z": patell_z_groups(csar, stage.dof, members),
        "bmp_t": bmp_t_groups(csar, members),
        "sign": sign_test_groups(car, members),
        "generalized_sign": generalized_sign_groups(car, est.positive, members),
        "wilcoxon": wilcoxon_test_groups(car, members),
    }


def volatility_frame(stage, windows: Windows, groups: Groups, labels: np.ndarray) -> pd.DataFrame:
    """Both volatility tests (:mod:`eventstudy.engine.volatility`) of every group and event window (rbar NaN).

    The windows are computed two at a time on threads (their numpy and scipy.special loops release the GIL; each
    window's numbers are computed as on one thread)."""

    def tests(window) -> dict[str, GroupResult]:
        members = groups.subset(np.isfinite(stage.cars[window]["car"]))
        return volatility_tests(stage, window_days(stage, window), window, members)

    with ThreadPoolExecutor(2, thread_name_prefix="eventstudy-volatility") as pool:
        batteries = list(pool.map(tests, windows.events))
    return battery_frame(labels, windows.events, batteries, [np.full(groups.n_groups, NA)] * len(batteries))


def battery_frame(
    labels: np.ndarray, windows: list, batteries: list[dict[str, GroupResult]], rbars: list[np.ndarray]
) -> pd.DataFrame:
    """The rows (``TESTS_COLUMNS``) of the tests ``batteries[w]`` (the same tests in each) of the event windows
    ``windows[w]``, with each group's ``rbars[w]`` (G,): ordered by window, group, then test in the batteries'
    order. One frame built from whole columns (the text columns gathered by :func:`text_column`)."""
    names = list(batteries[0])
    n_windows, n_groups, n_tests = len(windows), len(labels), len(names)
    cells = n_groups * n_tests

    def column(field: str) -> np.ndarray:  # (W, G, T) -> rows in (window, group, test) order
        return np.stack([np.column_stack([getattr(b[name], field) for name in names]) for b in batteries]).ravel()

    test_codes = np.tile(np.arange(n_tests), n_windows * n_groups)
    return pd.DataFrame(
        {
            "group": text_column(
                np.asarray(labels, dtype=object), np.tile(np.repeat(np.arange(n_groups), n_tests), n_windows)
            ),
            "window": text_column(
                np.array([Windows.label(w) for w in windows], dtype=object), np.repeat(np.arange(n_windows), cells)
            ),
            "test": text_column(np.array(names, dtype=object), test_codes),
            "family": text_column(np.array([family(name) for name in names], dtype=object), test_codes),
            "statistic": column("statistic"),
            "p_value": column("p_value"),
            "n": column("n"),
            "rbar": np.concatenate([np.repeat(np.asarray(rbar, dtype=float), n_tests) for rbar in rbars]),
        },
        columns=TESTS_COLUMNS,
    )


def text_column(labels: np.ndarray | pa.Array, codes: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """``labels[codes]`` as a table column. Text labels (Python strings or an Arrow text array) give pandas' ``str``
    column (the dtype a frame infers from Python strings) gathered by pyarrow from the distinct labels, without a
    Python object per row (pandas' inference from an object array costs ~35 ns a row); other labels (the
    placebo's group numbers) are gathered as they are."""
    if isinstance(labels, pa.Array) and len(codes):
        return pd.array(labels.take(pa.array(codes)), dtype="str")
    labels = np.asarray(labels)
    if not len(codes) or labels.dtype != object or not all(isinstance(label, str) for label in labels):
        return labels[codes]
    return text_column(pa.array(labels, type=pa.large_string()), codes)
