"""The command line turns numpy's huge-page advice off where Linux would stall on compaction for it."""

from __future__ import annotations

import pytest
from numpy._core.multiarray import _set_madvise_hugepage

from eventstudy.cli import avoid_hugepage_stalls


@pytest.fixture
def advice():
    """numpy's huge-page advice, on at the start of a test and restored after it."""
    before = _set_madvise_hugepage(True)
    yield lambda: _set_madvise_hugepage(True)  # the state the code left, reported (and set back on)
    _set_madvise_hugepage(before)


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
    defrag = tmp_path / "defrag"
    defrag.write_text(setting + "\n")
    assert avoid_hugepage_stalls(defrag) is off
    assert advice() is (not off)


def test_the_users_setting_and_hosts_without_the_file_are_left_alone(tmp_path, monkeypatch, advice):
    defrag = tmp_path / "defrag"
    defrag.write_text("always defer defer+madvise [madvise] never\n")
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    assert avoid_hugepage_stalls(defrag) is False and advice() is True
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
    assert avoid_hugepage_stalls(tmp_path / "absent") is False and advice() is True
