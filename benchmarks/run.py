"""Throughput benchmark: event-firm pairs per second and peak memory of ``EventStudy.fit`` on simulated markets.

Run ``python benchmarks/run.py`` (``--quick`` for a smaller grid). Prints one line per size; not a test. Each size
runs in a fresh process: ``seconds`` times ``fit()`` alone (panel, models, statistics, tidy tables), ``peak RSS``
is that process's high-water mark including the simulated prices.
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from eventstudy import EventStudy
from eventstudy.simulate import simulate_study


def measure(n_events: int, n_firms: int, group_tests: str) -> dict:
    sim = simulate_study(n_events=n_events, n_firms=n_firms, effect=0.01, rho=0.1, same_date=False, seed=1)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", group_tests=group_tests)
    start = time.perf_counter()
    results = study.fit()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = len(results.parameters)
    return {"pairs": pairs, "seconds": seconds, "pairs_per_s": pairs / seconds, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    sizes = [(100, 10), (500, 10)] if args.quick else [(100, 10), (1000, 10), (2000, 10), (5000, 4)]
    print(f"{'events':>7} {'firms':>6} {'pairs':>7} {'tests':>10} {'seconds':>8} {'pairs/s':>9} {'peak RSS MB':>12}")
    for n_events, n_firms in sizes:
        for group_tests in ("all", "event+all"):
            if group_tests == "event+all" and n_events > 1000:
                continue
            with ProcessPoolExecutor(max_workers=1) as pool:
                m = pool.submit(measure, n_events, n_firms, group_tests).result()
            print(
                f"{n_events:>7} {n_firms:>6} {m['pairs']:>7} {group_tests:>10} {m['seconds']:>8.2f} "
                f"{m['pairs_per_s']:>9.0f} {m['peak_mb']:>12.0f}"
            )


if __name__ == "__main__":
    main()
