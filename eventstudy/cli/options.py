"""Options shared by the commands that study a set of events over prices (robustness, calendar-time)."""

from __future__ import annotations

from collections.abc import Callable

import click

_OPTIONS = [
    click.option("--events", "events_path", type=click.Path(dir_okay=False), help="Events CSV (as for run)."),
    click.option("--catalog", type=click.Path(dir_okay=False), help="Announcement catalog; all its events are masked."),
    click.option("--event", "event_ids", multiple=True, help="With --catalog: only this event id (repeatable)."),
    click.option("--kind", help="With --catalog: only events of this kind."),
    click.option("--tickers", help="Tickers applied to every event (comma-separated)."),
    click.option("--prices", multiple=True, type=click.Path(exists=True), help="Price file or folder (repeatable)."),
    click.option("--store", type=click.Path(dir_okay=False), help="Price store file (without --prices)."),
    click.option("--offline", is_flag=True, help="With the store: never download."),
]


def event_price_options(command: Callable) -> Callable:
    """Add --events/--catalog/--event/--kind/--tickers and --prices/--store/--offline to ``command``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command
