"""A table source's slices are built one ahead on a thread of their own while the writer encodes the one before
(:func:`eventstudy.io.read_ahead`): the same items in order, never more than one ahead, an error raised where its item
would be, and nothing more built once the writer stops; the tables are written longest first."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import eventstudy.io as eio
import eventstudy.results as results_module
from eventstudy import EventStudy
from eventstudy.io import read_ahead
from eventstudy.results import TABLES
from eventstudy.simulate import simulate_study


def _counted(n: int, log: list, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise OSError(f"item {i}")
        log.append((i, threading.current_thread().name))
        yield i


def test_items_come_in_order_each_built_on_another_thread_one_ahead():
    log: list = []
    seen = []
    for item in read_ahead(_counted(6, log)):
        # while the caller holds item k, items up to k + 1 have been asked for and no further
        assert len(log) <= item + 2
        seen.append(item)
    assert seen == list(range(6))
    assert all(name != threading.current_thread().name for _, name in log)
    assert {name for _, name in log} == {log[0][1]}  # one thread builds them all, in order


def test_the_next_item_is_built_while_the_caller_works_on_the_current_one():
    started, release = threading.Event(), threading.Event()

    def items():
        yield 0
        started.set()  # the next item is under way ...
        release.wait(5)
        yield 1

    ahead = read_ahead(items())
    assert next(ahead) == 0
    assert started.wait(5)  # ... before the caller asks for it
    release.set()
    assert list(ahead) == [1]


def test_an_error_is_raised_where_its_item_would_be():
    log: list = []
    seen = []
    with pytest.raises(OSError, match="item 3"):
        for item in read_ahead(_counted(6, log, fail_at=3)):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_early_leaves_nothing_running():
    log: list = []
    ahead = read_ahead(_counted(10, log))
    assert next(ahead) == 0
    ahead.close()  # waits for the item under way, asks for none after it
    assert [i for i, _ in log] in ([0], [0, 1])
    assert not [t for t in threading.enumerate() if t.name.startswith("eventstudy-read-ahead")]


class _Source:
    """A table source that records the thread each slice is built on."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.whole, self.threads = frame, []

    def frame(self) -> pd.DataFrame:
        return self.whole

    def slices(self, rows: int):
        for start in range(0, len(self.whole), rows):
            self.threads.append(threading.current_thread().name)
            yield self.whole.iloc[start : start + rows]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_source_is_written_from_slices_built_ahead_with_the_whole_frames_bytes(fmt, tmp_path, monkeypatch):
    monkeypatch.setattr(eio, "ROW_GROUP_ROWS", 7)
    frame = pd.DataFrame(
        {
            "event_id": pd.array([f"e{i % 5}" for i in range(40)], dtype="str"),
            "day": np.arange(40) - 20,
            "ar": np.where(np.arange(40) % 6 == 0, np.nan, np.linspace(-1, 1, 40)),
        }
    )
    source = _Source(frame)
    written = eio.write_table(source, tmp_path / "t", fmt).read_bytes()
    assert len(source.threads) == 6 and all(name.startswith("eventstudy-read-ahead") for name in source.threads)
    assert written == eio.table_bytes(frame, fmt)  # row groups of 7 rows either way


class _InOrder:
    """A thread pool that runs the calls one after another, in the order given."""

    def __init__(self, workers: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def map(self, call, items):
        return [call(item) for item in items]


def test_the_tables_are_written_longest_first(tmp_path, monkeypatch):
    sim = simulate_study(n_events=4, n_firms=3, effect=0.01, rho=0.2, same_date=False, seed=3)
    results = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=0).fit()
    started = []
    monkeypatch.setattr(results_module, "ThreadPoolExecutor", _InOrder)
    monkeypatch.setattr(results_module, "write_table", lambda table, stem, fmt: started.append((stem.name, len(table))))
    results.write_tables(tmp_path, "parquet")
    rows = [n for _, n in started]
    assert rows == sorted(rows, reverse=True) and len(started) == len(TABLES)
    ties = [name for name, n in started if n == len(results.parameters)]  # equal lengths keep the tables' order
    assert ties == [name for name in TABLES if name in ties]
