"""``eventstudy report DIR``: write the HTML and/or Markdown report of a finished run into its folder."""

from __future__ import annotations

from pathlib import Path

import click

from eventstudy.io import record_outputs
from eventstudy.report import write_report
from eventstudy.results import EventStudyResults

_FORMATS = {"html": ("html",), "md": ("md",), "both": ("html", "md")}


@click.command("report")
@click.argument("run_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(_FORMATS)),
    default="both",
    show_default=True,
    help="html: one self-contained report.html; md: report.md with figures/*.png beside it; both.",
)
def report(run_dir: Path, fmt: str) -> None:
    """Write the report of the run saved in DIR (by `eventstudy run --out DIR`) into DIR.

    \b
    The report shows the events studied, day-0 alignment, model diagnostics, CAR per ticker and window,
    the pooled naive and cross-correlation-robust tests with a plain-English reading, warnings and figures.
    Example:
      eventstudy report runs/e09 --format html
    """
    results = EventStudyResults.from_dir(run_dir)
    written = write_report(results, run_dir, formats=_FORMATS[fmt])
    figures = [run_dir / "figures" / p.name for p in (run_dir / "figures").glob("*.png")] if "md" in written else []
    record_outputs(run_dir, [*written.values(), *figures])
    for path in written.values():
        click.echo(f"wrote {path}")
