"""``eventstudy events``: propose events from articles (``extract``) and show an event catalog (``list``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pandas as pd

from eventstudy.errors import EventError, InputError
from eventstudy.events.catalog import KINDS
from eventstudy.events.extract import ExtractedEvent, extract_events
from eventstudy.io import atomic_write_text, neutralize_formulas


@click.group()
def events() -> None:
    """Build and inspect event files: extract proposals from articles, list a catalog."""


@events.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--published",
    metavar="YYYY-MM-DD",
    help="Publication date of the articles: resolves 'on Thursday', 'last week' and dates without a year, "
    "and is the fallback event date. Default: each article's own 'Published: YYYY-MM-DD' line or dateline.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the proposals as an events CSV here.")
def extract(files: tuple[str, ...], published: str | None, out: str | None) -> None:
    """Propose events from article FILEs: companies and tickers, elements, instruments, dates, direction.

    Every proposal shows the text span [start:end] that supports it and a confidence in [0, 1]; check them
    before a study. --out writes one row per (article, ticker) in the events format `eventstudy run` reads:
    event_id (the file name without extension), ticker, date, time, timezone, label, kind, source,
    confidence, evidence.

    \b
    Example:
      eventstudy events extract seeds/*.txt --published 2025-10-09 --out proposed.csv
    """
    pub = _parse_published(published)
    results = [(Path(f), extract_events(_read_text(Path(f)), published=pub, source=f)) for f in files]
    for path, result in results:
        click.echo(_describe(path, result))
    if out is None:
        return
    frames = []
    for path, result in results:
        frame = result.to_frame(event_id=path.stem)
        if (frame["date"] == "").any():
            raise EventError(
                f"{path}: no date could be proposed (the text states neither its publication date nor the "
                "event's): pass --published YYYY-MM-DD, the article's publication date"
            )
        frames.append(frame)
    table = neutralize_formulas(pd.concat(frames, ignore_index=True))
    atomic_write_text(out, table.to_csv(index=False, lineterminator="\n"))
    click.echo(f"wrote {len(table)} rows to {out}")


@events.command(name="list")
@click.option("--catalog", required=True, type=str, help="Event catalog CSV (e.g. seeds/events.csv).")
@click.option("--kind", type=click.Choice(KINDS), help="Show only events of this kind.")
def list_(catalog: str, kind: str | None) -> None:
    """Print an event catalog: id, Beijing/US date and time, kind, label."""
    frame = _read_catalog(Path(catalog))
    if kind is not None:
        frame = frame[frame["kind"] == kind]
    if frame.empty:
        click.echo(f"no event of kind {kind!r} in {catalog}")
        return
    cols = [c for c in ("event_id", "date", "time", "timezone", "kind", "label") if c in frame.columns]
    rows = [cols, *frame[cols].itertuples(index=False, name=None)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(cols))]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _parse_published(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--published {value!r} is not a date: use YYYY-MM-DD") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as UTF-8 text ({exc.__class__.__name__}: {exc})") from None


def _read_catalog(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[-1]})") from None
    missing = [c for c in ("event_id", "date") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: a catalog needs the columns event_id,date; missing {', '.join(missing)}")
    if "kind" not in frame.columns:
        frame["kind"] = ""
    return frame


def _describe(path: Path, result: ExtractedEvent) -> str:
    lines = [f"== {path}: {result.title}"]
    rows = [
        (t.company, t.ticker or "-", f"{t.confidence:.2f}", str(len(t.mentions)), str(t.span)) for t in result.tickers
    ]
    if rows:
        head = ("company", "ticker", "conf", "n", "evidence")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        for r in [head, *rows]:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    else:
        lines.append("  no company found")
    elements = list(dict.fromkeys(f"{e.element} ({e.symbol})" for e in result.elements))
    lines.append("  elements:    " + (", ".join(elements) or "-"))
    instruments = list(dict.fromkeys(i.instrument for i in result.instruments))
    lines.append("  instruments: " + (", ".join(instruments) or "-"))
    dates = [f"{d.span.matched!r} -> {d.date or '?'} ({d.precision}, {d.confidence:.2f})" for d in result.dates]
    lines.append("  dates:       " + (", ".join(dates) or "-"))
    if result.publication is not None:
        lines.append(
            f"  published:   {result.published} ({result.publication.confidence:.2f}, {result.publication.span})"
        )
    proposed = result.proposed_date
    if proposed is None:
        lines.append("  event date:  none (pass --published YYYY-MM-DD)")
    else:
        where = str(proposed.span) if proposed.span else "publication date"
        lines.append(f"  event date:  {proposed.date} ({proposed.basis}, {proposed.confidence:.2f}, {where})")
    d = result.direction
    cues = ", ".join(f"{c.span.matched!r} {c.weight:+.1f}" for c in d.cues[:4])
    more = f" (+{len(d.cues) - 4} more)" if len(d.cues) > 4 else ""
    lines.append(f"  direction:   {d.label} (score {d.score:+.2f}, confidence {d.confidence:.2f}): {cues}{more}")
    return "\n".join(lines)
