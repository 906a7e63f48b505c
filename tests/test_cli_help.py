"""``eventstudy --help`` lists the subcommands without importing them (eventstudy/cli/__init__.py)."""

import importlib
import subprocess
import sys

from eventstudy.cli import _COMMANDS

HELP = """
import sys
import click
from click.testing import CliRunner
from eventstudy.cli import main
if {imported}:  # every subcommand imported first: the list written from the commands themselves
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        main.get_command(ctx, name)
print(CliRunner().invoke(main, ["--help"], terminal_width=100).output)
print(sorted(m for m in ("eventstudy.cli.run", "eventstudy.engine", "matplotlib", "duckdb") if m in sys.modules))
"""


def _help(imported: bool) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", HELP.format(imported=imported)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text, _, modules = out.stdout.rstrip().rpartition("\n")
    return text, modules


def test_each_summary_is_its_commands_own_help():
    for name, (module, attribute, summary) in _COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.get_short_help_str(limit=1000) == summary, name


def test_help_lists_the_commands_as_click_does_without_importing_one():
    text, modules = _help(imported=False)
    assert modules == "[]"
    assert all(name in text for name in _COMMANDS)
    assert text == _help(imported=True)[0]
