"""``gridmap assign`` and ``gridmap roster import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gridmap.cli.common import console, engine, out, run

roster_app = typer.Typer(help="Import the staff roster (花名册).", no_args_is_help=True)

STAGES = {"reading": "reading grids, compounds and roster", "assigning": "assigning staff by rule",
          "writing": "writing posts, party branches and officer links"}


def assign_cmd(
    district: Annotated[Optional[str], typer.Option(help="6-digit district code")] = None,
    street: Annotated[Optional[str], typer.Option(help="9-digit street code")] = None,
    community: Annotated[Optional[str], typer.Option(help="12-digit community code")] = None,
    plan: Annotated[Optional[str], typer.Option(help="plan to staff (default: the current generation's)")] = None,
    time_limit: Annotated[float, typer.Option(help="seconds for the solver's refinement")] = 10.0,
) -> None:
    """Staff the grids by rule: party branches, grid heads, 1+5+N workers and enforcement officers."""
    from gridmap.services.workflows import assign_scope, scope_of

    def go():
        scope, code = scope_of(district, street, community)
        with console.status("starting ...") as status, engine().begin() as conn:
            result = assign_scope(conn, scope, code, plan=plan, time_limit=time_limit,
                                  progress=lambda stage: status.update(STAGES.get(stage, stage) + " ..."))
        print_report(result)

    run(go)


@roster_app.command("import")
def roster_import_cmd(
    file: Annotated[Path, typer.Argument(help="roster as .csv (UTF-8 or GBK) or .xlsx (or an interchange staff layer)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and count, write nothing")] = False,
) -> None:
    """Import a roster, all or nothing; every problem is listed by spreadsheet row and column.

    Headers and values may be Chinese (编号 姓名 角色 条线 电话 电话公开 社区代码 街道代码;
    网格长, 社区民警 ...; 是/否); a CSV may be UTF-8 or GBK, as Excel saves it.
    """
    from gridmap.cli.data import fail_quietly, print_issues
    from gridmap.errors import InvalidFile
    from gridmap.services.workflows import import_roster

    def go():
        try:
            with console.status(f"importing {file} ..."), engine().begin() as conn:
                result = import_roster(conn, file, commit=not dry_run)
        except InvalidFile as exc:
            if not exc.issues:
                raise
            print_issues(exc.issues, exc.omitted, title=f"{file}: 未导入 refused — nothing was written")
            fail_quietly(exc)
        out.print(f"{result['people']} people in {file}: {result['inserted']} new, {result['updated']} changed, "
                  f"{result['unchanged']} unchanged")
        out.print("dry run: nothing written" if dry_run else "committed")

    run(go)


def print_report(result: dict) -> None:
    """The counts report, then the gaps grouped by kind."""
    table = Table("measure", "value", title=f"staffing of plan {result['plan']} ({result['scope']} {result['code']})")
    for key, value in result["report"].items():
        table.add_row(key, _show(value))
    out.print(table)
    written = result["written"]
    out.print("written: " + "; ".join(f"{k} {_show(v)}" for k, v in written.items()))
    gaps = result["gaps"]
    if not gaps:
        out.print("no gaps: every grid headed and staffed, every compound covered within the load limit")
    for kind in sorted({g["kind"] for g in gaps}):
        mine = [g for g in gaps if g["kind"] == kind]
        out.print(f"[bold]{kind}[/] ({len(mine)}):")
        for g in mine:
            out.print(f"  {g['detail']}", markup=False)
    for v in result["violations"]:
        console.print(f"[red]rule broken[/] {v['rule']}: {v['detail']}")


def _show(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return f"{value:.2f}" if isinstance(value, float) else str(value)
