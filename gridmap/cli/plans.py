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


def publish_cmd(
    plan: Annotated[str, typer.Argument(help="draft plan to make current")],
    force: Annotated[bool, typer.Option(help="publish although grids lack a head or rules gave way without "
                                             "a proved reason (needs --reason)")] = False,
    reason: Annotated[Optional[str], typer.Option(help="why; recorded on the new generation")] = None,
    generation: Annotated[Optional[int], typer.Option(help="publish only if this generation is still the "
                                                           "current one (0: none yet)")] = None,
) -> None:
    """Make a draft plan current: its grids replace those of its communities, the other communities
    keep theirs (codes and staff); refused while grids lack a head or rules gave way unproved."""
    from gridmap.storage import plans

    def go():
        with engine().begin() as conn:
            seen = generation if generation is not None else _current_id(conn)
            result = plans.publish(conn, plan, expected_generation=seen, created_by=cli_user(), force=force,
                                   reason=reason)
        out.print_json(json.dumps(result, default=str, ensure_ascii=False))

    run(go)


def rollback_cmd(
    to: Annotated[Optional[int], typer.Option(help="generation to make current again "
                                                   "(default: the one before the last publish)")] = None,
    reason: Annotated[Optional[str], typer.Option(help="why; recorded on the new generation")] = None,
    generation: Annotated[Optional[int], typer.Option(help="roll back only if this generation is still the "
                                                           "current one")] = None,
) -> None:
    """Make an earlier generation's plan current again, as a new generation (history kept)."""
    from gridmap.storage import plans

    def go():
        with engine().begin() as conn:
            seen = generation if generation is not None else _current_id(conn)
            result = plans.rollback(conn, to=to, expected_generation=seen, created_by=cli_user(), reason=reason)
        out.print_json(json.dumps(result, default=str, ensure_ascii=False))

    run(go)


def generations_cmd(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List generations: which plan was current when, and how each began (publish or rollback)."""
    from gridmap.storage import plans

    def go():
        with engine().connect() as conn:
            rows = plans.list_generations(conn)
        if as_json:
            out.print_json(json.dumps(rows, default=str, ensure_ascii=False))
            return
        table = Table("generation", "kind", "plan", "from", "until", "by", "reason", "forced")
        for r in rows:
            kind = r["kind"] if r["kind"] == "publish" else f"rollback to {r['restores_id']}"
            table.add_row(str(r["id"]), kind, r["plan"], f"{r['valid_from']:%Y-%m-%d %H:%M:%S}",
                          f"{r['valid_to']:%Y-%m-%d %H:%M:%S}" if r["valid_to"] else "current",
                          r["created_by"] or "", r["reason"] or "", "yes" if r["forced"] else "")
        out.print(table)

    run(go)


def plans_cmd(
    plan: Annotated[Optional[str], typer.Argument(help="show this plan's report")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List plans and the generations each was current in; with PLAN, its report."""
    from gridmap.storage import plans

    def go():
        with engine().connect() as conn:
            found = plans.plan_record(conn, plan) if plan is not None else plans.list_plans(conn)
        if as_json:
            out.print_json(json.dumps(found, default=str, ensure_ascii=False))
            return
        if plan is not None:
            _print_record(found)
            return
        rows = found
        table = Table("plan", "status", "source", "grids", "communities", "violations", "unproved", "generations",
                      "current from", "until")
        for r in rows:
            table.add_row(r["name"], r["status"], r["source"], str(r["grids"]), str(r["communities"]),
                          str(r["violations"]), str(r["unproved"]), ", ".join(map(str, r["generations"])),
                          str(r["valid_from"] or ""), str(r["valid_to"] or ""))
        out.print(table)

    run(go)


def _print_record(record: dict) -> None:
    from gridmap.publishing import is_proved

    report = record["report"] or {}
    title = f"plan {record['name']} ({record['status']}, {len(record['communities'])} communities)"
    table = Table("measure", "value", title=title)
    for key, value in (report.get("summary") or {}).items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    if report.get("source"):
        table.add_row("source", str(report["source"]))
    if report.get("carried"):
        c = report["carried"]
        table.add_row("carried over", f"{c['grids']} grids of {c['communities']} communities from plan {c['from']}")
    table.add_row("generations", ", ".join(map(str, record["generations"])) or "never current")
    out.print(table)
    own = [v for v in report.get("violations") or [] if not v.get("carried_from")]
    for v in own[:50]:
        mark = "" if is_proved(v) else "未证明 (unproved) "
        out.print(f"  {mark}{v.get('rule')} {v.get('grid_code') or v.get('community_code')}: {v.get('detail')}",
                  markup=False, highlight=False)
    if len(own) > 50:
        out.print(f"  … and {len(own) - 50} more (GET /v1/plans/{record['name']})")


def _current_id(conn) -> int:
    from gridmap.storage.plans import current_generation

    current = current_generation(conn)
    return current["id"] if current else 0


def cli_user() -> str:
    """Who runs the command, for the generation's record."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
