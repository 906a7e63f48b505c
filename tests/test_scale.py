"""The same study on a Dask cluster (a ``distributed.LocalCluster`` on 127.0.0.1 with two worker processes): every
table equals the in-process one (numbers to 1e-12 relative; in practice identical), also when a worker dies in the
middle of the run, and on the real seed data through ``eventstudy run --scheduler tcp://...``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

import eventstudy.scale.cluster as cluster_module
from eventstudy import EventStudy
from eventstudy.cli import main
from eventstudy.errors import ClusterError, InputError, PriceDataError
from eventstudy.prices.dataset import write_price_dataset
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import PriceStore
from eventstudy.results import TABLES
from eventstudy.scale import fit_distributed
from eventstudy.scale.sources import DatasetPrices
from eventstudy.simulate import simulate_study

cloudpickle.register_pickle_by_value(__import__(__name__))  # workers need not import this test module

RTOL = 1e-12


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # health routes: any free port
            memory_limit="1GiB",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    """Simulated market: 24 events x 4 firms on random dates, each firm with a second event 3 days earlier (so
    masking and contamination matter), written as a price dataset partitioned by ticker."""
    sim = simulate_study(n_events=24, n_firms=4, effect=0.01, rho=0.3, same_date=False, seed=11)
    early = sim.events.assign(event_id=sim.events["event_id"] + "x", date=sim.events["date"] - pd.Timedelta(days=3))
    events = pd.concat([sim.events, early], ignore_index=True)
    prices = sim.prices.astype({"date": "datetime64[ns]"}).sort_values(["ticker", "date"], ignore_index=True)
    # gaps: 1% of rows missing, and one session only S00000 traded (so a partition's own dates are
    # not the study's date grid, and trade-to-trade returns span the gaps)
    lone_session = (prices["date"] == prices["date"].unique()[150]) & (prices["ticker"] != "S00000")
    random_gaps = (np.random.default_rng(2).random(len(prices)) < 0.01) & (prices["ticker"] != sim.market)
    prices = prices[~(lone_session | random_gaps)].reset_index(drop=True)
    dataset = write_price_dataset(prices, tmp_path_factory.mktemp("sim") / "prices")
    pd.testing.assert_frame_equal(read_prices(dataset), prices)
    options = {
        "market": sim.market,
        "calendar": "data",
        "group_tests": "event+all",
        "windows": [(0, 1), (-2, 5)],
        "placebo_draws": 0,  # placebo draws run in-process only
    }
    expected = EventStudy(events, prices, **options).fit()
    assert (expected.car["contaminated"] != "").any()
    return events, dataset, prices, options, expected


def assert_same_results(got, expected) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=False, rtol=RTOL, atol=0)
    assert got.config == expected.config


def test_simulated_universe_equals_the_in_process_study(client, universe):
    events, dataset, prices, options, expected = universe
    seen = []
    got = fit_distributed(
        events, dataset, scheduler=client, partitions=5, progress=lambda d, n: seen.append((d, n)), **options
    )
    assert_same_results(got, expected)
    assert seen == [(i, 5) for i in range(6)]
    address = client.scheduler.address  # tcp://127.0.0.1:PORT, as a user would pass it
    assert_same_results(fit_distributed(events, prices, scheduler=address, partitions=3, **options), expected)


@dataclass(frozen=True)
class Killing(DatasetPrices):
    """Reads like a dataset, but a task that loads ``victim`` kills its worker process, the first ``times`` times
    (each kill appends the worker's pid to the ``flag`` file)."""

    flag: str = ""
    victim: str = ""
    times: int = 1

    def load(self, tickers):
        flag = Path(self.flag)
        if self.victim in tickers and (not flag.exists() or len(flag.read_text().split()) < self.times):
            with flag.open("a") as fh:
                fh.write(f"{os.getpid()}\n")
            os._exit(1)
        return super().load(tickers)


def test_a_worker_killed_mid_run_is_replaced_and_the_result_is_identical(client, universe, tmp_path):
    events, dataset, prices, options, expected = universe
    before = set(client.run(os.getpid).values())
    victim = sorted(events["ticker"].unique())[-1]  # in the last partition: others are done or running by then
    source = Killing(str(dataset), flag=str(tmp_path / "killed"), victim=victim)
    got = fit_distributed(events, source, scheduler=client, partitions=4, **options)
    assert_same_results(got, expected)
    (killed,) = map(int, (tmp_path / "killed").read_text().split())
    assert killed in before
    client.wait_for_workers(2, timeout=60)
    assert killed not in set(client.run(os.getpid).values())  # the nanny started a new worker process


SEED_TICKERS = ["MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"]


@pytest.mark.parametrize("source", ["folder", "store"])
def test_cli_on_the_real_seed_data_writes_the_same_files(client, prices_dir, tmp_path, source):
    if source == "folder":  # tasks read their tickers' CSV files
        prices = ["--prices", str(prices_dir)]
    else:  # no --prices: the DuckDB store, which tasks open read-only
        store = tmp_path / "prices.duckdb"
        PriceStore(store).import_paths([prices_dir / f"{t}.csv" for t in [*SEED_TICKERS, "SPY"]])
        prices = ["--store", str(store), "--offline"]
    study = [
        *("--catalog", "seeds/events.csv", "--kind", "tightening"),
        *("--tickers", ",".join(SEED_TICKERS), "--market", "SPY"),
        *("--listings", "seeds/listings.csv", "--confounders", "seeds/confounders.csv"),
        *("--window", "0", "1", "--window", "-1", "1", *prices),
        *("--placebo", "0"),  # placebo draws run in-process only
    ]
    root = Path(__file__).resolve().parents[1]
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        alone = runner.invoke(main, ["run", *study, "--out", str(tmp_path / "alone")])
        spread = runner.invoke(
            main,
            [
                "run",
                *study,
                "--scheduler",
                client.scheduler.address,
                "--partitions",
                "3",
                "--out",
                str(tmp_path / "dask"),
            ],
        )
    finally:
        os.chdir(cwd)
    assert alone.exit_code == 0, alone.output
    assert spread.exit_code == 0, spread.output
    # not a terminal: no progress bar, the output is the in-process run's, line for line
    assert spread.output.replace(str(tmp_path / "dask"), "OUT") == alone.output.replace(str(tmp_path / "alone"), "OUT")
    for name in [*TABLES, "run"]:
        suffix = ".json" if name == "run" else ".csv"
        a, b = tmp_path / "alone" / f"{name}{suffix}", tmp_path / "dask" / f"{name}{suffix}"
        if not a.exists():  # prices.csv is written only with --report
            assert name == "prices" and not b.exists()
            continue
        if a.read_bytes() != b.read_bytes():  # identical in practice; the contract is 1e-12 relative
            pd.testing.assert_frame_equal(pd.read_csv(b), pd.read_csv(a), check_exact=False, rtol=RTOL, atol=0)
    tests = pd.read_csv(tmp_path / "dask" / "tests.csv")
    assert np.isfinite(tests.loc[tests["test"] == "kp_bmp_t", "statistic"]).all()


def test_scheduler_mistakes_are_one_line_errors(client, universe, monkeypatch):
    events, dataset, _, options, _ = universe
    with pytest.raises(PriceDataError, match="ticker\\(s\\) NOPE not in the price data"):  # raised in a task
        fit_distributed(events, dataset, scheduler=client, **{**options, "market": "NOPE"})
    with pytest.raises(InputError, match="use 'local' or a scheduler address"):
        fit_distributed(events, dataset, scheduler="127.0.0.1:8786", **options)
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        fit_distributed(events, dataset, scheduler="tcp://127.0.0.1:9", **options)
    result = CliRunner().invoke(main, ["run", "--events", "x.csv", "--partitions", "2", "--out", "o"])
    assert result.exit_code == 2


def _allow_failures(n: int, dask_scheduler=None) -> int:
    before, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, n
    return before


def test_a_task_that_keeps_killing_workers_ends_the_run_with_one_error(client, universe, tmp_path):
    events, dataset, _, options, _ = universe
    before = client.run_on_scheduler(_allow_failures, 0)  # give up at the first lost worker (default: 3 retries)
    try:
        source = Killing(str(dataset), flag=str(tmp_path / "killed"), victim="S00000", times=10**6)
        with pytest.raises(ClusterError, match="a task kept killing its Dask worker"):
            fit_distributed(events, source, scheduler=client, partitions=2, **options)
    finally:
        client.run_on_scheduler(_allow_failures, before)
        client.wait_for_workers(2, timeout=60)
