"""``gridmap partition``, ``gridmap publish`` and ``gridmap plans``."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridmap.cli.common import console, engine, out, run


def partition_cmd(
    district: Annotated[Optional[str], typer.Option(help="6-digit district code")] = None,
    street: Annotated[Optional[str], typer.Option(help="9-digit street code")] = None,
    community: Annotated[Optional[str], typer.Option(help="12-digit community code")] = None,
    min: Annotated[Optional[int], typer.Option("--min", help="min households per urban grid (300)")] = None,
    max: Annotated[Optional[int], typer.Option("--max", help="max households per urban grid (500)")] = None,
    plan: Annotated[str, typer.Option(help="draft plan to write")] = "draft",
    stable: Annotated[bool, typer.Option(help="start from the current generation; keep unchanged codes")] = False,
    lock: Annotated[Optional[list[str]], typer.Option(help="grid code to leave untouched (repeatable)")] = None,
    workers: Annotated[int, typer.Option(help="parallel processes")] = 2,
) -> None:
    """Divide communities into grids under the rules and write a draft plan."""
    from gridmap.services.workflows import partition_plan, scope_of

    def go():
        scope, code = scope_of(district, street, community)
        with Progress(TextColumn("partitioning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("communities", total=None)
            with engine().begin() as conn:
                result = partition_plan(
                    conn, scope, code, plan, min_households=min, max_households=max, stable=stable,
                    locked=frozenset(lock or ()),
                    workers=workers, progress=lambda n: bar.advance(task, n),
                    on_total=lambda n: bar.update(task, total=n))
        _print_summary(result)

    run(go)


def _print_summary(result: dict) -> None:
    s = result["summary"]
    table = Table("measure", "value", title=f"plan {result['plan']} ({result['scope']} {result['code']})")
    for key, value in s.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    out.print(table)
    relaxed = [c for c in result["communities"] if c.get("status") != "ok"]
    if relaxed:
        out.print(f"{len(relaxed)} communities where a rule gave way:")
        for c in relaxed[:20]:
            out.print(f"  {c['community_code']}: {c.get('reasons')}")
    out.print(f"draft written; publish with: gridmap publish {result['plan']}")


def publish_cmd(plan: Annotated[str, typer.Argument(help="draft plan to make current")]) -> None:
    """Make a draft plan the current generation (lookups switch at once)."""
    from gridmap.storage import plans

    def go():
        with engine().begin() as conn:
            result = plans.publish(conn, plan)
        out.print_json(json.dumps(result, default=str))

    run(go)


def plans_cmd() -> None:
    """List plans and the period each was current."""
    from gridmap.storage import plans

    def go():
        with engine().connect() as conn:
            rows = plans.list_plans(conn)
        table = Table("plan", "status", "grids", "current from", "until")
        for r in rows:
            table.add_row(r["name"], r["status"], str(r["grids"]), str(r["valid_from"] or ""),
                          str(r["valid_to"] or ""))
        out.print(table)

    run(go)
