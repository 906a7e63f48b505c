"""The ``eventstudy`` command line: thin wrappers over library calls.

User mistakes (any :class:`~eventstudy.errors.EventStudyError`) exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import sys
from pathlib import Path

import click

from eventstudy.errors import EventStudyError
from eventstudy.hugepages import THP_DEFRAG, set_numpy_advice, stalls

# subcommand -> (module, attribute, the first line of its help): imported only when used, so `eventstudy run` never
# loads the report, plotting (matplotlib) or price-store (DuckDB) modules it does not need, and `eventstudy --help`
# none of them (tests/test_cli_help.py checks each summary against its command's own help)
_COMMANDS = {
    "run": (
        "eventstudy.cli.run",
        "run",
        "Run an event study and write ar.csv, car.csv, parameters.csv, aar.csv, tests.csv, alignment.csv.",
    ),
    "prices": (
        "eventstudy.cli.prices",
        "prices",
        "Keep daily prices in a local DuckDB store, so studies rerun offline.",
    ),
    "events": (
        "eventstudy.cli.events",
        "events",
        "Build and inspect event files: extract proposals from articles, list a catalog.",
    ),
    "report": (
        "eventstudy.cli.report",
        "report",
        "Write the report of the run saved in DIR (by `eventstudy run --out DIR`) into DIR.",
    ),
    "regress": (
        "eventstudy.cli.regress",
        "regress",
        "OLS of each pair's CAR over --window on firm characteristics; writes regression.csv (or .parquet).",
    ),
    "robustness": (
        "eventstudy.cli.robustness",
        "robustness_command",
        "Run the study under every model x benchmark x estimation window; write robustness.csv (or .parquet) and "
        "robustness.png.",
    ),
    "calendar-time": (
        "eventstudy.cli.calendar_time",
        "calendar_time",
        "Equal-weighted portfolio of the firms in their [0, H] windows; its alpha with Newey-West errors.",
    ),
}


class _Group(click.Group):
    own_process = False  # set by entry(): this call is the whole process

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _COMMANDS and name not in self.commands:
            module, attribute, _ = _COMMANDS[name]
            imported = _import_frozen(module) if self.own_process else importlib.import_module(module)
            self.add_command(getattr(imported, attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' list of ``--help`` as click writes it, from ``_COMMANDS``' summaries for the commands not
        imported yet (``eventstudy --help`` imports no subcommand: 0.1 s instead of 1.3)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name) or click.Command(name, help=_COMMANDS[name][2])
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EventStudyError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


def _import_frozen(module: str):
    """Import a subcommand's module with the cyclic garbage collector paused, then freeze what it loaded.

    Importing the engine (pandas, pyarrow, numba, scipy) creates about 160,000 long-lived objects and next to no
    garbage. With the collector on, that import triggered about 270 collections (0.2 s), and every later full
    collection of the run walked those objects again (0.1-0.3 s). ``gc.freeze()`` moves them out of the
    collector's view for the rest of the process (they live as long as it does anyway); later objects are collected
    as usual.
    """
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        gc.freeze()
        gc.enable()


def entry() -> None:
    """The console script ``eventstudy`` and ``python -m eventstudy.cli``: :func:`main` as a process of its own.

    Only here (not when :func:`main` is called in a Python session, e.g. by click's test runner) does the command line
    import its subcommand with the garbage collector paused (:func:`_import_frozen`), and freeze the heap before
    the interpreter exits: its shutdown would otherwise walk every object left (0.3-0.4 s of CPU after a 1,000-pair
    run) for cycles nobody needs collected at exit. Output files are closed and renamed before that point.
    """
    main.own_process = True
    try:
        main()
    finally:
        gc.freeze()


PR_SET_THP_DISABLE = 41  # prctl option (linux/prctl.h): no transparent huge pages for this process


def avoid_hugepage_stalls(defrag: Path = THP_DEFRAG) -> bool:
    """Stop numpy and Arrow's allocator using huge pages where Linux compacts memory synchronously for them.

    numpy asks for transparent huge pages on every large array (``madvise``), and Arrow's default pool (mimalloc)
    for its 1 GB arenas; where the kernel stalls on them (:func:`eventstudy.hugepages.stalls`) numpy's advice was
    0.8-1.7 s more system time in a 100k-pair ``eventstudy run`` on the 2-core benchmark VM, and Arrow's 0.1-0.4 s
    in a 1,000- or 10,000-pair run (reading the prices). A short run gains little from huge pages, so the command
    line turns numpy's advice off, as numpy's documented ``NUMPY_MADVISE_HUGEPAGE=0`` would, and huge pages off for
    the process (``prctl(PR_SET_THP_DISABLE)``, what mimalloc's ``MIMALLOC_ALLOW_THP=0`` does); a user who sets
    either variable decides. Returns whether they were turned off.
    """
    if not stalls(defrag) or set_numpy_advice(False) is None:  # no stall, the user's choice, or no numpy switch
        return False
    ctypes.CDLL(None).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    return True


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
    avoid_hugepage_stalls()
