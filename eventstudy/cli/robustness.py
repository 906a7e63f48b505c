"""``eventstudy robustness``: the study across models, benchmarks and estimation windows, as a table and heatmap."""

from __future__ import annotations

import io
from pathlib import Path

import click

from eventstudy.cli.options import event_price_options
from eventstudy.cli.run import _load_prices, _split, study_inputs
from eventstudy.engine.robustness import GRID_MODELS, robustness
from eventstudy.engine.study import DEFAULT_WINDOWS
from eventstudy.events.catalog import read_listings
from eventstudy.io import FORMATS, RUN_MARKER, add_to_run, atomic_directory, table_bytes
from eventstudy.plotting import plot_robustness


@click.command(name="robustness")
@event_price_options
@click.option(
    "--models",
    default="market,market-adjusted,factor",
    show_default=True,
    help=f"Comma-separated, from {', '.join(GRID_MODELS)}.",
)
@click.option("--benchmarks", default="SPY,IWM,REMX", show_default=True, help="Market benchmarks (comma-separated).")
@click.option("--factor", default="REMX", show_default=True, help="The extra factor of the 'factor' model.")
@click.option("--factors-file", "factors_files", multiple=True, type=click.Path(dir_okay=False), help="For ff3.")
@click.option(
    "--estimation", "estimations", nargs=2, type=int, multiple=True, help="Estimation window A B (repeatable)."
)
@click.option("--window", "windows", nargs=2, type=int, multiple=True, help="Event window A B (repeatable).")
@click.option("--listings", type=click.Path(dir_okay=False), help="Listings CSV: ticker,first_valid_date.")
@click.option("--confounders", type=click.Path(dir_okay=False), help="Confounders CSV: date,ticker,label.")
@click.option(
    "--format", "table_format", type=click.Choice(FORMATS), default="csv", show_default=True, help="Table format."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: a new one, or a run's (`eventstudy run --out`): the grid is added to its files and "
    "`eventstudy report` shows it.",
)
@click.option("--force", is_flag=True, help="Write into an existing folder of other files.")
def robustness_command(
    events_path,
    catalog,
    event_ids,
    kind,
    tickers,
    prices,
    store,
    offline,
    models,
    benchmarks,
    factor,
    factors_files,
    estimations,
    windows,
    listings,
    confounders,
    table_format,
    out,
    force,
) -> None:
    """Run the study under every model x benchmark x estimation window; write robustness.csv (or .parquet) and
    robustness.png.

    \b
    Example (2025-10-09):
      eventstudy robustness --catalog seeds/events.csv --event E09 --tickers MP,USAR,CRML,UUUU \\
          --listings seeds/listings.csv --prices ../shared/data/prices --window 0 1 --out runs/robust
    """
    selected, mask_events, inputs = study_inputs(
        events_path, catalog, kind, event_ids, tickers, out, force, (listings, confounders, *prices, *factors_files)
    )
    bench = _split(benchmarks)
    frame = _load_prices(prices, store, offline, [*selected.tickers, *bench, factor], selected, lazy=False)
    table = robustness(
        selected,
        frame,
        models=_split(models),
        benchmarks=bench,
        estimations=[tuple(e) for e in estimations] or [(-250, -11), (-120, -11)],
        windows=[tuple(w) for w in windows] or DEFAULT_WINDOWS,
        factor=factor,
        factors_file=list(factors_files) or None,
        listed=read_listings(listings) if listings else None,
        mask_events=mask_events,
        confounders=confounders,
    )
    figure = io.BytesIO()
    plot_robustness(table).savefig(figure, format="png", dpi=120)
    files = {f"robustness.{table_format}": table_bytes(table, table_format), "robustness.png": figure.getvalue()}
    if (Path(out) / RUN_MARKER).is_file():  # a run folder: add the grid to its files, touch nothing else
        add_to_run(out, files, replaces=[f"robustness.{f}" for f in FORMATS if f != table_format])
    else:
        with atomic_directory(out, force, inputs) as tmp:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
    click.echo(
        table.pivot_table(index=["model", "benchmark", "estimation"], columns=["ticker", "window"], values="car")
        .round(4)
        .to_string()
    )
    click.echo(f"\nwrote {', '.join(files)} to {out}")
