"""Backtest benchmark: pairs per second, peak memory and the phase breakdown, against the memory-read limit and
the PyPI peer ``eventstudy`` 0.1a12, on a simulated universe read from Parquet.

    python benchmarks/run.py                      # 1k, 10k, 100k and 1M pairs
    python benchmarks/run.py --max-pairs 100000   # stop after 100k
    python benchmarks/run.py --make-peer-venv     # first create the peer's virtualenv (../peer-venv)

The universe (``eventstudy.simulate.simulate_universe``: 2,000 tickers x 2,000 sessions, market factor, sector-
correlated noise, +1% planted on day 0; events of 10 tickers each) is written once as Parquet into ``--data``.
Every size runs in a fresh process: ``library`` reads the prices (only the study's tickers) and events, runs
``EventStudy(..., market model, --group-tests all, mask none).fit()`` and writes the tables as Parquet; ``cli`` is
the whole ``eventstudy run`` process, once with ``--group-tests all`` and once with ``event+all`` (the battery of
every event too: ``event+all s``). The memory-read limit is a numpy pass over an array of the bytes a pair
needs (stock and market returns over 261 days), measured in the same process; the compute floor (``floor/s``,
``floor.py``) is one compiled pass per pair that computes only the market model's AR, CAR and t of the four windows
from a return matrix in memory, checked against the engine's CAR and t in the same process. The peer runs in its own
virtualenv (the import names clash) on the same pairs, computing what it computes (market-model AR, CAR and its
t over [-10, 10]), against our pair stage in the fresh process, run again in it (``x peer warm``) and run with the
peer's one window [-10, 10] instead of our four (``x peer scope``); at the smallest size its numbers are checked
against ours. Not a test: prints a table.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 10_000, 100_000, 1_000_000)
TICKERS, SESSIONS, PER_EVENT = 2000, 2000, 10
DAYS = 261  # relative days -250 .. 10 of every pair
PHASES = ("import", "read", "panel", "model", "statistics", "tests", "rank tests", "tables", "write")


# --------------------------------------------------------------------------------------------- data
def ensure_universe(data: Path, pairs: int) -> None:
    """Write the universe's prices and events as Parquet unless ``data`` already holds enough pairs."""
    meta = data / "universe.json"
    if meta.is_file() and json.loads(meta.read_text())["pairs"] >= pairs:
        return
    from eventstudy.simulate import simulate_universe

    data.mkdir(parents=True, exist_ok=True)
    for old in [*data.glob("events_*.csv"), *data.glob("peer_*")]:
        old.unlink()
    universe = simulate_universe(TICKERS, SESSIONS, -(-pairs // PER_EVENT), PER_EVENT, seed=1)
    universe.long_prices().to_parquet(data / "prices.parquet", index=False)
    universe.events.to_parquet(data / "events.parquet", index=False)
    meta.write_text(json.dumps({"pairs": len(universe.events), "tickers": TICKERS, "sessions": SESSIONS}))


def events_file(data: Path, pairs: int) -> Path:
    """The first ``pairs`` pairs of the universe as an events CSV (event_id, ticker, date)."""
    path = data / f"events_{pairs}.csv"
    if not path.is_file():
        pd.read_parquet(data / "events.parquet").iloc[:pairs].to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------------------------- children
def child_library(data: Path, pairs: int, warm: bool = False) -> dict:
    """One in-library run (this process): read, fit, write; phases, peak RSS and the memory-read limit. ``warm``:
    then the pair stage once more in the same process (``warm``: its seconds), as a notebook's or a backtest loop's
    second study runs it: numba's kernels loaded, its first-call set-up done; and the pair stage of the same pairs
    with the peer's one window (``scope``: its seconds)."""
    start = time.perf_counter()
    from eventstudy import EventStudy
    from eventstudy.prices.files import read_prices
    from eventstudy.results import TABLES

    imported = time.perf_counter() - start
    events = pd.read_csv(events_file(data, pairs), dtype=str)
    prices = read_prices(data / "prices.parquet", [*events["ticker"].unique().tolist(), "MKT"])
    study = EventStudy(events, prices, market="MKT", calendar="data", group_tests="all", mask="none")
    read = time.perf_counter() - start - imported
    results = study.fit(prices_table=False)  # the prices table is not written below
    fit = time.perf_counter() - start - imported - read
    with tempfile.TemporaryDirectory() as tmp:
        clock = time.perf_counter()
        results.write_tables(Path(tmp), "parquet", tuple(t for t in TABLES if t != "prices"))
        write = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "pairs": len(results.parameters),
        "studied": int((results.parameters["status"] == "ok").sum()),
        "fit": fit,
        "wall": imported + read + fit + write,
        "phases": {"import": imported, "read": read, **results.timings, "write": write},
        "peak_mb": peak,
        "read_gbs": memory_read_bandwidth(pairs),
        **floor_of(events, prices, study, results.car),
    }
    if warm:
        del results
        out["warm"] = pair_stage_seconds(study)
        # the peer's scope: the same pairs, its one event window [-10, 10] (AR, CAR and its t); best of two
        scoped = EventStudy(events, prices, market="MKT", calendar="data", windows=[(-10, 10)], mask="none")
        out["scope"] = min(pair_stage_seconds(scoped) for _ in range(2))
    return out


def pair_stage_seconds(study) -> float:
    """Seconds of ``study``'s pair stage (panel, model, statistics), run once more in this process as ``fit()`` runs
    it (numpy's huge-page advice off: without, a fresh array's first touch can wait for memory compaction)."""
    from eventstudy.engine.stages import run_pairs
    from eventstudy.hugepages import numpy_advice_off

    with numpy_advice_off():
        timings = run_pairs(study, study.events, study.prices).timings
    return sum(timings[phase] for phase in ("panel", "model", "statistics"))


def floor_of(events: pd.DataFrame, prices: pd.DataFrame, study, car: pd.DataFrame) -> dict:
    """The compute floor's pairs/s on the same pairs (:mod:`floor`) and its largest differences from the engine's
    CAR and t (the engine's car table holds each window's pairs in the events' order)."""
    spec = importlib.util.spec_from_file_location("benchmark_floor", Path(__file__).with_name("floor.py"))
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))  # numba looks it up
    spec.loader.exec_module(module)
    floor = module.measure_floor(prices, events, "MKT", study.windows)
    car_diff, t_diff = 0.0, 0.0
    for w, window in enumerate(study.windows.events):
        ours = car[car["window"] == f"{window[0]}..{window[1]}"]
        car_diff = max(car_diff, float(np.nanmax(np.abs(ours["car"].to_numpy() - floor["car"][:, w]))))
        t = ours["car_t"].to_numpy()
        t_diff = max(t_diff, float(np.nanmax(np.abs(t - floor["t"][:, w]) / np.abs(t))))
    return {"floor": floor["rate"], "floor_car_diff": car_diff, "floor_t_diff": t_diff}


