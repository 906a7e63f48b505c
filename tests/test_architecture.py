"""The package layout is a contract: layers import only downward, and no module outgrows one job."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import eventstudy

PACKAGE = Path(eventstudy.__file__).parent
ROOT = PACKAGE.parent
MAX_LINES = 500


def test_import_contract_holds():
    assert shutil.which("lint-imports"), "import-linter (dev extras) provides lint-imports"
    run = subprocess.run(["lint-imports", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout and "0 broken" in run.stdout


def test_no_module_above_500_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by job: {long}"


def test_every_layer_says_what_it_does():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = init.read_text().lstrip()
        assert doc.startswith('"""') and len(doc.split('"""')[1].split()) >= 15, f"{init} needs a docstring"
