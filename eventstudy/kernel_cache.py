"""numba's on-disk cache of the package's kernels, keyed on the sources of what they compile in from other modules.

numba (``cache=True``) keeps a kernel's machine code in ``__pycache__`` and reuses it while the kernel's own source
file is unchanged (its stamp is the file's hash). But a kernel compiles in the compiled helpers it calls from other
modules (:func:`~eventstudy.inference.ar_rows.ar_row` is called from the kernels of five) and the global constants
it reads (``NAN_ROW``), so after an upgrade or a checkout that changes only the helper's module, numba would run the
cached kernel with the old helper: silently the old numbers.

Every module that defines cached kernels imports this module first. It puts a locator first in numba's list whose
stamp for a kernel of this package is numba's own (its file's hash) and the hashes of the package's modules its
module imports, and of those they import in turn wherever a module compiles code (mentions numba): any change to
one of them makes numba compile the kernel afresh. Functions outside the package keep numba's own locators.

:func:`warm_up` starts numba's once-a-process set-up early, on a thread of its own (see there).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path

import numba
from numba.core import caching

PACKAGE = Path(__file__).resolve().parent
_IMPORT = re.compile(r"^(?:from\s+(eventstudy[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)|import\s+(eventstudy[\w.]*))", re.M)


@functools.cache
def dependencies(path: str | os.PathLike) -> tuple[Path, ...]:
    """The package's modules whose source a kernel of the module at ``path`` may compile in: those it imports, and
    those imported by any of them that compiles code, sorted (``path`` itself excluded)."""
    own = Path(path).resolve()
    found: set[Path] = set()
    todo = [own]
    while todo:
        for module in _imports(todo.pop()):
            if module != own and module not in found:
                found.add(module)
                if "numba" in _source(module):
                    todo.append(module)
    return tuple(sorted(found))


def _imports(path: Path) -> list[Path]:
    """The package's module files ``path`` imports (``from eventstudy.x import y`` names y's file when y is a
    module)."""
    files = []
    for package, names, module in _IMPORT.findall(_source(path)):
        if module:
            files.append(_file(module))
            continue
        files.append(_file(package))
        for name in re.findall(r"\b(\w+)(?:\s+as\s+\w+)?", names.strip("()")):
            files.append(_file(f"{package}.{name}"))
    return [f for f in files if f is not None]


@functools.cache
def _file(module: str) -> Path | None:
    """The source file of a package module (a package's ``__init__.py``), or None for a name that is not one."""
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


@functools.cache
def _read(path: Path, mtime: int, size: int) -> str:
    return path.read_text(encoding="utf-8")


def _source(path: Path) -> str:
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


class _Stamped:
    """The stamp of a package kernel: numba's own (its file's hash) and the hashes of its module's dependencies."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.realpath(py_file).startswith(f"{PACKAGE}{os.sep}"):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return super().get_source_stamp(), _stamps(self._py_file)


@functools.cache
def _stamps(path: str) -> tuple[tuple[str, bytes], ...]:
    """(module path, source hash) of each of the dependencies of the module at ``path`` (once a process: a kernel
    module's decorators share it)."""
    stamps = []
    for module in dependencies(path):
        stat = module.stat()
        digest = caching._hash_source_file(str(module), stat.st_mtime, stat.st_size)
        stamps.append((module.relative_to(PACKAGE).as_posix(), digest))
    return tuple(stamps)


class InTreeLocator(_Stamped, caching.InTreeCacheLocator):
    """numba's ``__pycache__`` locator, with the dependencies' stamps."""


class UserWideLocator(_Stamped, caching.UserWideCacheLocator):
    """numba's per-user cache locator (where ``__pycache__`` is not writable), with the dependencies' stamps."""


def install() -> None:
    """Put the package's locators first in numba's list (once)."""
    classes = caching.CacheImpl._locator_classes
    if InTreeLocator not in classes:
        classes[:0] = [InTreeLocator, UserWideLocator]


install()


@numba.njit(cache=True)
def _first_kernel() -> int:  # pragma: no cover - compiled
    return 0


_setup: list[threading.Thread] = []  # the warm-up's thread, once started


def warm_up() -> None:
    """Start numba's once-a-process set-up on a thread of its own (once; later calls do nothing).

    The first compiled call of a process loads numba's typing and target registries (0.25-0.4 s of Python on this
    project's machine), whichever kernel it is. Started when a study's inputs are read (``read_prices``,
    ``eventstudy run``), it overlaps the reading (Arrow and the CSV parser release the GIL) instead of delaying the
    study's first kernel. A fork waits for it (``os.register_at_fork``): a child never starts with numba's compiler
    lock held by a thread it does not have (such a child hangs on its first kernel).
    """
    if _setup:
        return
    thread = threading.Thread(target=_first_kernel, name="eventstudy-numba-setup", daemon=True)
    _setup.append(thread)
    thread.start()


def _finish_setup() -> None:
    if _setup:
        _setup[0].join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_finish_setup)
