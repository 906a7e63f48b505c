"""The ``eventstudy`` command line: thin wrappers over library calls.

User mistakes (any :class:`~eventstudy.errors.EventStudyError`) exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import sys

import click

from eventstudy.errors import EventStudyError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EventStudyError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eventstudy-lab")
def main() -> None:
    """Measure how news moves stock prices: abnormal returns, CARs and honest tests.

    \b
    Start with the shipped rare-earth study (from the repository root):
      eventstudy run --catalog seeds/events.csv --event E09 --tickers MP,USAR,CRML,UUUU \\
          --market SPY --listings seeds/listings.csv --prices ../shared/data/prices --out runs/e09
      eventstudy report runs/e09
    """


def _register() -> None:
    from eventstudy.cli import run as _run

    main.add_command(_run.run)
    from eventstudy.cli import prices as _prices

    main.add_command(_prices.prices)
    from eventstudy.cli import events as _events

    main.add_command(_events.events)
    from eventstudy.cli import report as _report

    main.add_command(_report.report)
    from eventstudy.cli import regress as _regress

    main.add_command(_regress.regress)
    from eventstudy.cli import robustness as _robustness

    main.add_command(_robustness.robustness_command)


_register()
