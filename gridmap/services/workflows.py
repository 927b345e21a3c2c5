"""Workflows shared by the CLI and the API: read from storage, run the pure core, write back.

Written once (as mapit does with its importers) so that ``gridmap partition``
and ``POST /v1/plans/{plan}/partition`` behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Connection

from gridmap.errors import InvalidInput, NotFound, PlanError
from gridmap.storage import grids as grid_store
from gridmap.storage.plans import current_plan, plan_record, require_plan

SCOPES = ("district", "street", "community")


def scope_of(district: str | None, street: str | None, community: str | None) -> tuple[str, str]:
    """Exactly one of the three codes, as (scope, code)."""
    given = [(s, c) for s, c in zip(SCOPES, (district, street, community)) if c]
    if len(given) != 1:
        raise InvalidInput("name exactly one of --district, --street or --community")
    scope, code = given[0]
    digits = {"district": 6, "street": 9, "community": 12}[scope]
    if not (code.isdigit() and len(code) == digits):
        raise InvalidInput(f"{scope} code {code!r} must be {digits} digits")
    return scope, code


def partition_plan(
    conn: Connection,
    scope: str,
    code: str,
    plan: str,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    stable: bool = False,
    locked: frozenset[str] = frozenset(),
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict:
    """Partition the communities of a scope into draft ``plan``; returns the summary and report."""
    from gridmap.partition import Rules, partition
    from gridmap.partition.rules import DEFAULT_RULES

    inputs = grid_store.partition_inputs(conn, scope, code)
    communities = inputs["communities"]
    if communities.empty:
        raise NotFound(f"no communities in {scope} {code}; import boundaries first")
    if on_total:
        on_total(len(communities))
    rules = dict(DEFAULT_RULES)
    if min_households is not None or max_households is not None:
        urban = DEFAULT_RULES["urban"]
        rules["urban"] = Rules(min_households=min_households if min_households is not None else urban.min_households,
                               max_households=max_households if max_households is not None else urban.max_households)
    current = members = None
    base = current_plan(conn) if stable else None
    if base is not None:
        current = grid_store.read_grids(conn, base, community_codes=list(communities["code"]))
        members = grid_store.read_members(conn, base)
    result = partition(communities=communities, compounds=inputs["compounds"], buildings=inputs["buildings"],
                       barriers=inputs["barriers"], rules=rules, current=current, current_members=members,
                       locked=locked, plan=plan, workers=workers, progress=progress)
    summary = result.summary()
    report = {"summary": summary, "base_plan": base,
              "communities": _records(result.community_report),
              "violations": [asdict(v) for v in result.violations]}
    params = {"scope": scope, "code": code, "stable": stable,
              "rules": {k: asdict(v) for k, v in rules.items()}}
    grid_store.write_plan(conn, plan, result.grids, result.members, list(communities["code"]),
                          report, params=params)
    return {"plan": plan, "scope": scope, "code": code, "base_plan": base, "summary": summary,
            "violations": report["violations"], "communities": report["communities"]}


def _records(df) -> list[dict]:
    import json

    return json.loads(df.to_json(orient="records", force_ascii=False)) if df is not None else []


def plan_report(conn: Connection, plan: str) -> dict:
    """A plan's status, parameters and partition report."""
    return plan_record(conn, plan)


def assign_scope(
    conn: Connection,
    scope: str,
    code: str,
    *,
    plan: str | None = None,
    progress: Callable[[str], None] | None = None,
    time_limit: float = 10.0,
    changed_by: str = "gridmap assign",
) -> dict:
    """Staff the grids of a scope in ``plan`` (default: the current generation's) and store it.

    Still-valid posts and officer links are kept (the stored assignment is the
    engine's ``current``); the write is one savepoint. Officer links belong to
    compounds, not to a plan, and lookups answer with them at once: staffing a
    draft while another plan is current keeps every open link and only links
    compounds without an officer (staff the current generation after publishing
    to re-balance officers). ``progress`` hears
    the stage: 'reading', 'assigning', 'writing'. Returns the counts report, the
    gaps and what was written.
    """
    from gridmap.assign import assign_staff, validate
    from gridmap.storage import staffing

    step = progress or (lambda _stage: None)
    base = current_plan(conn)
    plan = plan or base
    if plan is None:
        raise PlanError("there is no current generation; publish a plan or name one with --plan")
    require_plan(conn, plan)
    step("reading")
    inputs = staffing.assign_inputs(conn, plan, scope, code)
    current = staffing.read_current(conn, plan, list(inputs["communities"]["code"]), base=base)
    step("assigning")
    result = assign_staff(grids=inputs["grids"], compounds=inputs["compounds"], staff=inputs["staff"],
                          communities=inputs["communities"], streets=inputs["streets"],
                          buildings=inputs["buildings"], party_orgs=inputs["party_orgs"],
                          current=current, time_limit=time_limit)
    report = result.report()
    violations = [asdict(v) for v in validate(result)]
    step("writing")
    record = {"scope": scope, "code": code, "report": report, "violations": violations}
    live = base is None or base == plan
    written = staffing.write_assignment(conn, plan, result, communities=inputs["communities"],
                                        streets=inputs["streets"], changed_by=changed_by, record=record,
                                        relink=live)
    return {"plan": plan, "scope": scope, "code": code, "report": report, "gaps": _records(result.gaps),
            "violations": violations, "written": written}


def import_roster(conn: Connection, path: str | Path, *, commit: bool = True) -> dict:
    """Check a roster file (CSV, XLSX or interchange staff layer) and upsert its people, all or nothing."""
    from gridmap.interchange.roster import read_roster
    from gridmap.storage import staffing

    path = Path(path)
    communities, streets = staffing.stored_codes(conn)
    roster = read_roster(path, communities=communities, streets=streets)  # every problem listed at once
    counts = staffing.write_roster(conn, roster, source=str(path), commit=commit)
    return {"source": str(path), "people": len(roster), **counts}
