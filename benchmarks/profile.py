"""Where the CPU seconds of one in-library study go, compiled kernels and their worker threads included.

py-spy and pyinstrument read Python frames: they charge a numba kernel's seconds to the Python line that started it
and do not see the OpenMP threads its parallel loops run on. This script records every thread of its own process
with Linux ``perf`` during the second ``fit()`` of a study of the benchmark's universe (the first loads the kernels
from numba's cache), after writing a perf map (``/tmp/perf-PID.map``, perf's convention for code generated at run
time) that names the addresses of every loaded numba kernel: its own body, the parallel loop bodies and the helpers
it calls that the compiler did not inline. It prints the phases of that ``fit()``, how many of the machine's cores
its two stages kept busy (the pair stage: panel, model and per-pair statistics; the group stage: the tests and the
tables), its CPU seconds by kind of code (compiled kernels, the operating system's page faults, numpy, scipy,
Python, ...) and the functions that took the most.

    python benchmarks/profile.py --pairs 1000000          # perf needed (Debian: apt-get install linux-perf)
    python benchmarks/profile.py --group-tests event+all  # the battery of every event too
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the universe and its events files)

KINDS = (  # (pattern of perf's "dso" column, kind of code); the first that matches
    (r"^\[JIT\]", "compiled kernels (numba)"),
    (r"^\[kernel", "operating system (page faults, zeroing fresh pages, scheduling)"),
    (r"_multiarray_umath|_umath_linalg", "numpy"),
    (r"openblas|lapack", "BLAS / LAPACK (scipy's and numpy's OpenBLAS)"),
    (r"_ufuncs|scipy", "scipy (Student t and normal tails)"),
    (r"libpython|\bpython", "Python interpreter"),
    (r"arrow|parquet", "Arrow"),
    (r"^libc\.|^libm\.", "C library (copies, allocation, libm)"),
)
PARALLEL_BODY = re.compile(r"__numba_parfor_gufunc")


def demangle(symbol: str) -> str:
    """numba's Itanium-style symbol as a dotted Python name (``eventstudy.engine.models._residuals``); a symbol that
    is not mangled is returned as it is. The wrappers' prefixes (``cfunc.``, ``cpython.``, ``__gufunc__.``) are
    dropped."""
    name = re.sub(r"^(cfunc\.|cpython\.|__gufunc__\.)", "", symbol)
    if not name.startswith("_ZN"):
        return name
    parts, at = [], 3
    while at < len(name) and name[at].isdigit():
        digits = re.match(r"\d+", name[at:]).group()
        at += len(digits)
        parts.append(name[at : at + int(digits)])
        at += int(digits)
    text = ".".join(parts)
    return re.sub(r"_([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text) if "_3c" in text else text


def kernel_symbols() -> list[tuple[int, str]]:
    """(address, name) of every function numba has loaded in this process: each compiled kernel's library's
    definitions (a kernel loaded from numba's cache keeps them in its shared module), named by :func:`demangle`, a
    parallel loop's body as its kernel's ``[parallel body]``."""
    from numba.core.registry import CPUDispatcher

    found: dict[int, str] = {}
    # (the type, not isinstance: isinstance of a weak proxy whose object died raises ReferenceError)
    for dispatcher in (o for o in gc.get_objects() if issubclass(type(o), CPUDispatcher)):
        owner = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
        for result in list(dispatcher.overloads.values()):
            library = result.library
            module = library._shared_module or library._final_module  # (numba's own attributes: no public API)
            for function in module.functions if module is not None else ():
                if function.is_declaration:
                    continue
                address = library.get_pointer_to_function(function.name)
                if address:
                    is_body = PARALLEL_BODY.search(function.name)
                    found.setdefault(address, f"{owner} [parallel body]" if is_body else demangle(function.name))
    return sorted(found.items())


def write_perf_map(path: Path, symbols: list[tuple[int, str]], largest: int = 1 << 16) -> None:
    """perf's map of run-time code: one ``START SIZE NAME`` line (hexadecimal) per symbol, each running to the next
    symbol's start, at most ``largest`` bytes (a kernel's function takes up to about 40 kB; the libraries lie apart
    in the address space, with code between them that no live kernel owns, which perf then shows as an address)."""
    lines = []
    for (address, name), following in zip(symbols, [*symbols[1:], (symbols[-1][0] + largest, "")], strict=True):
        lines.append(f"{address:x} {min(following[0] - address, largest):x} {name}\n")
    path.write_text("".join(lines))


def parse_report(text: str) -> list[tuple[int, str]]:
    """(samples, name) of each line of ``perf report --stdio -n --no-children -g none``: ``  12.34%  1234  [.] name``
    (sorted by symbol) or ``  12.34%  1234  libname.so`` (by dso)."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"\s*[\d.]+%\s+(\d+)\s+(?:\[[.k]\]\s+)?(.+?)\s*$", line)
        if match and not line.lstrip().startswith("#"):
            rows.append((int(match.group(1)), match.group(2)))
    return rows


