"""numba's cache of a kernel is renewed when a module it compiles code from changes (eventstudy/kernel_cache.py)."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numba

from eventstudy import kernel_cache

ROOT = Path(__file__).resolve().parents[1]
HELPER = """import numba

import eventstudy.kernel_cache  # noqa: F401

OFFSET = {offset}


@numba.njit(cache=True)
def helper(x):
    return x + {step}
"""
KERNEL = """import numba

import eventstudy.kernel_cache  # noqa: F401
from eventstudy.probe_helper import OFFSET, helper


@numba.njit(cache=True)
def kernel(x):
    return helper(x) * 2.0 + OFFSET
"""


def _package(tmp_path: Path, helper: str) -> Path:
    package = tmp_path / "eventstudy"
    package.mkdir(exist_ok=True)
    for name in ("__init__.py", "kernel_cache.py"):
        shutil.copy(ROOT / "eventstudy" / name, package / name)
    (package / "probe_helper.py").write_text(helper)
    (package / "probe_kernel.py").write_text(KERNEL)
    return package


def _kernel_of_one(tmp_path: Path) -> str:
    code = "import eventstudy; from eventstudy.probe_kernel import kernel; print(eventstudy.__file__, kernel(1.0))"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_DISABLE_JIT": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where, value = out.stdout.split()
    assert Path(where).parent == tmp_path / "eventstudy"  # the copy, not the installed package
    return value


def test_a_cached_kernel_is_compiled_afresh_when_a_helper_or_constant_of_another_module_changes(tmp_path):
    package = _package(tmp_path, HELPER.format(offset=0.0, step=1.0))
    assert _kernel_of_one(tmp_path) == "4.0"
    assert list((package / "__pycache__").glob("probe_kernel.kernel-*.nbi"))  # cached
    assert _kernel_of_one(tmp_path) == "4.0"  # from the cache
    (package / "probe_helper.py").write_text(HELPER.format(offset=0.0, step=2.0))  # the kernel's file unchanged
    assert _kernel_of_one(tmp_path) == "6.0"  # numba's own stamp alone gives the cached 4.0
    (package / "probe_helper.py").write_text(HELPER.format(offset=10.0, step=2.0))  # a constant it compiles in
    assert _kernel_of_one(tmp_path) == "16.0"


def test_dependencies_are_the_imported_modules_and_what_compiling_ones_import():
    deps = {
        p.relative_to(kernel_cache.PACKAGE).as_posix()
        for p in kernel_cache.dependencies(ROOT / "eventstudy/inference/moments.py")
    }
    assert {"inference/ar_rows.py", "inference/groups.py", "inference/distributions.py", "kernel_cache.py"} <= deps
    assert "inference/moments.py" not in deps
    # rank_sums imports ranking (which compiles code and imports ar_rows): both reach the cache's stamp
    deps = {
        p.relative_to(kernel_cache.PACKAGE).as_posix()
        for p in kernel_cache.dependencies(ROOT / "eventstudy/engine/rank_sums.py")
    }
    assert {"engine/ranking.py", "inference/ar_rows.py"} <= deps


def test_every_module_with_cached_kernels_imports_the_locator_before_them():
    for path in sorted((ROOT / "eventstudy").rglob("*.py")):
        text = path.read_text()
        if "cache=True" not in text or path.name == "kernel_cache.py":
            continue
        assert "import eventstudy.kernel_cache" in text, path
        assert text.index("import eventstudy.kernel_cache") < text.index("cache=True"), path


TWO_KERNELS = """import numba

import eventstudy.kernel_cache  # noqa: F401


@numba.njit(cache=True)
def double(x):
    return x * 2.0


@numba.njit(cache=True)
def square(x):
    return x * x
