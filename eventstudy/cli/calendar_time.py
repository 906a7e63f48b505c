"""``eventstudy calendar-time``: the calendar-time portfolio of long-horizon returns and its alpha."""

from __future__ import annotations

import click

from eventstudy.cli.options import event_price_options
from eventstudy.cli.run import _load_prices, study_inputs
from eventstudy.engine.calendar_time import calendar_alpha, calendar_portfolio
from eventstudy.events.catalog import read_listings
from eventstudy.io import FORMATS, atomic_directory, write_table
from eventstudy.prices.factors import read_factors


@click.command(name="calendar-time")
@event_price_options
@click.option("--horizon", required=True, type=int, help="H: each pair is held over sessions [0, H].")
@click.option(
    "--model",
    type=click.Choice(["market", "ff3", "ff5", "carhart"]),
    default="market",
    show_default=True,
    help="Alpha against the market (--market) or Fama-French factors (--factors-file).",
)
@click.option("--market", help="Benchmark ticker for --model market.")
@click.option(
    "--factors-file", "factors_files", multiple=True, type=click.Path(dir_okay=False), help="For ff3/ff5/carhart."
)
@click.option("--lags", default=5, show_default=True, help="Newey-West lags.")
@click.option("--listings", type=click.Path(dir_okay=False), help="Listings CSV: ticker,first_valid_date.")
@click.option(
    "--format", "table_format", type=click.Choice(FORMATS), default="csv", show_default=True, help="Table format."
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--force", is_flag=True, help="Write into an existing folder of other files.")
def calendar_time(
    events_path,
    catalog,
    event_ids,
    kind,
    tickers,
    prices,
    store,
    offline,
    horizon,
    model,
    market,
    factors_files,
    lags,
    listings,
    table_format,
    out,
    force,
) -> None:
    """Equal-weighted portfolio of the firms in their [0, H] windows; its alpha with Newey-West errors.

    Writes calendar_portfolio.csv (date, n, return) and calendar_alpha.csv (term, coef, se, t, p_value, cov_type,
    n, r2; const = daily alpha), or .parquet with --format parquet.

    \b
    Example:
      eventstudy calendar-time --catalog seeds/events.csv --kind tightening --tickers MP,UUUU,NAK,TMQ \\
          --prices ../shared/data/prices --horizon 20 --market SPY --out runs/calendar
    """
    selected, _, inputs = study_inputs(
        events_path, catalog, kind, event_ids, tickers, out, force, (listings, *prices, *factors_files)
    )
    frame = _load_prices(prices, store, offline, [*selected.tickers, *([market] if market else [])], selected, False)
    listed = read_listings(listings) if listings else None
    portfolio = calendar_portfolio(selected, frame, horizon, listed=listed)
    table = read_factors(list(factors_files)) if factors_files else None
    alpha = calendar_alpha(portfolio, model=model, prices=frame, market=market, factor_table=table, lags=lags)
    tables = {"calendar_portfolio": portfolio, "calendar_alpha": alpha}
    with atomic_directory(out, force, inputs) as tmp:
        written = [write_table(data, tmp / name, table_format).name for name, data in tables.items()]
    click.echo(alpha.to_string(index=False))
    click.echo(f"\nwrote {', '.join(written)} to {out}")
