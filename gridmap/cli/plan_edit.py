"""``gridmap plan``: edit a draft plan by hand (copy, move, lock, undo/redo, log, check, diff, review)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from gridmap.cli.common import engine, out, run
from gridmap.cli.plans import cli_user

plan_app = typer.Typer(help="Edit a draft plan by hand: copy, move, lock, undo/redo, log, check, diff, review.",
                       no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ReasonOpt = Annotated[Optional[str], typer.Option(help="why; recorded in the log")]
VersionOpt = Annotated[Optional[int], typer.Option(help="change only if the plan is still at this version")]


def _emit(result: dict, as_json: bool, table=None) -> None:
    if as_json or table is None:
        out.print_json(json.dumps(result, default=str, ensure_ascii=False))
    else:
        table(result)


def _affected(result: dict) -> None:
    t = Table("grid", "households", "bounds", "violations",
              title=f"plan {result['plan']} v{result['version']} ({result['op']}, "
                    f"{result['households_moved']} households moved)")
    for a in result["affected"]:
        bounds = f"{a.get('min_households', '')}-{a.get('max_households', '')}" if not a.get("removed") else "removed"
        t.add_row(a["code"], str(a["households"]), bounds, "; ".join(v["detail"] for v in a["violations"]) or "ok")
    out.print(t)


def _change(fn, as_json: bool, table=_affected) -> None:
    def go():
        with engine().begin() as conn:
            result = fn(conn)
        _emit(result, as_json, table)

    run(go)


@plan_app.command("copy")
def copy_cmd(source: Annotated[str, typer.Argument(help="plan name or 'current'")],
             target: Annotated[str, typer.Argument(help="new draft plan")],
             district: Annotated[Optional[str], typer.Option(help="only this district")] = None,
             street: Annotated[Optional[str], typer.Option(help="only this street")] = None,
             community: Annotated[Optional[str], typer.Option(help="only this community")] = None,
             as_json: JsonOpt = False) -> None:
    """Start a draft from a plan (or the current generation), optionally only one area."""
    from gridmap.services import editing
    from gridmap.services.workflows import scope_of

    def fn(conn):
        scope, code = scope_of(district, street, community) if district or street or community else (None, None)
        return editing.copy(conn, source, target, author=cli_user(), scope=scope, code=code)

    _change(fn, as_json, table=None)


@plan_app.command("move")
def move_cmd(plan: Annotated[str, typer.Argument(help="draft plan")],
             to: Annotated[str, typer.Option("--to", help="target grid code (same community, neighbouring)")],
             compound: Annotated[Optional[list[str]], typer.Option("--compound", help="compound id (repeatable)")] = None,
             building: Annotated[Optional[list[str]], typer.Option("--building",
                                                                   help="building of a split compound")] = None,
             reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Move compounds (or buildings of a split compound) to a neighbouring grid of their community."""
    from gridmap.services import editing

    _change(lambda conn: editing.move(conn, plan, to=to, compounds=compound or [], buildings=building or [],
                                      author=cli_user(), reason=reason, expected_version=version), as_json)


