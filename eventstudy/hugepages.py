"""numpy's transparent-huge-page advice, turned off where Linux stalls on it.

numpy advises transparent huge pages (``madvise``) for every large array. Where the kernel's THP ``defrag`` setting
is ``always`` or ``madvise``, the first touch of such an array waits for memory compaction: on the 2-core benchmark
VM a fresh (pairs x days) array cost 2.2 ns a byte instead of 0.35, and a 1,000,000-pair ``fit()`` spent 11.6-12.9 s
of system time with the advice against 5.0-5.2 s without it (its model phase 3.5 s against 1.3 s). A study's arrays
are written once and read a few times, so huge pages buy it little. The command line turns the advice off for its
process (:func:`eventstudy.cli.avoid_hugepage_stalls`); :meth:`EventStudy.fit` turns it off while it runs and
restores it after (:func:`numpy_advice_off`). numpy's documented ``NUMPY_MADVISE_HUGEPAGE`` (and mimalloc's
``MIMALLOC_ALLOW_THP``), set by the user, win: neither touches the advice then.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

THP_DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")
USER_SETTINGS = ("NUMPY_MADVISE_HUGEPAGE", "MIMALLOC_ALLOW_THP")


def stalls(defrag: Path = THP_DEFRAG) -> bool:
    """Whether first touches of huge-page memory compact synchronously here (``defrag`` is ``always`` or
    ``madvise``) and the user left the choice to us (neither of ``USER_SETTINGS`` is set). False off Linux."""
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        return any(f"[{mode}]" in defrag.read_text() for mode in ("always", "madvise"))
    except OSError:  # not Linux, or no THP
        return False


def set_numpy_advice(enabled: bool) -> bool | None:
    """Turn numpy's huge-page advice on or off; the previous setting (None: a numpy without the switch)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        return None
    return bool(_set_madvise_hugepage(enabled))


class _Scopes:
    """Nested or concurrent :func:`numpy_advice_off` blocks (threads of one process, e.g. a Dask worker's tasks): the
    first to enter turns the advice off and the last to leave restores what the first found."""

    def __init__(self) -> None:
        self.lock, self.depth, self.saved = threading.Lock(), 0, None

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                self.saved = set_numpy_advice(False)
            self.depth += 1

    def leave(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.saved is not None:
                set_numpy_advice(self.saved)


_SCOPES = _Scopes()


@contextmanager
def numpy_advice_off(defrag: Path = THP_DEFRAG) -> Iterator[None]:
    """numpy's huge-page advice off inside the block where it would stall (:func:`stalls`), restored after it.

    The switch is process-wide: arrays other threads allocate meanwhile are not advised either (a matter of speed
    only; no value depends on it), and overlapping blocks in several threads restore it when the last one ends.
    """
    if not stalls(defrag):
        yield
        return
    _SCOPES.enter()
    try:
        yield
    finally:
        _SCOPES.leave()
