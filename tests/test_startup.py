"""Start-up cost: importing eventstudy loads no heavy module it does not need, and the distribution functions that
replace scipy.stats (inference/distributions.py) give scipy.stats' numbers exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from eventstudy.inference import distributions

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "scipy.stats",
    "scipy.sparse",
    "scipy.optimize",
    "matplotlib",
    "duckdb",
    "dask",
    "distributed",
    "yfinance",
    "statsmodels",
    "exchange_calendars",
)


RUN_HEAVY = tuple(m for m in HEAVY if m != "scipy.sparse")


def _loaded_after(code: str) -> set[str]:
    """The modules of ``HEAVY`` loaded after running ``code`` in a fresh interpreter (this checkout first)."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": ROOT}
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return set(run.stdout.split())


def test_import_loads_no_heavy_module():
    assert _loaded_after("import eventstudy") == set()


def test_cli_run_module_loads_no_heavy_module():
    assert _loaded_after("import eventstudy.cli.run, eventstudy.engine.stages") == set()


def test_plain_import_loads_no_numeric_library():
    """``import eventstudy`` alone imports none of the engine's libraries: its public names load when first used."""
    numeric = ("pandas", "numba", "scipy", "pyarrow")
    probe = f"import eventstudy, sys\nprint(' '.join(m for m in {numeric!r} if m in sys.modules))"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, env={"PYTHONPATH": ROOT}
    )
    assert shown.stdout.split() == []


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_import_lets_idle_openmp_workers_sleep_unless_the_user_chose(given, expected):
    """``import eventstudy`` sets OMP_WAIT_POLICY=PASSIVE before numba's OpenMP layer starts (its idle workers would
    otherwise spin after every parallel kernel, taking a core from the study's other threads); a policy the user
    set is kept. Checked in a fresh interpreter, after a parallel kernel has run (OpenMP read it then)."""
    env = {"PYTHONPATH": str(ROOT)} | ({} if given is None else {"OMP_WAIT_POLICY": given})
    probe = (
        "import os, numpy as np, eventstudy\n"
        "from eventstudy.inference.ar_rows import ArRows\n"
        "ArRows.of(np.ones((3, 4))).take(slice(None))\n"
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    shown = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.split() == [expected]


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1])
def test_numba_setup_runs_once_on_its_thread_and_a_fork_waits_for_it(delay):
    """``warm_up()`` (called by ``read_prices`` and ``eventstudy run``) starts numba's first-call set-up on one
    thread of its own, once; a fork while it runs waits for it, so the child never starts with numba's compiler
    lock held by a thread it does not have (without the wait, such a child hung on its first kernel, 1 run in 3).
    Each delay forks at another point of the set-up, in a fresh interpreter; the child runs a parallel kernel."""
    probe = (
        "import os, threading, time, numpy as np\n"
        "from eventstudy import kernel_cache\n"
        "from eventstudy.inference.ar_rows import ArRows\n"
        "kernel_cache.warm_up(); kernel_cache.warm_up()\n"
        "print(sum(t.name == 'eventstudy-numba-setup' for t in threading.enumerate()), flush=True)\n"
        f"time.sleep({delay})\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ArRows.of(np.ones((3, 4))).take(slice(None)); os._exit(0)\n"
        "for _ in range(300):\n"
        "    done, status = os.waitpid(pid, os.WNOHANG)\n"
        "    if done: print('child', status); break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    os.kill(pid, 9); print('child hung')\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "child", "0"]


def test_public_names_and_subpackages_load_on_use():
    import eventstudy
    from eventstudy.engine.study import EventStudy
    from eventstudy.prices.files import read_prices

    assert eventstudy.EventStudy is EventStudy and eventstudy.read_prices is read_prices
    assert sorted(eventstudy.__all__) == sorted(n for n in dir(eventstudy) if n in eventstudy.__all__)
    namespace: dict = {}
    exec("from eventstudy import *", namespace)
    assert {n for n in namespace if not n.startswith("__")} == set(eventstudy.__all__)
    assert eventstudy.simulate.simulate_study is not None  # a submodule reached as an attribute, as before
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        eventstudy.nothing  # noqa: B018


def test_cli_run_end_to_end_loads_no_heavy_module(tmp_path, prices_dir):
    """The whole ``eventstudy run`` process (the console entry point, on the real prices, every group test) loads
    none of matplotlib, DuckDB, Dask, yfinance, exchange_calendars (``--calendar data``), statsmodels or the heavy
    scipy subpackages (scipy.sparse aside: the in-time placebo of a study this small sums by a sparse incidence
    product), and runs with the import-time objects frozen out of the garbage collector's view."""
    events = tmp_path / "events.csv"
    events.write_text("event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n")
    argv = ["eventstudy", "run", "--events", str(events), "--tickers", "MP,USAR,CRML,UUUU", "--market", "SPY"]
    argv += ["--listed", "USAR=2025-03-14", "--listed", "CRML=2024-02-28", "--prices", str(prices_dir)]
    argv += ["--calendar", "data", "--group-tests", "all", "--format", "parquet", "--out", str(tmp_path / "out")]
    probe = (
        "import atexit, gc, runpy, sys\n"
        f"sys.argv = {argv!r}\n"
        f"atexit.register(lambda: print('HEAVY', *(m for m in {RUN_HEAVY!r} if m in sys.modules), "
        "'FROZEN', gc.get_freeze_count() > 50000, 'GC', gc.isenabled()))\n"
        "runpy.run_module('eventstudy.cli', run_name='__main__')\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "car.parquet").is_file()
    assert run.stdout.splitlines()[-1].split() == ["HEAVY", "FROZEN", "True", "GC", "True"]


def test_main_called_in_a_session_leaves_the_garbage_collector_alone(tmp_path):
    """Only the console entry point pauses and freezes the collector: ``main`` called in a Python session (click's
    test runner, a notebook) imports its subcommand as any import would."""
    import gc

    from click.testing import CliRunner

    from eventstudy.cli import main

    before = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["regress", "--help"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before and gc.isenabled()


X = np.r_[-np.inf, -40.0, -8.5, -3.0, -1.96, -0.5, 0.0, 1e-300, 0.3, 1.0, 2.5, 9.0, 38.0, 1e6, np.inf, np.nan]
Q = np.r_[-0.1, 0.0, 1e-300, 1e-12, 0.025, 0.3, 0.5, 0.975, 1 - 1e-16, 1.0, 1.5, np.nan]
DF = np.r_[-1.0, 0.0, 0.5, 1.0, 3.0, 29.0, 250.0, 1e7, np.inf, np.nan]


def _same(ours, theirs) -> None:
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("fn", ["cdf", "sf", "ppf", "isf"])
def test_normal_equals_scipy(fn):
    values = Q if fn in ("ppf", "isf") else X
    _same(getattr(distributions.norm, fn)(values), getattr(scipy_stats.norm, fn)(values))
    _same(getattr(distributions.norm, fn)(0.3), getattr(scipy_stats.norm, fn)(0.3))


@pytest.mark.parametrize("fn", ["cdf", "sf", "ppf", "isf"])
def test_student_t_equals_scipy(fn):
    values = Q if fn in ("ppf", "isf") else X
    grid, dof = np.meshgrid(values, DF)
    _same(getattr(distributions.t, fn)(grid, dof), getattr(scipy_stats.t, fn)(grid, dof))
    _same(getattr(distributions.t, fn)(values, 7), getattr(scipy_stats.t, fn)(values, 7))


@pytest.mark.parametrize("name", ["f", "chi2"])
@pytest.mark.parametrize("fn", ["cdf", "sf"])
def test_f_and_chi2_equal_scipy(name, fn):
    grid, dof = np.meshgrid(np.r_[X, 0.0, 1e-8, 0.05], DF)
    args = (dof, dof[::-1] + 2) if name == "f" else (dof,)
    _same(getattr(getattr(distributions, name), fn)(grid, *args), getattr(getattr(scipy_stats, name), fn)(grid, *args))


@pytest.mark.parametrize("fn", ["pmf", "cdf", "sf"])
def test_binomial_equals_scipy(fn):
    n = np.r_[-1.0, 0.0, 1.0, 2.5, 7.0, 60.0, 261.0, 5000.0, np.nan]
    k = np.r_[-np.inf, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 3.7, 30.0, 59.0, 60.0, 61.0, 130.0, 261.0, np.inf, np.nan]
    kk, nn = np.meshgrid(k, n)
    for p in (0.5, 0.0, 1.0, 0.37, 1.2):
        _same(getattr(distributions.binom, fn)(kk, nn, p), getattr(scipy_stats.binom, fn)(kk, nn, p))
    _same(getattr(distributions.binom, fn)(3, 10, 0.5), getattr(scipy_stats.binom, fn)(3, 10, 0.5))


def test_fit_without_the_prices_table_changes_no_other_table():
    from eventstudy import EventStudy
    from eventstudy.results import TABLES
    from eventstudy.simulate import simulate_study

    sim = simulate_study(n_events=6, n_firms=3, effect=0.01, rho=0.2, same_date=False, seed=2)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=0)
    full, lean = study.fit(), study.fit(prices_table=False)
    assert len(full.prices) and lean.prices.empty
    assert list(lean.prices.columns) == list(full.prices.columns)
    for name in (t for t in TABLES if t != "prices"):
        pd.testing.assert_frame_equal(getattr(lean, name), getattr(full, name), check_exact=True)


def test_binomial_falls_back_to_scipy_stats_without_the_private_ufuncs():
    """The binomial functions use scipy.special's private Boost ufuncs; a scipy without them gets scipy.stats'."""
    code = (
        "import sys, types\n"
        "import scipy.stats\n"
        "real = sys.modules['scipy.special._ufuncs']\n"
        "sys.modules['scipy.special._ufuncs'] = types.ModuleType('scipy.special._ufuncs')  # without them\n"
        "from eventstudy.inference import distributions\n"
        "sys.modules['scipy.special._ufuncs'] = real\n"
        "assert distributions.binom is scipy.stats.binom\n"
        "print(repr(float(distributions.binom.sf(3, 10, 0.5))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env={"PYTHONPATH": ROOT}
    )
    assert float(out.stdout) == scipy_stats.binom.sf(3, 10, 0.5)


def test_reading_prices_starts_no_compiled_kernel(tmp_path):
    """read_prices is numpy and Arrow only: a command that only reads prices (``eventstudy prices import``) does not
    pay numba's start-up (its typing context, about 0.25 s), which the first compiled kernel of a study pays."""
    frame = pd.DataFrame(
        {"date": np.tile(pd.bdate_range("2024-01-01", periods=5), 2), "ticker": np.repeat(["ZZ", "AA"], 5)}
    ).assign(adj_close=np.arange(1.0, 11.0))
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    code = (
        "import sys\n"
        "from eventstudy.prices.files import read_prices\n"
        f"frame = read_prices({str(tmp_path / 'p.parquet')!r})\n"
        "assert list(frame['ticker'].unique()) == ['AA', 'ZZ'], frame\n"
        "print('numba.np.arraymath' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": ROOT}
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False"]