def memory_read_bandwidth(pairs: int) -> float:
    """GB/s of a numpy sum over an array of the bytes ``pairs`` pairs need (capped at 256 MB), best of 3."""
    values = np.ones(min(pairs * DAYS * 2, 32 * 2**20))
    best = np.inf
    for _ in range(3):
        clock = time.perf_counter()
        values.sum()
        best = min(best, time.perf_counter() - clock)
    return values.nbytes / best / 1e9


def run_process(
    cmd: list[str], env: dict | None = None, cwd: Path | None = None, limit_gb: float | None = None
) -> tuple[float, float, str]:
    """Run ``cmd`` as a fresh process (address space capped at ``limit_gb``): (wall seconds, peak RSS MB, stdout)."""

    def cap() -> None:
        if limit_gb:
            resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30),) * 2)

    clock = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, preexec_fn=cap)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - clock
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{err.read().decode()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def our_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def measure_library(data: Path, pairs: int, limit_gb: float, warm: bool) -> dict:
    script = [sys.executable, str(Path(__file__).resolve()), "--child", str(pairs), "--data", str(data)]
    script += ["--warm"] if warm else []
    _, _, out = run_process(script, env=our_env(), limit_gb=limit_gb)
    return json.loads(out.strip().splitlines()[-1])


def measure_cli(data: Path, pairs: int, limit_gb: float, group_tests: str = "all") -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "eventstudy.cli", "run", "--events", str(events_file(data, pairs))]
        cmd += ["--prices", str(data / "prices.parquet"), "--market", "MKT", "--calendar", "data"]
        cmd += ["--group-tests", group_tests, "--mask", "none", "--format", "parquet", "--out", str(Path(tmp) / "run")]
        wall, peak, _ = run_process(cmd, env=our_env(), limit_gb=limit_gb)
    return wall, peak


# --------------------------------------------------------------------------------------------- the peer
def make_peer_venv(venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "eventstudy==0.1a12", "pandas<3"], check=True)


