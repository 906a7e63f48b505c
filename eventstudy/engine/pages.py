"""The pair stage's memory pages: faulted in ahead of use on an idle core, handed back once freed.

A fresh array's pages are mapped by the kernel at their first write, one page fault and one zeroed page at a time,
on the thread that writes. The pair stage's large arrays (the chunks' work buffers, the run's (pairs x days) arrays
it keeps) are written by the chunks that fill them, on the pipeline's busy threads; while the layout is built, one
core works alone. :func:`populate_in_background` maps those pages there, with Linux's ``MADV_POPULATE_WRITE``
(5.14+): the kernel maps each page writable as a write would, without writing to the memory, so the chunks may write
the same arrays at the same time (a page already mapped is left as it is, its contents untouched). Elsewhere, on an
older kernel or another libc, it does nothing, and the pages fault in at first use as before.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
if _LIBC is not None and not hasattr(_LIBC, "malloc_trim"):  # a Linux libc other than glibc (musl)
    _LIBC = None
MADV_POPULATE_WRITE = 23  # <linux/mman.h> (Python's mmap module names it from 3.13 on)
STEP = 16 << 20  # bytes mapped a call: the arrays' first parts are ready before their last are started


def release_freed_pages() -> None:
    """Hand the heap pages freed by a stage's temporaries back to the system (glibc ``malloc_trim``; elsewhere
    nothing). glibc keeps freed blocks below its (adaptive, up to 32 MB) mmap threshold in the heap, so without
    this a stage's peak stays in the process's resident memory (190 MB at 100k pairs) while the next stage
    allocates fresh pages for its own arrays. Arrow's pool (mimalloc or jemalloc) keeps the pages of the layout's
    Arrow work (contamination labels) the same way: handed back too (100k run's peak about 1.90 -> 1.77 GB)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    pa.default_memory_pool().release_unused()


def populate(arrays: Sequence[np.ndarray]) -> bool:
    """Map the whole pages of each of ``arrays`` (C-contiguous) writable, ``STEP`` bytes of each in turn (so that
    arrays filled together, row block by row block, become ready together); their contents are not changed. False
    where the system cannot (not Linux, a kernel before 5.14): nothing is done then."""
    if _LIBC is None:
        return False
    page = mmap.PAGESIZE
    spans = []
    for array in arrays:
        if not array.flags.c_contiguous or array.nbytes < page:
            continue
        start = -(-array.ctypes.data // page) * page  # whole pages inside the array only
        stop = (array.ctypes.data + array.nbytes) // page * page
        spans.append([start, stop])
    while spans:
        for span in spans:
            size = min(STEP, span[1] - span[0])
            if _LIBC.madvise(ctypes.c_void_p(span[0]), ctypes.c_size_t(size), MADV_POPULATE_WRITE) != 0:
                return False  # EINVAL: a kernel without it (the rest fault in at first use)
            span[0] += size
        spans = [span for span in spans if span[0] < span[1]]
    return True


def populate_in_background(arrays: Sequence[np.ndarray]) -> threading.Thread:
    """:func:`populate` on a thread of its own (ctypes releases the GIL during each call); joined by the caller
    before the arrays are let go."""
    thread = threading.Thread(target=populate, args=(list(arrays),), name="eventstudy-pages", daemon=True)
    thread.start()
    return thread
