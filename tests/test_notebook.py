"""The rare-earth research notebook runs from top to bottom on the real data without an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "rare_earth_export_controls.ipynb"


def test_notebook_executes(tmp_path, prices_dir):
    # run a copy, from the notebooks/ folder so relative paths resolve as they do for a reader
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"image/png", "text/html"} <= kinds, "commit the notebook with its outputs (figures and tables)"
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    nbformat.write(notebook, copy)
