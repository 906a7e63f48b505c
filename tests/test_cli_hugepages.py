"""The command line turns numpy's huge-page advice, and huge pages for the process (Arrow's allocator advises them
too), off where Linux would stall on compaction for them; ``EventStudy.fit`` turns numpy's advice off while it runs
and restores it."""

from __future__ import annotations

import ctypes
import threading

import pandas as pd
import pytest
from numpy._core.multiarray import _set_madvise_hugepage

import eventstudy.engine.study as study_module
import eventstudy.hugepages as hugepages
from eventstudy import EventStudy
from eventstudy.cli import PR_SET_THP_DISABLE, avoid_hugepage_stalls
from eventstudy.hugepages import numpy_advice_off
from eventstudy.simulate import simulate_study

PR_GET_THP_DISABLE = 42
LIBC = ctypes.CDLL(None)


def _thp_disabled() -> bool:
    return LIBC.prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1


@pytest.fixture
def advice():
    """numpy's huge-page advice and the process's THP, on at the start of a test and restored after it; the callable
    reports the state the code left as (numpy advises, THP allowed) and sets both back on."""
    before, disabled = _set_madvise_hugepage(True), _thp_disabled()
    LIBC.prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0)

    def state() -> tuple[bool, bool]:
        allowed = not _thp_disabled()
        LIBC.prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0)
        return _set_madvise_hugepage(True), allowed

    yield state
    _set_madvise_hugepage(before)
    LIBC.prctl(PR_SET_THP_DISABLE, int(disabled), 0, 0, 0)


@pytest.mark.parametrize(
    ("setting", "off"),
    [
        ("always defer defer+madvise [madvise] never", True),
        ("[always] defer defer+madvise madvise never", True),
        ("always defer [defer+madvise] madvise never", False),
        ("always [defer] defer+madvise madvise never", False),
        ("always defer defer+madvise madvise [never]", False),
    ],
)
def test_advice_is_off_only_where_faults_compact_synchronously(tmp_path, monkeypatch, advice, setting, off):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    monkeypatch.delenv("MIMALLOC_ALLOW_THP", raising=False)
    defrag = tmp_path / "defrag"
    defrag.write_text(setting + "\n")
    assert avoid_hugepage_stalls(defrag) is off
    assert advice() == (not off, not off)


@pytest.mark.parametrize("variable", ["NUMPY_MADVISE_HUGEPAGE", "MIMALLOC_ALLOW_THP"])
def test_the_users_setting_and_hosts_without_the_file_are_left_alone(tmp_path, monkeypatch, advice, variable):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    monkeypatch.delenv("MIMALLOC_ALLOW_THP", raising=False)
    defrag = tmp_path / "defrag"
    defrag.write_text("always defer defer+madvise [madvise] never\n")
    monkeypatch.setenv(variable, "1")
    assert avoid_hugepage_stalls(defrag) is False and advice() == (True, True)
    monkeypatch.delenv(variable)
    assert avoid_hugepage_stalls(tmp_path / "absent") is False and advice() == (True, True)


def _defrag(tmp_path, setting: str = "always defer defer+madvise [madvise] never"):
    defrag = tmp_path / "defrag"
    defrag.write_text(setting + "\n")
    return defrag


def test_the_scoped_switch_is_off_inside_and_restored_after_even_on_error(tmp_path, monkeypatch, advice):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    monkeypatch.delenv("MIMALLOC_ALLOW_THP", raising=False)
    with numpy_advice_off(_defrag(tmp_path)):
        assert _set_madvise_hugepage(False) is False  # off inside (reading it sets it to what it was)
    assert _set_madvise_hugepage(True) is True  # restored to on
    with pytest.raises(RuntimeError), numpy_advice_off(_defrag(tmp_path)):
        raise RuntimeError("a failing study")
    assert _set_madvise_hugepage(True) is True
    _set_madvise_hugepage(False)  # a caller who had it off keeps it off
    with numpy_advice_off(_defrag(tmp_path)):
        pass
    assert _set_madvise_hugepage(True) is False
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")  # the user's choice: untouched
    with numpy_advice_off(_defrag(tmp_path)):
        assert _set_madvise_hugepage(True) is True
    with numpy_advice_off(_defrag(tmp_path, "always defer defer+madvise madvise [never]")):
        assert _set_madvise_hugepage(True) is True


def test_fit_runs_without_the_advice_and_restores_it(monkeypatch, advice):
    monkeypatch.setattr(hugepages, "stalls", lambda defrag: True)  # as on a host that stalls
    seen = []
    real_finish = study_module.finish

    def finish(*args, **kwargs):
        seen.append(_set_madvise_hugepage(False))  # the advice while the study runs (False: off)
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(study_module, "finish", finish)
    sim = simulate_study(effect=0.02, n_events=2, n_firms=5, n_days=400, day0=350, seed=3)
    reference = EventStudy(sim.events, sim.prices, market="MKT", calendar="data").fit()
    assert seen == [False] and _set_madvise_hugepage(True) is True
    monkeypatch.setattr(hugepages, "stalls", lambda defrag: False)
    again = EventStudy(sim.events, sim.prices, market="MKT", calendar="data").fit()
    assert seen == [False, True]
    pd.testing.assert_frame_equal(again.car, reference.car)


def test_overlapping_blocks_in_threads_restore_the_advice_when_the_last_ends(tmp_path, monkeypatch, advice):
    """Two fits (or a Dask worker's two tasks) on threads: the one that ends first must not turn the advice back on
    under the other, and the last one to end restores it."""
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    monkeypatch.delenv("MIMALLOC_ALLOW_THP", raising=False)
    defrag = _defrag(tmp_path)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with numpy_advice_off(defrag):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with numpy_advice_off(defrag):
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = _set_madvise_hugepage(False)  # reading it; False: still off

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"b after a left": False}
    assert _set_madvise_hugepage(True) is True  # restored once both ended