def measure_peer(venv: Path, data: Path, pairs: int) -> dict | None:
    """The peer's whole process and its compute time on the same pairs (None without its virtualenv)."""
    python = venv / "bin" / "python"
    if not python.is_file():
        return None
    events = pd.read_csv(events_file(data, pairs))
    tickers = [*events["ticker"].unique().tolist(), "MKT"]
    wide_csv, events_csv, out = (data / f"peer_{pairs}_{name}" for name in ("returns.csv", "events.csv", "ar.npz"))
    if not wide_csv.is_file():
        long = pd.read_parquet(data / "prices.parquet", filters=[("ticker", "in", tickers)])
        wide = long.pivot(index="date", columns="ticker", values="adj_close").reindex(columns=tickers)
        # returns, not prices: the peer's own price-to-return step divides by the later price (P_t - P_t-1) / P_t
        wide.pct_change().iloc[1:].to_csv(wide_csv, date_format="%Y-%m-%d")
        events[["ticker", "date"]].to_csv(events_csv, index=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [str(python), str(ROOT / "benchmarks" / "peer.py"), str(wide_csv), str(events_csv), str(out)]
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak, stdout = run_process(cmd, env=env, cwd=Path(tmp))
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "peak_mb": peak, "npz": str(out)}


def check_against_peer(data: Path, pairs: int, npz: str) -> str:
    """Our AR, CAR[-10..10] and the peer's t (from our sigma) against the peer's numbers on the same pairs."""
    from eventstudy import EventStudy
    from eventstudy.prices.files import read_prices

    events = pd.read_csv(events_file(data, pairs), dtype=str)
    prices = read_prices(data / "prices.parquet", [*events["ticker"].unique().tolist(), "MKT"])
    res = EventStudy(
        events, prices, market="MKT", calendar="data", windows=[(-10, 10)], group_tests="all", mask="none"
    ).fit()
    peer = np.load(npz)
    pairs_index = pd.MultiIndex.from_frame(events[["event_id", "ticker"]])
    ar = res.ar.pivot_table(index=["event_id", "ticker"], columns="day", values="ar", sort=False)
    ar = ar.reindex(pairs_index).to_numpy()
    car = res.car.set_index(["event_id", "ticker"])["car"].reindex(pairs_index).to_numpy()
    par = res.parameters.set_index(["event_id", "ticker"]).reindex(pairs_index)
    n = par["n_obs"].to_numpy()
    # the peer's t: CAR / sqrt(L2 * var) with var the residual variance over L1 (ddof 0) = sigma^2 (L1 - 2) / L1
    t_peer_convention = car / np.sqrt(21 * par["sigma"].to_numpy() ** 2 * (n - 2) / n)
    rel = np.abs(t_peer_convention - peer["t"]) / np.abs(peer["t"])
    return (
        f"agreement with the peer on {pairs} pairs: max |AR diff| {np.nanmax(np.abs(ar - peer['ar'])):.1e}, "
        f"max |CAR diff| {np.nanmax(np.abs(car - peer['car'])):.1e}, max rel. diff of t (peer's convention: "
        f"var ddof 0, no estimation error) {np.nanmax(rel):.1e}"
    )