def kind_of(dso: str) -> str:
    return next((kind for pattern, kind in KINDS if re.search(pattern, dso)), "other")


def perf_report(data: Path, sort: str) -> list[tuple[int, str]]:
    command = ["perf", "report", "-i", str(data), "--stdio", "-n", "--no-children", "-g", "none", "--sort", sort]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_report(done.stdout)


def busy() -> tuple[float, float]:
    """(wall clock, CPU seconds of this process: every thread's, user and system) now."""
    times = os.times()
    return time.perf_counter(), times.user + times.system


def utilization(start: tuple[float, float], stop: tuple[float, float]) -> float:
    """The cores kept busy on average between two :func:`busy` readings: CPU seconds over wall seconds."""
    return (stop[1] - start[1]) / max(stop[0] - start[0], 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100_000, help="pairs of the study (the universe's first)")
    parser.add_argument("--data", type=Path, default=bench.ROOT.parent / "eventstudy-bench", help="universe folder")
    parser.add_argument("--group-tests", default="all", help="the study's battery: all (default) or event+all")
    parser.add_argument("--top", type=int, default=30, help="functions to print")
    parser.add_argument("--frequency", type=int, default=499, help="samples a second per thread")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf is not installed: install it (Debian: apt-get install linux-perf) or profile with py-spy")
    from eventstudy import EventStudy
    from eventstudy.engine.stages import finish, run_pairs
    from eventstudy.hugepages import numpy_advice_off
    from eventstudy.prices.files import read_prices

    bench.ensure_universe(args.data, args.pairs)
    events = pd.read_csv(bench.events_file(args.data, args.pairs), dtype=str)
    prices = read_prices(args.data / "prices.parquet", [*events["ticker"].unique().tolist(), "MKT"])

    def study():
        return EventStudy(events, prices, market="MKT", calendar="data", group_tests=args.group_tests, mask="none")

    study().fit(prices_table=False)  # the kernels loaded (and compiled, on a cold cache); its results let go
    perf_map = Path(f"/tmp/perf-{os.getpid()}.map")
    write_perf_map(perf_map, kernel_symbols())
    measured = study()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        command = ["perf", "record", "-q", "-F", str(args.frequency), "-p", str(os.getpid()), "-o", str(data)]
        recorder = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # (perf attaches to every thread)
        if recorder.poll() is not None:
            sys.exit(f"perf record failed: {recorder.stderr.read().strip()} (see /proc/sys/kernel/perf_event_paranoid)")
        with numpy_advice_off():  # fit()'s two stages, as it runs them, each timed
            start = busy()
            stage = run_pairs(measured, measured.events, measured.prices)
            paired = busy()
            results = finish(measured, stage, prices_table=False, release=True)
            done = busy()
        del stage
        recorder.send_signal(signal.SIGINT)
        recorder.wait()
        by_symbol, by_dso = perf_report(data, "sym"), perf_report(data, "dso")
    perf_map.unlink(missing_ok=True)
    total = sum(n for n, _ in by_dso)
    seconds = total / args.frequency
    wall = done[0] - start[0]
    print(f"{args.pairs:,} pairs: fit {wall:.2f} s of wall, {seconds:.1f} s of CPU sampled ({total:,} samples)")
    print("phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in results.timings.items() if v >= 0.005))
    cores = os.cpu_count() or 1
    for name, (a, b) in {"pair stage": (start, paired), "group stage": (paired, done)}.items():
        cpu = f"{b[1] - a[1]:.2f} s of CPU: {utilization(a, b):.2f} of {cores} cores busy"
        print(f"{name}: {b[0] - a[0]:.2f} s of wall, {cpu}")
    kinds: dict[str, int] = {}
    for n, dso in by_dso:
        kind = kind_of(dso)
        kinds[kind] = kinds.get(kind, 0) + n
    print("\nCPU by kind of code:")
    for kind, n in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {100 * n / total:5.1f}%  {n / args.frequency:6.2f} s  {kind}")
    print(f"\ntop {args.top} functions:")
    for n, name in by_symbol[: args.top]:
        name = "(compiled code of no live kernel) " + name if name.startswith("0x") else name
        print(f"  {100 * n / total:5.1f}%  {n / args.frequency:6.2f} s  {name[:110]}")


if __name__ == "__main__":
    main()
