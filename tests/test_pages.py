"""Pages mapped ahead of use (eventstudy.engine.pages): contents untouched, writes made meanwhile kept."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from eventstudy.engine import pages

MB = 1 << 20


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _supported() -> bool:
    return pages.populate([np.empty(MB)])


needs_populate = pytest.mark.skipif(not _supported(), reason="no MADV_POPULATE_WRITE here (Linux 5.14+, glibc)")


@needs_populate
def test_populated_pages_are_mapped_and_a_write_faults_no_more():
    fresh = np.empty(64 * MB // 8)
    assert pages.populate([fresh])
    before = _minor_faults()
    fresh[:] = 1.0  # 16,384 pages: one fault each had they not been mapped
    assert _minor_faults() - before < 100


@needs_populate
def test_populating_leaves_the_values_as_they_are():
    values = np.random.default_rng(0).normal(size=(4_000, 1_000))
    copy = values.copy()
    assert pages.populate([values, np.empty(3 * MB, dtype=np.uint8)])
    np.testing.assert_array_equal(values, copy)


@needs_populate
def test_writes_made_while_the_pages_are_mapped_are_kept():
    """The chunks write the arrays while the thread maps them: a mapping that wrote (zeros, say) would lose some."""
    arrays = [np.empty(48 * MB // 8) for _ in range(3)]
    thread = pages.populate_in_background(arrays)
    for k, array in enumerate(arrays):
        for lo in range(0, len(array), MB // 8):
            array[lo : lo + MB // 8] = k + 1.0
    thread.join()
    for k, array in enumerate(arrays):
        assert (array == k + 1.0).all()


def test_without_the_system_call_nothing_is_done(monkeypatch):
    class NoMadvise:
        def madvise(self, *args) -> int:
            return -1  # EINVAL: a kernel before 5.14

    monkeypatch.setattr(pages, "_LIBC", NoMadvise())
    values = np.arange(MB, dtype=np.float64)
    assert not pages.populate([values])
    np.testing.assert_array_equal(values, np.arange(MB, dtype=np.float64))
    monkeypatch.setattr(pages, "_LIBC", None)
    assert not pages.populate([values])
