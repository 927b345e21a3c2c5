"""The planner's walkthrough notebook runs top to bottom against a real PostGIS."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "planner_walkthrough.ipynb"


@pytest.fixture
def notebook_db(scratch_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A separate database, since the notebook commits what it does."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    return scratch_url


def test_walkthrough_runs(notebook_db: str, demo_file: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    summary = nb.cells[5].outputs[0]["data"]["text/plain"]
    assert "grids" in summary and "share_within_bounds" in summary
    html = nb.cells[-1].outputs[0]["data"].get("text/html", "")
    assert "leaflet" in html.lower()
