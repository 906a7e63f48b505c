"""``python -m eventstudy.cli``: the same command line as ``eventstudy``."""

from eventstudy.cli import entry

entry()
