"""``eventstudy regress``: the second stage, CARs of a run on firm characteristics."""

from __future__ import annotations

from pathlib import Path

import click

from eventstudy.errors import InputError
from eventstudy.inference.regression import COV_TYPES
from eventstudy.io import FORMATS, add_to_run, atomic_write_bytes, table_bytes
from eventstudy.results import EventStudyResults, run_format


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--characteristics",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV keyed by ticker (or event_id,ticker) with numeric firm characteristics.",
)
@click.option("--window", nargs=2, type=int, required=True, help="The event window A B whose CARs are regressed.")
@click.option("--cov", type=click.Choice(COV_TYPES), default="hc3", show_default=True, help="Standard errors.")
@click.option(
    "--format",
    "table_format",
    type=click.Choice(FORMATS),
    help="File format of the table (default: the run's own, as its car table).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Output file (default RUN_DIR/regression.csv or .parquet, added to the run's files).",
)
def regress(run_dir, characteristics, window, cov, table_format, out) -> None:
    """OLS of each pair's CAR over --window on firm characteristics; writes regression.csv (or .parquet).

    \b
    Example:
      eventstudy regress runs/e09 --characteristics chars.csv --window 0 1 --cov hc3
    """
    results = EventStudyResults.from_dir(run_dir)
    table = results.regress(characteristics, window=tuple(window), cov=cov)
    if out:
        suffix = Path(out).suffix[1:].lower()
        fmt = suffix if suffix in FORMATS else table_format or run_format(run_dir)
        if table_format and table_format != fmt:
            raise InputError(f"--out {out} is a .{suffix} file but --format is {table_format}: make them agree")
        path = atomic_write_bytes(out, table_bytes(table, fmt))
    else:
        fmt = table_format or run_format(run_dir)
        others = [f"regression.{f}" for f in FORMATS if f != fmt]
        (path,) = add_to_run(run_dir, {f"regression.{fmt}": table_bytes(table, fmt)}, replaces=others)
    click.echo(table.to_string(index=False))
    click.echo(f"\nwrote {path}")