@plan_app.command("split")
def split_cmd(plan: str, grid: Annotated[str, typer.Option("--grid", help="grid to split")],
              compound: Annotated[list[str], typer.Option("--compound", help="compound of the new grid (repeatable)")],
              reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """The listed compounds of a grid form a new grid (next free code; codes are never reused)."""
    from gridmap.services import editing

    _change(lambda conn: editing.split(conn, plan, grid=grid, compounds=compound, author=cli_user(), reason=reason,
                                       expected_version=version), as_json)


@plan_app.command("merge")
def merge_cmd(plan: str, grid: Annotated[list[str], typer.Option("--grid", help="grid code (repeatable; the "
                                                                                 "first code stays)")],
              reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Merge grids of one community: the first code stays, the others are retired."""
    from gridmap.services import editing

    _change(lambda conn: editing.merge(conn, plan, grids=grid, author=cli_user(), reason=reason,
                                       expected_version=version), as_json)


@plan_app.command("rebalance")
def rebalance_cmd(plan: str, grid: Annotated[list[str], typer.Option("--grid", help="grid code (repeatable)")],
                  reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Let the engine re-solve just these grids of one community; the others stay as they are."""
    from gridmap.services import editing

    _change(lambda conn: editing.rebalance(conn, plan, grids=grid, author=cli_user(), reason=reason,
                                           expected_version=version), as_json)


def _lock(plan: str, grid: list[str], locked: bool, reason, version, as_json: bool) -> None:
    from gridmap.services import editing

    _change(lambda conn: editing.set_lock(conn, plan, grids=grid, locked=locked, author=cli_user(), reason=reason,
                                          expected_version=version), as_json)


@plan_app.command("lock")
def lock_cmd(plan: str, grid: Annotated[list[str], typer.Option("--grid", help="grid code (repeatable)")],
             reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Lock grids: no edit or rebalance touches them."""
    _lock(plan, grid, True, reason, version, as_json)


@plan_app.command("unlock")
def unlock_cmd(plan: str, grid: Annotated[list[str], typer.Option("--grid", help="grid code (repeatable)")],
               reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Unlock grids."""
    _lock(plan, grid, False, reason, version, as_json)


@plan_app.command("undo")
def undo_cmd(plan: str, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Revert the latest change (recorded as a new version)."""
    from gridmap.services import editing

    _change(lambda conn: editing.undo(conn, plan, author=cli_user(), expected_version=version), as_json)


@plan_app.command("redo")
def redo_cmd(plan: str, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Re-apply the latest undone change (recorded as a new version)."""
    from gridmap.services import editing

    _change(lambda conn: editing.redo(conn, plan, author=cli_user(), expected_version=version), as_json)


def _read(fn, as_json: bool, table) -> None:
    def go():
        with engine().connect() as conn:
            result = fn(conn)
        _emit(result, as_json, table)

    run(go)


def _log_table(result: dict) -> None:
    t = Table("version", "op", "by", "at", "households", "reason", "what",
              title=f"plan {result['plan']} v{result['version']} ({result['review'] or 'editing'})")
    for e in result["entries"]:
        what = {k: v for k, v in (e["payload"] or {}).items() if k != "op"}
        t.add_row(str(e["version"]), e["op"], e["author"], f"{e['at']:%Y-%m-%d %H:%M:%S}", str(e["households_moved"]),
                  e["reason"] or "", json.dumps(what, ensure_ascii=False)[:80])
    out.print(t)


@plan_app.command("log")
def log_cmd(plan: str, as_json: JsonOpt = False) -> None:
    """Who did what to the plan, oldest first."""
    from gridmap.services import editing

    _read(lambda conn: editing.log(conn, plan), as_json, _log_table)


def _check_table(result: dict) -> None:
    out.print(f"plan {result['plan']} v{result['version']}: {result['grids']} grids, "
              f"{result['out_of_bounds']} out of bounds, {len(result['violations'])} violations "
              f"({result['unproved']} without a proved reason)")
    for v in result["violations"][:50]:
        out.print(f"  {v['rule']} {v.get('grid_code') or v.get('community_code')}: {v['detail']}", markup=False)


@plan_app.command("check")
def check_cmd(plan: str, as_json: JsonOpt = False) -> None:
    """Check every grid of the plan with the engine's rules."""
    from gridmap.services import editing

    _read(lambda conn: editing.check(conn, plan), as_json, _check_table)


def _diff_table(result: dict) -> None:
    out.print(f"{result['a']} → {result['b']} over {result['communities']} communities: "
              f"{len(result['compounds_moved'])} units moved ({result['households_moved']} households), "
              f"{len(result['grids_added'])} grids added, {len(result['grids_removed'])} removed, "
              f"{len(result['grids_changed'])} changed, {result['grids_unchanged']} unchanged")
    t = Table("compound", "building", "from", "to", "households")
    for m in result["compounds_moved"][:200]:
        t.add_row(m["compound_id"], m["building_id"] or "", m["from"] or "", m["to"] or "", str(m["households"]))
    out.print(t)
    for s in result["staff_affected"][:50]:
        out.print(f"  staff {s['staff_id'] or '-'} {s['role']} {s['grid_code']}: {s['change']}")


@plan_app.command("diff")
def diff_cmd(a: Annotated[str, typer.Argument(help="plan, 'current' or generation id")],
             b: Annotated[str, typer.Argument(help="plan, 'current' or generation id")],
             output: Annotated[Optional[str], typer.Option("-o", "--output", help="write a GeoPackage for QGIS")] = None,
             as_json: JsonOpt = False) -> None:
    """What differs between two plans over the communities B covers."""
    from gridmap.services import editing

    def fn(conn):
        result = editing.diff(conn, a, b)
        if output:
            grids, comps = editing.diff_layers(conn, result)
            grids.to_file(output, layer="grids", driver="GPKG")
            comps.to_file(output, layer="compounds_moved", driver="GPKG")
            result = {**result, "file": output}
        return result

    _read(fn, as_json, _diff_table)


def _review_cmd(step: str):
    def command(plan: str, reason: ReasonOpt = None, version: VersionOpt = None, as_json: JsonOpt = False) -> None:
        from gridmap.services import editing

        def fn(conn):
            if step == "submit":
                return editing.submit(conn, plan, author=cli_user(), reason=reason, expected_version=version)
            return editing.decide(conn, plan, approve=step == "approve", author=cli_user(), reason=reason,
                                  expected_version=version)

        _change(fn, as_json, table=None)

    command.__doc__ = {"submit": "Hand the plan in for approval (the full rule check is recorded).",
                       "approve": "Approve a submitted plan (street office); it may then be published.",
                       "reject": "Reject a submitted plan; --reason is required."}[step]
    return command


for _step in ("submit", "approve", "reject"):
    plan_app.command(_step)(_review_cmd(_step))
