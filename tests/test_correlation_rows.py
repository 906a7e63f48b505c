"""rbar reads the estimation ARs as rows (:class:`~eventstudy.inference.ar_rows.ArRows`): the patterns, the packed
rows and every path of the pair sums give, on rows stored, regenerated from the session grid and NaN, the bits they
give the plain (P, L1) array of the same values, serially and in parallel chunks."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import test_estimation_rows as shared

from eventstudy.engine import stage_arrays
from eventstudy.engine.group_tests import columns_of, window_days
from eventstudy.inference import correlation as cr
from eventstudy.inference import correlation_packing as ck
from eventstudy.inference import threads
from eventstudy.inference.ar_rows import ArRows
from eventstudy.inference.rows import factorize_hashed

# the stage of stored, regenerated and NaN rows, its mixed rows beside the plain array, and its groups
study_stage, rows, groups, _same_bits = shared.study_stage, shared.rows, shared.groups, shared._same_bits


@pytest.fixture(scope="module")
def calendar(study_stage):
    """The estimation days' calendar positions, each event window's and ``valid`` masks: the stage's clean days, and
    those with scattered days dropped (rows whose available dates are not a run: hashed patterns)."""
    study, stage = study_stage
    _, positions = stage.grid.calendar_rows(stage.cells, len(stage.days))
    start = stage.event_start
    windows = [positions.columns(columns_of(window_days(stage, w))) for w in study.windows.events]
    clean = stage.estimation[:, :start]
    scattered = clean & (np.random.default_rng(4).random(clean.shape) > 0.1)
    return positions.columns(slice(0, start)), windows, clean, scattered


@pytest.mark.parametrize("parallel", [False, True])
def test_patterns_and_packed_rows_of_rows_are_those_of_the_array(rows, calendar, monkeypatch, parallel):
    mixed, plain = rows
    positions, _, clean, scattered = calendar
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    used = np.arange(len(plain))
    renumber = ck.renumbering(positions, used)
    kinds = mixed.slot[used]
    assert (kinds >= 0).any() and (kinds == -1).any() and (kinds == -2).any()  # stored, NaN and regenerated rows
    for valid in (None, clean, scattered):
        for got, want in zip(
            ck.patterns(mixed, positions, renumber, used, valid),
            ck.patterns(plain, positions, renumber, used, valid),
            strict=True,
        ):
            _same_bits(got, want)
        pick = np.r_[used[::-1], used[:7]]  # every row, some twice, out of order
        packed = ck.compress(mixed, positions, renumber, pick, valid)
        for got, want in zip(packed, ck.compress(plain, positions, renumber, pick, valid), strict=True):
            _same_bits(got, want)
        assert (packed[2][mixed.slot[pick] == -1] == 0).all() and (packed[2] > 0).any()
    codes = ck.patterns(mixed, positions, renumber, used, scattered)[0]
    assert len(np.unique(codes)) > 10  # scattered days: rows hashed, not keyed as runs


def test_pattern_check_reads_rows_as_the_array(rows, calendar):
    """Every hash colliding: the exact check of each row against its code's first row (read through ``ar_row``)
    partitions the rows as the array's does."""
    mixed, plain = rows
    positions, _, clean, scattered = calendar
    used = np.arange(len(plain))
    renumber = ck.renumbering(positions, used)
    table, offset = positions.table, positions.offset

    def partition(values, valid):
        src = values.source()
        check = lambda c, f: ck._differs(src, table, offset, renumber, used, c, f, None, valid)  # noqa: E731
        return factorize_hashed(np.zeros(len(used), np.uint64), check)[0]

    for valid in (clean, scattered):
        got, want = partition(mixed, valid), partition(ArRows.of(plain), valid)
        assert np.array_equal(got, want) and len(np.unique(got)) > 2


@pytest.mark.parametrize("path", ["cells", "kernel", "blas", "runs"])
def test_rbar_of_rows_is_that_of_the_array(rows, groups, calendar, monkeypatch, path):
    """Every path of the pair sums (per-cell sums, the pairwise kernel, the masked matrix products, many runs of
    packed rows), in parallel chunks: rbar of every group and window is the array's, bit for bit."""
    mixed, plain = rows
    positions, windows, clean, scattered = calendar
    monkeypatch.setattr(threads, "PARALLEL_WORK", 0)
    monkeypatch.setattr(cr, "CELL_MIN_PAIRS", 1 if path == "blas" else 20_000)
    if path == "runs":
        monkeypatch.setattr(cr, "ROWS_PER_BATCH", 12)
    valid = scattered if path in ("kernel", "blas") else clean
    if path == "blas":  # rows that skip every other date: spans too wide for the kernel's dense layout
        dense = positions.dense()
        stretched = (np.arange(len(dense)) % 5 == 0)[:, None] & (dense >= 0)
        positions = np.where(stretched, dense[:, :1] + 2 * np.arange(dense.shape[1]), dense).astype(dense.dtype)
    members = [groups] * len(windows)
    spies = {name: mock.Mock(wraps=getattr(cr, name)) for name in ("_cell_sums", "_kernel_sum", "_moment_sum")}
    for name, spy in spies.items():
        monkeypatch.setattr(cr, name, spy)
    got = cr.correlations_of_windows(mixed, positions, windows, members, valid=valid)
    want = cr.correlations_of_windows(plain, positions, windows, members, valid=valid)
    for a, b in zip(got, want, strict=True):
        _same_bits(a, b)
    assert all((np.abs(a) > 1e-6).sum() > 3 for a in got)
    items = {  # the pairs listed in each call (cell pairs, class pairs)
        name: sum(len(call.args[at]) for call in spies[name].call_args_list)
        for name, at in (("_cell_sums", 3), ("_kernel_sum", 5))
    }
    items["_moment_sum"] = spies["_moment_sum"].call_count  # one call a pair of classes
    name = {"cells": "_cell_sums", "runs": "_cell_sums", "kernel": "_kernel_sum", "blas": "_moment_sum"}[path]
    assert items[name] > 0, items
    if path == "runs":
        assert spies["_cell_sums"].call_count > 2 * len(windows)


def test_rbar_reads_the_stages_rows_without_materialising_them(study_stage, rows, groups, calendar, monkeypatch):
    """On the stage's own ``estimation_ar`` (rows regenerated or stored), with ``stage.ar`` and dense copies of the
    rows refused: the array's rbar, bit for bit."""
    _, stage = study_stage
    positions, windows, clean, _ = calendar
    members = [groups] * len(windows)
    want = cr.correlations_of_windows(rows[1], positions, windows, members, valid=clean)

    def refuse(*args):
        raise AssertionError("materialised")

    monkeypatch.setattr(stage_arrays.PairStage, "ar", property(refuse))
    monkeypatch.setattr(ArRows, "take", refuse)
    assert stage.estimation_ar.regenerated > 0
    got = cr.correlations_of_windows(stage.estimation_ar, positions, windows, members, valid=clean)
    for a, b in zip(got, want, strict=True):
        _same_bits(a, b)
