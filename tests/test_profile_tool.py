"""``benchmarks/profile.py``: the perf map that names numba's kernels, the report's parsing, and (where ``perf`` can
record this process) the whole profile of a small universe."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
import weakref

import numpy as np
import pytest

from eventstudy import EventStudy
from eventstudy.engine import models
from eventstudy.simulate import simulate_study


@pytest.fixture(scope="module")
def profile(repo_root):
    spec = importlib.util.spec_from_file_location("bench_profile", repo_root / "benchmarks" / "profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demangle_gives_numbas_functions_their_python_names(profile):
    mangled = "_ZN10eventstudy6engine6models10_residualsB3v87B52c8tJTIeFIjxB2IKSgI4CrvSCKg1MMfAwK4LJISUWsIgmAA_3dE5Arr"
    assert profile.demangle(mangled) == "eventstudy.engine.models._residuals"
    assert profile.demangle("cfunc." + mangled) == "eventstudy.engine.models._residuals"
    nested = "_ZN10eventstudy6engine4grid21_copy_regressors_impl12_3clocals_3e6marketB3v12E"
    assert profile.demangle(nested) == "eventstudy.engine.grid._copy_regressors_impl.<locals>.market"
    assert profile.demangle("NRT_incref") == "NRT_incref"


def test_the_perf_map_names_every_loaded_kernel_at_its_address(profile, tmp_path):
    """After a study, the map holds the kernels it ran (their inner functions too, each at the address numba's
    engine gives its symbol), sorted, each range at most 64 kB and ending before the next begins."""
    sim = simulate_study(n_events=4, n_firms=5, effect=0.01, seed=3)
    EventStudy(sim.events, sim.prices, market=sim.market, calendar="data").fit()
    gone = weakref.proxy(_Gone())  # a proxy whose object died: the scan of the heap's objects must pass it by
    symbols = profile.kernel_symbols()
    del gone
    names = {name for _, name in symbols}
    assert {"eventstudy.engine.models._residuals", "eventstudy.engine.window_pass._pass"} <= names
    assert "NRT_incref" in names  # numba's reference counting, where the kernels spend time on it
    library = next(iter(models._residuals_chunks.overloads.values())).library  # _residuals compiled into it
    module = library._shared_module or library._final_module
    own = [f.name for f in module.functions if not f.is_declaration and "_residuals" in f.name]
    assert own and all((library.get_pointer_to_function(n), profile.demangle(n)) in symbols for n in own)
    path = tmp_path / "perf.map"
    profile.write_perf_map(path, symbols)
    rows = [line.split(" ", 2) for line in path.read_text().splitlines()]
    starts, sizes = (np.array([int(r[i], 16) for r in rows]) for i in (0, 1))
    assert len(rows) == len(symbols) and np.all(np.diff(starts) > 0)
    assert np.all((sizes > 0) & (sizes <= 1 << 16)) and np.all(starts[:-1] + sizes[:-1] <= starts[1:])


class _Gone:
    pass


REPORT = """# Samples: 9K of event 'cpu-clock:pppH'
#
# Overhead       Samples  Symbol
# ........  ............  ......
#
    13.02%          1202  [.] eventstudy.engine.rank_sums.rank_walk
     3.54%           327  [k] clear_page_erms
     2.29%           211  [.] 0x00007fb25caf5059
"""


def test_the_report_is_read_as_samples_and_names(profile):
    assert profile.parse_report(REPORT) == [
        (1202, "eventstudy.engine.rank_sums.rank_walk"),
        (327, "clear_page_erms"),
        (211, "0x00007fb25caf5059"),
    ]
    assert profile.parse_report("    61.57%          5702  [JIT] tid 7561\n") == [(5702, "[JIT] tid 7561")]
    assert profile.kind_of("[JIT] tid 7561") == "compiled kernels (numba)"
    assert profile.kind_of("[kernel.kallsyms]").startswith("operating system")
    assert profile.kind_of("_multiarray_umath.cpython-311-x86_64-linux-gnu.so") == "numpy"
    assert profile.kind_of("libscipy_openblas64_-32a4b2a6.so").startswith("BLAS")  # not scipy's special functions
    assert profile.kind_of("libfoo.so") == "other"


def test_utilization_is_cpu_seconds_over_wall_seconds(profile):
    assert profile.utilization((10.0, 4.0), (12.0, 7.5)) == pytest.approx(1.75)  # 3.5 s of CPU in 2 s
    before = profile.busy()
    while time.perf_counter() < before[0] + 0.3:  # one thread busy: about one core (0.3 s: clock ticks are 10 ms)
        pass
    after = profile.busy()
    assert 0.3 < profile.utilization(before, after) < 1.2
    time.sleep(0.3)  # idle: the CPU seconds do not move with the wall clock
    assert profile.utilization(after, profile.busy()) < 0.3


def _perf_records() -> bool:
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(["perf", "record", "-q", "-o", "/dev/null", "--", "true"], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _perf_records(), reason="perf is not installed or may not record here")
def test_the_profile_of_a_small_universe(profile, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(profile.bench, "TICKERS", 60)
    monkeypatch.setattr(profile.bench, "SESSIONS", 300)
    monkeypatch.setattr(sys, "argv", ["profile.py", "--pairs", "1000", "--data", str(tmp_path), "--top", "5"])
    profile.main()
    out = capsys.readouterr().out
    assert "1,000 pairs: fit" in out and "CPU by kind of code" in out and "top 5 functions" in out
    assert re.search(r"pair stage: [\d.]+ s of wall, [\d.]+ s of CPU: [\d.]+ of \d+ cores busy", out)
    assert re.search(r"group stage: [\d.]+ s of wall", out)
