"""``eventstudy prices``: the local price store (import files, fetch from Yahoo, list coverage, export) and the
Parquet dataset partitioned by ticker."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from eventstudy.cli.progress import terminal_progress
from eventstudy.errors import PriceDataError
from eventstudy.prices.dataset import write_price_dataset
from eventstudy.prices.files import read_prices
from eventstudy.prices.store import ImportReport, PriceStore

_MAX_LINES = 20


@click.group("prices")
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Store file (default: $EVENTSTUDY_HOME/prices.duckdb, else the user cache directory).",
)
@click.pass_context
def prices(ctx: click.Context, store_path: Path | None) -> None:
    """Keep daily prices in a local DuckDB store, so studies rerun offline.

    \b
    eventstudy prices import ../shared/data/prices     files or folders, CSV or Parquet
    eventstudy prices fetch MP USAR --start 2023-01-01 from Yahoo Finance, only what is missing
    eventstudy prices list                             coverage per ticker
    eventstudy prices export prices.parquet --tickers MP,SPY
    eventstudy prices dataset prices_ds --from ../shared/data/prices   Parquet dataset partitioned by ticker
    """
    ctx.obj = PriceStore(store_path)


def _table(frame: pd.DataFrame) -> str:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out.to_string(index=False)


def _show(report: ImportReport) -> None:
    click.echo(report.summary())
    table = report.per_ticker.merge(report.quality.summary.drop(columns=["rows"]), on="ticker", how="left").rename(
        columns={"missing_sessions": "missing", "split_suspects": "splits?", "flat_runs": "flat"}
    )
    click.echo(_table(table))
    issues = report.quality.issues
    if len(issues):
        click.echo(f"\ndata checks: {len(issues)} findings (reported, not changed)")
        click.echo(_table(issues.head(_MAX_LINES)))
        if len(issues) > _MAX_LINES:
            click.echo(f"... and {len(issues) - _MAX_LINES} more")
    if len(report.conflicts):
        verb = "replaced" if report.replace else "kept as stored"
        click.echo(f"\nconflicts: {len(report.conflicts)} values differ from the store ({verb})", err=True)
        click.echo(_table(report.conflicts.head(_MAX_LINES)), err=True)
        if len(report.conflicts) > _MAX_LINES:
            click.echo(f"... and {len(report.conflicts) - _MAX_LINES} more", err=True)


def _finish(report: ImportReport) -> None:
    """Exit status 1 when conflicting values were kept (so scripts notice); 0 otherwise."""
    if len(report.conflicts) and not report.replace:
        click.echo("rerun with --replace to overwrite the stored values", err=True)
        sys.exit(1)


@prices.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite stored values that differ from the files.")
@click.pass_obj
def import_(store: PriceStore, paths: tuple[Path, ...], replace: bool) -> None:
    """Import price files or folders (per-ticker CSVs, long or wide CSV/Parquet) in one transaction.

    Re-importing the same data changes nothing. A value that differs from the stored one is reported with
    both values and kept as stored unless --replace; the exit status is then 1.
    """
    with terminal_progress("writing") as progress:
        report = store.import_paths(list(paths), replace=replace, progress=progress)
    click.echo(f"store: {store.path}")
    _show(report)
    _finish(report)


@prices.command("fetch")
@click.argument("tickers", nargs=-1, required=True)
@click.option("--start", default=None, help="First date (YYYY-MM-DD); default ten years before --end.")
@click.option("--end", default=None, help="Last date, inclusive (YYYY-MM-DD); default today.")
@click.pass_obj
def fetch(store: PriceStore, tickers: tuple[str, ...], start: str | None, end: str | None) -> None:
    """Download daily prices from Yahoo Finance into the store, only the ranges it does not hold yet."""
    try:
        last = pd.Timestamp(end) if end else pd.Timestamp.today().normalize()
        first = pd.Timestamp(start) if start else last - pd.DateOffset(years=10)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (use YYYY-MM-DD)") from None
    if first > last:
        raise click.BadParameter(f"--start {first:%Y-%m-%d} is after --end {last:%Y-%m-%d}")
    tickers = tuple(t.upper() for t in tickers)
    result = store.ensure(list(tickers), first, last)
    click.echo(f"store: {store.path}")
    if result.fetched is None:
        click.echo(f"nothing to fetch: the store holds {', '.join(tickers)} from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
        return
    _show(result.fetched)
    _finish(result.fetched)


@prices.command("list")
@click.pass_obj
def list_(store: PriceStore) -> None:
    """Coverage per ticker: first and last date, stored sessions, sessions missing against the venue calendar
    between them, and the sources the rows came from."""
    cov = store.coverage()
    if cov.empty:
        click.echo(f"store {store.path} is empty: eventstudy prices import PATH or eventstudy prices fetch TICKER")
        return
    click.echo(f"store: {store.path} ({store.path.stat().st_size / 1e6:.1f} MB)")
    click.echo(_table(cov.fillna({"currency": "-"})))


@prices.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tickers", default=None, help="Comma-separated tickers (default: all).")
@click.pass_obj
def export(store: PriceStore, out: Path, tickers: str | None) -> None:
    """Write the stored prices to OUT as a long table (.csv or .parquet): date,ticker,open,...,volume."""
    names = [t.strip().upper() for t in tickers.split(",") if t.strip()] if tickers else None
    rows = store.export(out, names)
    click.echo(f"wrote {rows} rows to {out}")


@prices.command("dataset")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--from",
    "sources",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Price file or folder to read (repeatable); default: the store.",
)
@click.option("--tickers", default=None, help="Comma-separated tickers (default: all).")
@click.pass_obj
def dataset(store: PriceStore, out: Path, sources: tuple[Path, ...], tickers: str | None) -> None:
    """Write prices as a Parquet dataset partitioned by ticker (OUT/ticker=T/part-0.parquet).

    It is what `eventstudy run --scheduler` tasks read best: each opens only its tickers' files. `--prices OUT`
    reads it like any other price source.
    """
    names = [t.strip() for t in tickers.split(",") if t.strip()] if tickers else None
    frame = read_prices(list(sources)) if sources else store.load(names)
    if names is not None:
        frame = frame[frame["ticker"].isin(names)]
    if frame.empty:
        raise PriceDataError(f"no prices to write to {out}: import some first or pass --from PATH")
    write_price_dataset(frame, out)
    click.echo(f"wrote {len(frame)} rows of {frame['ticker'].nunique()} tickers to {out}")


@prices.command("rebuild")
@click.option(
    "--from",
    "sources",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Price file or folder to import into the fresh store (repeatable).",
)
@click.pass_obj
def rebuild(store: PriceStore, sources: tuple[Path, ...]) -> None:
    """Move a damaged store aside and rebuild it from price files."""
    moved, report = store.rebuild(list(sources))
    if moved is not None:
        click.echo(f"moved the old store to {moved}")
    click.echo(f"store: {store.path}")
    _show(report)
