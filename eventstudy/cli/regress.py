"""``eventstudy regress``: the second stage, CARs of a run on firm characteristics."""

from __future__ import annotations

from pathlib import Path

import click

from eventstudy.inference.regression import COV_TYPES
from eventstudy.io import atomic_write_text, neutralize_formulas
from eventstudy.results import EventStudyResults


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
@click.option("--out", type=click.Path(dir_okay=False), help="Output CSV (default RUN_DIR/regression.csv).")
def regress(run_dir, characteristics, window, cov, out) -> None:
    """OLS of each pair's CAR over --window on firm characteristics; writes regression.csv.

    \b
    Example:
      eventstudy regress runs/e09 --characteristics chars.csv --window 0 1 --cov hc3
    """
    results = EventStudyResults.from_dir(run_dir)
    table = results.regress(characteristics, window=tuple(window), cov=cov)
    path = Path(out) if out else Path(run_dir) / "regression.csv"
    atomic_write_text(path, neutralize_formulas(table).to_csv(index=False))
    click.echo(table.to_string(index=False))
    click.echo(f"\nwrote {path}")
