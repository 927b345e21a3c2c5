"""The command line end to end, in its own database: import, partition, publish, lookup, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridmap.cli import app
from tests.tiny import write_tiny

runner = CliRunner()


@pytest.fixture
def cli_env(scratch_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from gridmap.storage import migrate

    migrate.upgrade(scratch_url)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    return scratch_url


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_import_partition_publish_lookup_export(cli_env: str, tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "tiny.gpkg")
    assert "committed" in invoke("import", str(path))
    assert "committed (0 rows changed)" in invoke("import", str(path))
    out = invoke("partition", "--street", "320214050", "--plan", "p1", "--workers", "1")
    assert "draft written" in out
    refused = failing("publish", "p1")  # nobody is staffed yet
    assert "publish_refused" in refused and "320214050001001" in refused and "--force --reason" in refused
    assert "gridmap assign --plan p1 --street 320214050" in refused
    assert "plan p1" in invoke("assign", "--plan", "p1", "--street", "320214050", "--time-limit", "1")
    refused = failing("publish", "p1")  # tiny's roster has a grid head in community ...001 only
    assert "1 个网格没有网格长" in refused and "320214050002001" in refused and "320214050001" not in \
        refused.replace("320214050002001", "")
    assert '"plan": "p1"' in invoke("publish", "p1", "--force", "--reason", "CLI test: the roster lacks heads")
    card = json.loads(invoke("lookup", "--lon", "120.3025", "--lat", "31.5025", "--crs", "wgs84", "--json"))
    assert card["grid"]["code"].startswith("320214050001")
    generations = json.loads(invoke("generations", "--json"))
    assert [(g["plan"], g["kind"], g["forced"], g["reason"]) for g in generations] == [
        ("p1", "publish", True, "CLI test: the roster lacks heads")]
    exported = tmp_path / "out.gpkg"
    assert "grids" in invoke("export", str(exported), "--plan", "p1")
    assert "committed (0 rows changed)" in invoke("import", str(exported))  # the published grids, unchanged
    again = invoke("import", str(exported), "--plan", "p1-edit")
    assert "draft plan) p1-edit" in again and "committed" in again
    listed = {p["name"]: p for p in json.loads(invoke("plans", "--json"))}
    assert listed["p1"]["status"] == "published" and listed["p1"]["generations"] == [1]
    assert (listed["p1-edit"]["status"], listed["p1-edit"]["source"], listed["p1-edit"]["grids"]) == \
        ("draft", "import", listed["p1"]["grids"])
    assert "import" in invoke("plans", "p1-edit")


def failing(*args: str) -> str:
    """Output (with rich's line wrapping undone) of a command that must exit 2."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return " ".join(result.output.split())


def test_errors_exit_2_with_a_message(cli_env: str, tmp_path: Path) -> None:
    assert "no such file" in failing("import", str(tmp_path / "missing.gpkg"))
    assert "9 digits" in failing("partition", "--street", "12")
    assert "does not exist" in failing("publish", "nope")
