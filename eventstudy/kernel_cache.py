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

:func:`warm_up` starts numba's once-a-process set-up early, on a thread of its own, and there loads the kernels the
last study loaded (:func:`record_first_fit` keeps their list beside numba's cache; see both).
"""

from __future__ import annotations

import atexit
import functools
import os
import pickle
import re
import sys
import tempfile
import threading
from pathlib import Path

import numba
from numba.core import caching
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher

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


class _Noted(caching.CompileResultCacheImpl):
    """numba's cache of compiled kernels, for the package's kernels: machine code loaded ahead (by :func:`warm_up`'s
    thread) is kept until the kernel's first call asks the cache for it, and each load a call asks for is noted, in
    the process's order (:func:`record_first_fit`). Other functions are numba's as before."""

    def __init__(self, py_func):
        super().__init__(py_func)
        self._kernel = (py_func.__module__, py_func.__qualname__) if isinstance(self.locator, _Stamped) else None

    def rebuild(self, target_context, payload):
        signature = payload[3] if len(payload) > 3 else None  # CompileResult._reduce(): the signature fourth
        args = getattr(signature, "args", None)
        if self._kernel is None or not isinstance(args, tuple):
            return super().rebuild(target_context, payload)
        key = (*self._kernel, args)
        if getattr(_ahead, "on", False):
            _ready[key] = cres = super().rebuild(target_context, payload)
            return cres
        if not _recorded:  # the record is the first study's: later loads are not kept
            _noted.append(key)
        cres = _ready.pop(key, None)
        return super().rebuild(target_context, payload) if cres is None else cres


def install() -> None:
    """Put the package's locators first in numba's list, and its cache of compiled kernels in numba's place (once)."""
    classes = caching.CacheImpl._locator_classes
    if InTreeLocator not in classes:
        classes[:0] = [InTreeLocator, UserWideLocator]
    if caching.FunctionCache._impl_class is caching.CompileResultCacheImpl:
        caching.FunctionCache._impl_class = _Noted


install()


@numba.njit(cache=True)
def _first_kernel() -> int:  # pragma: no cover - compiled
    return 0


_noted: list[tuple[str, str, tuple]] = []  # (module, name, argument types) of the kernels calls loaded, in order
_ready: dict[tuple[str, str, tuple], object] = {}  # the machine code loaded ahead, until a call asks for it
_ahead = threading.local()  # .on on the thread loading ahead
_recorded: list[bool] = []  # the record written (or found the same) once this process
_setup: list[threading.Thread] = []  # the warm-up's thread, once started
_stop = threading.Event()  # set before a fork and at exit: the warm-up loads no further kernel


def warm_up() -> None:
    """Start numba's once-a-process set-up on a thread of its own, then load there the machine code of the kernels
    the last process's study called (its record: :func:`record_first_fit`). Once; later calls do nothing.

    The first compiled call of a process loads numba's typing and target registries (0.25-0.4 s of Python on this
    project's machine), whichever kernel it is, and each kernel's first call loads its machine code from numba's
    cache (about 10 ms each, most of it LLVM linking without the GIL; a 100,000-pair study calls about 50). Started
    when a study's inputs are read (``read_prices``, ``eventstudy run``), both overlap the reading (Arrow and the CSV
    parser release the GIL) instead of delaying the study's kernels. Only cached kernels of modules already imported
    are loaded (nothing is compiled here), and they are not installed: a kernel's first call asks numba's cache for
    it as before and gets the code loaded ahead, from the same file, instead of linking it again. So the machine code
    every call runs, and every number, is the same with or without a record.

    A fork or the interpreter's exit stops the loading after the kernel under way and waits for it
    (``os.register_at_fork``, ``atexit``): a child never starts with numba's compiler lock held by a thread it does
    not have (such a child hangs on its first kernel), and no kernel is being linked while the interpreter shuts down.
    """
    if _setup:
        return
    thread = threading.Thread(target=_set_up, name="eventstudy-numba-setup", daemon=True)
    _setup.append(thread)
    thread.start()


def _set_up() -> None:
    _first_kernel()
    _ahead.on = True
    for module, name, args in _read_record(_record_path()):
        kernel = sys.modules.get(module)
        for part in name.split("."):
            kernel = getattr(kernel, part, None)
        if not isinstance(kernel, Dispatcher) or getattr(kernel, "_cache", None) is None:
            continue
        with global_compiler_lock:  # as numba's own loading: no call of the kernel loads it meanwhile
            if _stop.is_set():
                return
            if args not in kernel.overloads:
                try:
                    kernel._cache.load_overload(args, kernel.targetctx)
                except Exception:  # noqa: BLE001, S112 - an optimisation only: the kernel's first call loads it
                    continue


def record_first_fit() -> None:
    """Keep, beside numba's cache, the list of the package kernels whose machine code the process loaded up to the
    end of its first study (their module, name and argument types, in the order of their first calls), for the next
    process's :func:`warm_up` to load ahead. Once a process (later calls do nothing); written whole and atomically,
    and only when it differs from the list found. A cache folder that cannot be written keeps no record."""
    if _recorded:
        return
    _recorded.append(True)
    path = _record_path()
    kernels = list(dict.fromkeys(_noted))
    if path is None or not kernels or kernels == _read_record(path):
        return
    try:
        handle, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(kernels, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part, path)
    except OSError:
        Path(part).unlink(missing_ok=True)


def _record_path() -> Path | None:
    """The record's file, in the folder where numba caches this module's kernel (None without numba's JIT)."""
    path = getattr(getattr(_first_kernel, "_cache", None), "cache_path", None)
    return None if path is None else Path(path) / f"kernels-record.{sys.implementation.cache_tag}.pickle"


def _read_record(path: Path | None) -> list[tuple[str, str, tuple]]:
    """The record's kernels; none if it is missing or damaged (a kernel since changed is not in numba's cache: its
    entry loads nothing)."""
    try:
        with open(path, "rb") as handle:
            kernels = pickle.load(handle)
    except Exception:  # noqa: BLE001 - a missing, truncated or foreign record is no record
        return []
    if not isinstance(kernels, list):
        return []
    return [k for k in kernels if isinstance(k, tuple) and len(k) == 3 and isinstance(k[2], tuple)]


def _finish_setup() -> None:
    if _setup:
        _stop.set()
        _setup[0].join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_finish_setup)
atexit.register(_finish_setup)
