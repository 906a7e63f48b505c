"""The command line turns numpy's huge-page advice, and huge pages for the process (Arrow's allocator advises them
too), off where Linux would stall on compaction for them."""

from __future__ import annotations

import ctypes

import pytest
from numpy._core.multiarray import _set_madvise_hugepage

from eventstudy.cli import PR_SET_THP_DISABLE, avoid_hugepage_stalls

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
