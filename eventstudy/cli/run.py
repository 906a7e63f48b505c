"""``eventstudy run``: one event study from files (or the local price store) to a folder of tidy CSVs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pandas as pd

from eventstudy.cli.progress import terminal_progress
from eventstudy.engine.normal import ALL_MODELS
from eventstudy.engine.study import DEFAULT_ESTIMATION, DEFAULT_WINDOWS, EventStudy
from eventstudy.errors import InputError
from eventstudy.events.catalog import read_events, read_listings
from eventstudy.io import atomic_directory, check_output_folder, read_manifest
from eventstudy.kernel_cache import warm_up
from eventstudy.prices.files import MAX_MOVE, read_prices
from eventstudy.results import TABLES


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip() or not val.strip():
            example = "USAR=2025-03-14" if what == "--listed" else "XSHG=000300.SS"
            raise InputError(f"{what} {value!r} is not KEY=VALUE (e.g. {example})")
        if key.strip() in out:
            raise InputError(f"{what} names {key.strip()} twice ({out[key.strip()]}, {val.strip()}): give it once")
        out[key.strip()] = val.strip()
    return out


def _markets(values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    out = {}
    for value in values:
        if "=" in value:
            out.update(_pairs((value,), "--market"))
        else:
            out["*"] = value.strip()
    return out


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def study_inputs(events_path, catalog, kind, event_ids, tickers, out, force, files) -> tuple:
    """Check the event source and the output folder (before any work, so a refused --out costs nothing), then
    select the events. Returns the events studied, the events masked (as :func:`select_events`) and the input
    paths, which the output folder must never hold."""
    if bool(events_path) == bool(catalog):
        raise InputError("give exactly one of --events FILE or --catalog FILE")
    inputs = [p for p in (events_path, catalog, *files) if p]
    check_output_folder(out, force, inputs)
    return (*select_events(events_path, catalog, kind, event_ids, tickers), inputs)


def select_events(events_path, catalog, kind, event_ids, tickers) -> tuple:
    """The events studied and the events masked (the whole catalog; None = the studied ones)."""
    ticker_list = _split(tickers)
    if catalog:
        full = read_events(catalog, ticker_list or None)
        return full.select(kind=_split(kind) or None, event_ids=list(event_ids) or None), full
    if kind or event_ids:
        raise InputError("--kind and --event select from a --catalog; with --events, filter the file instead")
    return read_events(events_path, ticker_list or None), None


def _load_prices(prices: tuple[str, ...], store: str | None, offline: bool, tickers: list[str], events, lazy: bool):
    """The study's prices: a frame, or (``lazy``, for --scheduler) what the Dask tasks read by ticker."""
    if prices:
        return list(prices) if lazy else read_prices(list(prices), tickers)
    from eventstudy.prices.store import PriceStore

    dates = events.frame["date"]
    start = dates.min() - pd.Timedelta(days=420)
    end = min(dates.max() + pd.Timedelta(days=60), pd.Timestamp.today().normalize())
    price_store = PriceStore(store)
    report = price_store.ensure(tickers, start, end, offline=offline, strict=False)
    if report.warning:
        click.echo(f"warning: {report.warning}", err=True)
    if lazy:
        from eventstudy.scale.sources import StorePrices

        return StorePrices(str(price_store.path), start, end)
    return price_store.load(tickers, start, end)