# --------------------------------------------------------------------------------------------- report
def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if np.isfinite(x) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-pairs", type=int, default=SIZES[-1], help="largest size to run")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "eventstudy-bench", help="universe folder")
    parser.add_argument("--peer-venv", type=Path, default=ROOT.parent / "peer-venv", help="the peer's virtualenv")
    parser.add_argument("--make-peer-venv", action="store_true", help="create the peer's virtualenv first")
    parser.add_argument("--peer-max", type=int, default=100_000, help="largest size the peer runs")
    parser.add_argument("--no-cli", action="store_true", help="skip the whole-process runs")
    parser.add_argument(
        "--memory-limit", type=float, default=16.0, help="GB of address space a run may take (MemoryError beyond)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_library(args.data, args.child, args.warm)))
        return
    sizes = [s for s in SIZES if s <= args.max_pairs] or [args.max_pairs]
    if args.make_peer_venv and not (args.peer_venv / "bin" / "python").is_file():
        make_peer_venv(args.peer_venv)
    if not (args.peer_venv / "bin" / "python").is_file():
        print(f"no peer virtualenv at {args.peer_venv} (pass --make-peer-venv): the peer ratio is skipped")
    ensure_universe(args.data, sizes[-1])
    print(f"universe: {TICKERS} tickers x {SESSIONS} sessions (Parquet, {args.data}); machine: {os.cpu_count()} cores")
    print(f"prepared in {prepare(args.data, args.memory_limit, not args.no_cli):.1f} s (not measured): {PREPARED}")
    rows, check, floors = [], None, []
    for pairs in sizes:
        try:
            lib = measure_library(args.data, pairs, args.memory_limit, warm=pairs <= args.peer_max)
        except RuntimeError as exc:
            reason = "out of memory" if "MemoryError" in str(exc) else str(exc).strip().splitlines()[-1]
            print(f"{pairs:,} pairs: in-library run failed ({reason}, limit {args.memory_limit:g} GB)", flush=True)
            continue
        cli = (np.nan, np.nan) if args.no_cli else measure_cli(args.data, pairs, args.memory_limit)
        per_event = (np.nan, np.nan) if args.no_cli else measure_cli(args.data, pairs, args.memory_limit, "event+all")
        peer = measure_peer(args.peer_venv, args.data, pairs) if pairs <= args.peer_max else None
        if peer and check is None:
            check = check_against_peer(args.data, pairs, peer["npz"])
        rows.append(summarise(pairs, lib, cli, per_event, peer))
        floors.append((lib["floor_car_diff"], lib["floor_t_diff"]))
        print_row(rows[-1], header=len(rows) == 1)
    if check:
        print(check)
    if floors:
        car_diff, t_diff = np.max(floors, axis=0)
        print(f"the compute floor against the engine: max |CAR diff| {car_diff:.1e}, max rel. diff of t {t_diff:.1e}")


PREPARE_PAIRS = 30_000  # more than one chunk of the pair stage (25,000 pairs) and parallel kernels
PREPARED = "the package's bytecode compiled, the kernels of a study in numba's on-disk cache"


def prepare(data: Path, limit_gb: float, cli: bool) -> float:
    """What installing the package leaves behind, done before any size is measured; returns its seconds.

    The package's bytecode: pip compiles it at install, but a source tree (this script runs the checkout) under
    ``PYTHONDONTWRITEBYTECODE=1``, as this project's machines set it, has none, and every process would compile its
    modules again (about 0.3 s of each process). numba's on-disk cache of the kernels: a fresh checkout compiles
    them on their first use (a minute or more), which the first sizes' rows would show instead of the engine. A study
    of ``PREPARE_PAIRS`` pairs runs every kernel the sizes do: the parallel ones (a job of 1,000 pairs runs the
    serial kernels only) and the pair stage's pipeline of several chunks.
    """
    clock = time.perf_counter()
    compileall.compile_dir(ROOT / "eventstudy", quiet=1)
    pairs = min(PREPARE_PAIRS, json.loads((data / "universe.json").read_text())["pairs"])
    measure_library(data, pairs, limit_gb, warm=True)
    if cli:
        for group_tests in ("all", "event+all"):
            measure_cli(data, pairs, limit_gb, group_tests)
    return time.perf_counter() - clock


def summarise(pairs: int, lib: dict, cli: tuple, per_event: tuple, peer: dict | None) -> dict:
    """One printed row; ``cli`` and ``per_event`` are (wall s, peak MB) of ``eventstudy run`` with ``--group-tests``
    all and event+all."""
    ph = lib["phases"]
    pair_stage = ph["panel"] + ph["model"] + ph["statistics"]
    parametric = pair_stage + ph["tests"]
    limit = lib["read_gbs"] * 1e9 / (DAYS * 2 * 8)
    peer_rate = pairs / peer["compute"] if peer else np.nan
    return {
        "pairs": pairs,
        "wall": lib["wall"],
        "fit/s": pairs / lib["fit"],
        "AR..param/s": pairs / parametric,
        "AR,CAR,t/s": pairs / pair_stage,
        "peak MB": lib["peak_mb"],
        **{p: ph.get(p, 0.0) for p in PHASES},
        "limit/s": limit,
        "floor/s": lib["floor"],
        "cli s": cli[0],
        "cli MB": cli[1],
        "event+all s": per_event[0],
        "ev+all MB": per_event[1],
        "peer/s": peer_rate,
        "x peer lib": pairs / pair_stage / peer_rate if peer else np.nan,
        "x peer warm": pairs / lib["warm"] / peer_rate if peer and lib.get("warm") else np.nan,
        "x peer scope": pairs / lib["scope"] / peer_rate if peer and lib.get("scope") else np.nan,
        "peer proc s": peer["wall"] if peer else np.nan,
        "x peer proc": peer["wall"] / cli[0] if peer else np.nan,
    }


def print_row(row: dict, header: bool) -> None:
    widths = {k: max(len(k), 9) for k in row}
    if header:
        print(" ".join(k.rjust(widths[k]) for k in row))
    cells = []
    for k, v in row.items():
        text = f"{v:,}" if k == "pairs" else fmt_rate(v) if k.endswith("/s") or "MB" in k else f"{v:.2f}"
        cells.append(text.rjust(widths[k]))
    print(" ".join(cells), flush=True)


if __name__ == "__main__":
    main()