"""


def _probe(tmp_path: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter on the copied package (``_package``'s), return what it prints."""
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_DISABLE_JIT": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_kernels_a_study_loaded_are_loaded_ahead_by_the_next_process_and_given_to_their_first_call(tmp_path):
    package = _package(tmp_path, HELPER.format(offset=0.0, step=1.0))
    (package / "probe_two.py").write_text(TWO_KERNELS)
    calls = "from eventstudy.probe_two import double, square\nprint(double(3.0), square(3.0))\n"
    record = "from eventstudy import kernel_cache as kc\nkc.record_first_fit()\nprint(kc._record_path().is_file())\n"
    # compiled afresh: nothing was loaded from the cache, so nothing is recorded
    assert _probe(tmp_path, calls + record).split() == ["6.0", "9.0", "False"]
    # loaded from numba's cache by their calls: recorded in the order called
    assert _probe(tmp_path, calls + record).split() == ["6.0", "9.0", "True"]
    listed = "import pickle\nprint([k[:2] for k in pickle.load(open(kc._record_path(), 'rb'))])\n"
    assert _probe(tmp_path, "from eventstudy import kernel_cache as kc\n" + listed) == (
        "[('eventstudy.probe_two', 'double'), ('eventstudy.probe_two', 'square')]"
    )
    # the next process loads both ahead without installing them; each first call gets the code loaded ahead
    ahead = (
        "import eventstudy.probe_two as two\nfrom eventstudy import kernel_cache as kc\n"
        "kc.warm_up(); kc._setup[0].join()\n"
        "print(len(kc._ready), two.double.signatures, two.square.signatures)\n"
        "print(two.double(3.0), len(kc._ready), two.square(3.0), len(kc._ready))\n"
        "print(dict(two.double.stats.cache_hits), dict(two.square.stats.cache_misses))\n"
    )
    lines = _probe(tmp_path, ahead).splitlines()
    assert lines[0] == "2 [] []"  # loaded, not installed: a call asks numba's cache as before
    assert lines[1].split() == ["6.0", "1", "9.0", "0"]  # each call took its kernel's code loaded ahead
    assert lines[2] == "{(float64,): 1} {}"


def test_a_damaged_or_stale_record_loads_nothing_and_compiles_nothing(tmp_path):
    package = _package(tmp_path, HELPER.format(offset=0.0, step=1.0))
    (package / "probe_two.py").write_text(TWO_KERNELS)
    calls = "import eventstudy.probe_two as two\nprint(two.double(3.0))\n"
    _probe(tmp_path, calls)  # compiled into the cache
    path = Path(_probe(tmp_path, "from eventstudy import kernel_cache as kc\nprint(kc._record_path())"))
    cached = sorted((package / "__pycache__").glob("probe_two.*.nbc"))
    ahead = (
        "import eventstudy.probe_two as two\nfrom eventstudy import kernel_cache as kc\n"
        "kc.warm_up(); kc._setup[0].join()\nprint(len(kc._ready), two.square.signatures)\n" + calls +
        "kc.record_first_fit()\n"
    )  # fmt: skip
    for damage in (b"", b"not a pickle", b"\x80\x05K\x01.", pickle.dumps([("eventstudy.probe_two", "gone", ())])):
        path.write_bytes(damage)
        assert _probe(tmp_path, ahead).splitlines() == ["0 []", "6.0"]
        assert ("eventstudy.probe_two", "double") in [k[:2] for k in pickle.loads(path.read_bytes())]  # written anew
    # a signature never compiled, and a kernel not called before: nothing is compiled on the loading thread
    never = [("eventstudy.probe_two", "double", (numba.int64,)), ("eventstudy.probe_two", "square", (numba.float64,))]
    path.write_bytes(pickle.dumps(never))
    assert _probe(tmp_path, ahead).splitlines() == ["0 []", "6.0"]
    assert sorted((package / "__pycache__").glob("probe_two.*.nbc")) == cached


def test_a_process_s_first_fit_records_the_kernels_it_loaded_and_later_fits_do_not(tmp_path, monkeypatch):
    from eventstudy import EventStudy
    from eventstudy.simulate import simulate_study

    sim = simulate_study(n_events=4, n_firms=3, effect=0.01, seed=1)
    path = tmp_path / "record.pickle"
    loaded = [("eventstudy.engine.grid", "_gather", (numba.float64,))]
    monkeypatch.setattr(kernel_cache, "_record_path", lambda: path)
    monkeypatch.setattr(kernel_cache, "_recorded", [])
    monkeypatch.setattr(kernel_cache, "_noted", list(loaded))
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data")
    study.fit()
    assert pickle.loads(path.read_bytes())[: len(loaded)] == loaded
    path.unlink()
    study.fit()
    assert not path.exists()