@click.command()
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False),
    help="Events CSV: event_id,ticker,date[,time,timezone,label] or event_id,date with --tickers.",
)
@click.option(
    "--catalog",
    type=click.Path(dir_okay=False),
    help="Announcement catalog (e.g. seeds/events.csv): every selected event over --tickers; "
    "all its events are masked out of estimation windows.",
)
@click.option("--event", "event_ids", multiple=True, help="With --catalog: only this event id (repeatable).")
@click.option(
    "--kind", help="With --catalog: only events of this kind (tightening, easing). Comma-separated for several."
)
@click.option(
    "--prices",
    multiple=True,
    type=click.Path(exists=True),
    help="Price file or folder (repeatable). Without it, the local price store is used.",
)
@click.option(
    "--store", type=click.Path(dir_okay=False), help="Price store file (default $EVENTSTUDY_HOME/prices.duckdb)."
)
@click.option("--offline", is_flag=True, help="With the store: never download; fail with what is missing.")
@click.option("--tickers", help="Tickers applied to every event (comma-separated).")
@click.option(
    "--market",
    multiple=True,
    help="Benchmark: TICKER for every venue, or VENUE=TICKER (e.g. XSHG=000300.SS); repeatable.",
)
@click.option("--model", type=click.Choice(ALL_MODELS), default="market", show_default=True)
@click.option("--factors", help="Factor tickers for --model factor, after the market (comma-separated).")
@click.option(
    "--factors-file",
    "factors_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Daily factor file for --model ff3|ff5|carhart: Ken French daily CSV as distributed, or "
    "date,Mkt-RF,SMB,HML,RF,... in decimals (repeatable: e.g. the momentum file too).",
)
@click.option(
    "--beta",
    type=click.Choice(["ols", "dimson", "scholes-williams"]),
    default="ols",
    show_default=True,
    help="Market-model beta: OLS, or robust to thin trading (Dimson 1979, Scholes-Williams 1977).",
)
@click.option(
    "--volume",
    type=click.Choice(["mean", "market"]),
    help="Also abnormal volume (av.csv, cav.csv, tests.csv measure=volume): log(1 + volume) against its "
    "estimation-window mean, or a market model on the benchmark's log volume.",
)
@click.option(
    "--max-move",
    type=float,
    default=MAX_MOVE,
    show_default=True,
    help="Largest plausible one-day price factor: a price above FACTOR times (or below 1/FACTOR of) the previous "
    "session's is a data error, not a return.",
)
@click.option("--jobs", default=1, show_default=True, help="Processes for the per-pair GARCH fits (--model garch).")
@click.option(
    "--estimation",
    nargs=2,
    type=int,
    default=DEFAULT_ESTIMATION,
    show_default=True,
    help="Estimation window A B in event time.",
)
@click.option(
    "--window",
    "windows",
    nargs=2,
    type=int,
    multiple=True,
    help="Event window A B (repeatable). Default: -1 1, 0 0, 0 5, -5 10.",
)
@click.option(
    "--calendar",
    help="Exchange calendar for every ticker (e.g. XNYS), or 'data' for the dates in the prices. "
    "Default: each ticker's own venue.",
)
@click.option(
    "--venue", "venues", multiple=True, help="TICKER=VENUE for a ticker without a known exchange suffix (repeatable)."
)
@click.option("--listed", multiple=True, help="TICKER=YYYY-MM-DD first valid trading date (repeatable).")
@click.option("--listings", type=click.Path(dir_okay=False), help="Listings CSV: ticker,first_valid_date.")
@click.option("--confounders", type=click.Path(dir_okay=False), help="Confounders CSV: date,ticker('*' = all),label.")
@click.option("--min-obs", default=60, show_default=True, help="Minimum clean estimation returns per pair.")
@click.option(
    "--on-insufficient",
    type=click.Choice(["skip", "market-adjusted"]),
    default="skip",
    show_default=True,
    help="Pairs below --min-obs: skip with a reason, or fall back to market-adjusted returns (disclosed).",
)
@click.option("--returns", "returns_kind", type=click.Choice(["simple", "log"]), default="simple", show_default=True)
@click.option(
    "--group-tests",
    type=click.Choice(["event+all", "all"]),
    default="event+all",
    show_default=True,
    help="Test battery per event and pooled, or pooled only.",
)
@click.option(
    "--scheduler",
    help="Run on Dask: 'local' (a cluster of this machine's cores) or a scheduler address tcp://HOST:PORT. "
    "Same results as without it; tasks read only their tickers' prices.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    help="With --scheduler: number of tasks (ticker groups). Default: one per 20,000 pairs, at least two per worker.",
)
@click.option(
    "--mask",
    type=click.Choice(["catalog", "events", "none"]),
    help="Events whose windows are masked out of estimation windows: every catalogued event (default with "
    "--catalog), the studied events (default with --events), or none (backtests with many events per ticker).",
)
@click.option(
    "--format",
    "table_format",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="File format of the tables.",
)
@click.option(
    "--report", "with_report", is_flag=True, help="Also write report.html and report.md (and prices.csv) into --out."
)
@click.option(
    "--placebo",
    "placebo_draws",
    type=click.IntRange(min=0),
    default=None,
    help="In-time placebo draws (pseudo-event dates of the same tickers); 0 = off. "
    "Default: 99 for the pooled group when that is at most 20,000 pseudo pairs, else off.",
)
@click.option(
    "--bootstrap",
    "bootstrap_draws",
    type=click.IntRange(min=0),
    default=999,
    show_default=True,
    help="Draws of the wild cluster bootstrap of the CAAR (Rademacher weights shared within a calendar date; "
    "every sign pattern when 2^dates <= N); 0 = off.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed of the placebo and bootstrap draws (same seed, same draws)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Output folder: a new folder, or a previous run's (its files are replaced). Never one holding other files.",
)
@click.option(
    "--force", is_flag=True, help="Write into a --out folder that holds other files (only the run's own files change)."
)
def run(
    events_path,
    catalog,
    event_ids,
    kind,
    prices,
    store,
    offline,
    tickers,
    market,
    model,
    factors,
    factors_files,
    beta,
    max_move,
    jobs,
    volume,
    estimation,
    windows,
    calendar,
    venues,
    listed,
    listings,
    confounders,
    min_obs,
    on_insufficient,
    returns_kind,
    group_tests,
    scheduler,
    partitions,
    mask,
    table_format,
    placebo_draws,
    bootstrap_draws,
    seed,
    with_report,
    out,
    force,
) -> None:
    """Run an event study and write ar.csv, car.csv, parameters.csv, aar.csv, tests.csv, alignment.csv.

    \b
    Example (the 2025-10-09 rare-earth controls, four US names against SPY):
      eventstudy run --catalog seeds/events.csv --kind tightening \\
          --tickers MP,USAR,CRML,UUUU --market SPY --listings seeds/listings.csv \\
          --prices ../shared/data/prices --out runs/tightening
    """
    warm_up()  # numba's set-up overlaps reading the inputs
    selected, mask_events, inputs = study_inputs(
        events_path, catalog, kind, event_ids, tickers, out, force, (listings, confounders, *prices, *factors_files)
    )
    if mask == "catalog" and mask_events is None:
        raise InputError("--mask catalog masks the events of a --catalog; with --events use --mask events or none")
    listed_dates = read_listings(listings) if listings else {}
    listed_dates.update(read_listings(_pairs(listed, "--listed")))
    markets = _markets(market)
    factor_list = _split(factors)
    needed = list(dict.fromkeys([*selected.tickers, *(markets or {}).values(), *factor_list]))
    if partitions and not scheduler:
        raise InputError("--partitions splits a --scheduler run: add --scheduler local or tcp://HOST:PORT")
    frame = _load_prices(prices, store, offline, needed, selected, lazy=bool(scheduler))
    options = dict(
        market=markets,
        model=model,
        factors=factor_list,
        estimation=tuple(estimation),
        windows=[tuple(w) for w in windows] or DEFAULT_WINDOWS,
        calendar=calendar,
        venues=_pairs(venues, "--venue"),
        listed=listed_dates,
        min_obs=min_obs,
        on_insufficient=on_insufficient,
        returns=returns_kind,
        mask_events=mask_events,
        confounders=confounders,
        group_tests=group_tests,
        factors_file=list(factors_files) or None,
        beta=beta,
        jobs=jobs,
        max_move=max_move,
        volume=volume,
        mask=mask,
        placebo_draws=placebo_draws,
        bootstrap_draws=bootstrap_draws,
        seed=seed,
    )
    if scheduler:
        from eventstudy.scale import fit_distributed

        with terminal_progress("partitions") as progress:
            results = fit_distributed(
                selected, frame, scheduler=scheduler, partitions=partitions, progress=progress, **options
            )
    else:
        results = EventStudy(selected, frame, **options).fit(prices_table=with_report)
    if prices:
        results.config["prices"] = [str(Path(p).resolve()) for p in prices]
    tables = TABLES if with_report else tuple(t for t in TABLES if t != "prices")
    with ThreadPoolExecutor(1) as side:  # the summary's text work beside the writers' (GIL-free) encoding
        summary = side.submit(results.summary)
        with atomic_directory(out, force, inputs) as tmp:
            results.write_tables(tmp, table_format, tables)
            if with_report:
                from eventstudy.report import write_report

                write_report(results, tmp)
        text = summary.result()
    click.echo(text)
    written = sorted(n for n in read_manifest(Path(out)) if "/" not in n) + (["figures/"] if with_report else [])
    click.echo(f"\nwrote {', '.join(written)} to {out}")
