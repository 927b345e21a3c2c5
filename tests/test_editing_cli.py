"""``gridmap plan`` end to end in its own database: copy, move, diff (JSON and GeoPackage), undo, log,
check, split, merge, lock, review; ``gridmap keys create --role approver``."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from gridmap.cli import app
from tests.test_editing_browser import W1, W2, WEST, load

runner = CliRunner()


@pytest.fixture
def cli_env(scratch_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    from gridmap.storage import migrate

    migrate.upgrade(scratch_url)
    eng = create_engine(scratch_url)
    with eng.begin() as conn:
        load(conn, tmp_path)
    eng.dispose()
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    return scratch_url


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def as_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def test_the_redraw_loop_on_the_command_line(cli_env: str, tmp_path: Path) -> None:
    copied = as_json("plan", "copy", "draft", "d1", "--community", WEST)
    assert (copied["grids"], copied["version"]) == (2, 1)
    moved = as_json("plan", "move", "d1", "--compound", "C4", "--to", W2, "--reason", "书记要求")
    assert {a["code"]: a["households"] for a in moved["affected"]} == {W1: 320, W2: 510}
    assert moved["version"] == 2 and moved["households_moved"] == 100
    diff = as_json("plan", "diff", "draft", "d1")
    assert [(m["compound_id"], m["from"], m["to"], m["households"]) for m in diff["compounds_moved"]] == \
        [("C4", W1, W2, 100)]
    assert sorted(diff["grids_changed"]) == [W1, W2] and diff["codes_retired"] == []
    gpkg = tmp_path / "diff.gpkg"
    run("plan", "diff", "draft", "d1", "-o", str(gpkg))
    grids = gpd.read_file(gpkg, layer="grids")
    assert sorted(grids["code"]) == [W1, W2] and set(grids["change"]) == {"changed"}
    compounds = gpd.read_file(gpkg, layer="compounds_moved")
    assert list(compounds["compound_id"]) == ["C4"] and list(compounds["to"]) == [W2]
    assert "C4" in run("plan", "diff", "draft", "d1")  # the table

    stale = runner.invoke(app, ["plan", "move", "d1", "--compound", "C4", "--to", W1, "--version", "1"])
    assert stale.exit_code == 2 and "stale_version" in stale.output
    undone = as_json("plan", "undo", "d1")
    assert {a["code"]: a["households"] for a in undone["affected"]} == {W1: 420, W2: 410}
    assert as_json("plan", "diff", "draft", "d1")["compounds_moved"] == []

    split = as_json("plan", "split", "d1", "--grid", W1, "--compound", "C4")
    new = next(a["code"] for a in split["affected"] if a["code"] not in (W1, W2))
    assert new == f"{WEST}003"
    merged = as_json("plan", "merge", "d1", "--grid", W1, "--grid", new)
    assert {a["code"]: a["households"] for a in merged["affected"]} == {W1: 420, new: 0}
    assert as_json("plan", "lock", "d1", "--grid", W2)["affected"][0]["locked"] is True
    refused = runner.invoke(app, ["plan", "move", "d1", "--compound", "C4", "--to", W2])
    assert refused.exit_code == 2 and "locked" in refused.output

    log = as_json("plan", "log", "d1")
    assert [e["op"] for e in log["entries"]] == ["copy", "move", "undo", "split", "merge", "lock"]
    assert log["entries"][1]["reason"] == "书记要求" and log["entries"][1]["author"].startswith("cli")
    assert "version" in run("plan", "log", "d1")

    # rebalance: the engine re-solves just the listed grids (refused while one is locked)
    locked = runner.invoke(app, ["plan", "rebalance", "d1", "--grid", W1, "--grid", W2])
    assert locked.exit_code == 2 and "locked" in locked.output
    as_json("plan", "unlock", "d1", "--grid", W2)
    assert {a["code"]: a["households"] for a in as_json("plan", "move", "d1", "--compound", "C4", "--to", W2)[
        "affected"]} == {W1: 320, W2: 510}  # over the maximum
    balanced = as_json("plan", "rebalance", "d1", "--grid", W1, "--grid", W2)
    kept = [a for a in balanced["affected"] if not a.get("removed")]
    assert sum(a["households"] for a in kept) == 830 and len(kept) == 2
    assert all(300 <= a["households"] <= 500 and a["violations"] == [] for a in kept)
    assert as_json("plan", "log", "d1")["entries"][-1]["op"] == "rebalance"
    assert as_json("plan", "check", "d1")["grids"] == 2
    assert as_json("plan", "submit", "d1")["review"] == "submitted"
    assert as_json("plan", "approve", "d1")["review"] == "approved"
    assert "approver key" in run("keys", "create", "--role", "approver")
