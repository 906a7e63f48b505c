"""Progress bars for long work: drawn on stderr when it is a terminal, and never otherwise.

Logs, pipes, CI and notebooks capturing output get no bar at all (not even a label line), so redirected output
stays clean; a person at a terminal sees how far a long run is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

Progress = Callable[[int, int], None]


def on_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default: stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def terminal_progress(label: str, stream: TextIO | None = None) -> Iterator[Progress | None]:
    """Yield a ``progress(done, total)`` callback drawing a bar on ``stream`` (stderr), or None off a terminal.

    The bar is created on the first call (when the total is known) and closed when the block ends.
    """
    stream = sys.stderr if stream is None else stream
    if not on_terminal(stream):
        yield None
        return
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=stream)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
