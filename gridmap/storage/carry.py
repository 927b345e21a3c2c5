"""Complete a plan before it is published: carry over what it does not redraw.

A plan covers some communities (``plan_community``). Publishing it must keep every other
community as it is, so the plan is first completed from the current generation's plan (the
*base*): the base's grids outside the plan's communities (same codes, names, households and
polygons, marked ``attrs.carried_from``), their members, their open posts (same holders, same
``valid_from``), their grid party branches and building groups (ids re-keyed to the plan, as
:func:`gridmap.storage.staffing.stored_org_id` keys them: ``'PB-<grid>@<plan>'``), and the
base report's violations and staffing gaps for those communities. Then every reader that asks
for "the current plan" keeps working unchanged: one generation is one complete plan.

Everything here is INSERT … SELECT inside the caller's transaction (the publish).
"""

from __future__ import annotations

from sqlalchemy import Connection, Text, and_, case, cast, func, insert, literal, not_, or_, select, update

from gridmap.storage.query import jsonb
from gridmap.storage.schema import building, compound, grid, grid_member, party_org, plan as plan_table, staff_post

PLAN_LEVELS = ("grid_branch", "building_group")


def complete_plan(conn: Connection, plan: str, *, base: str, communities: list[str]) -> dict:
    """Copy into ``plan`` what ``base`` holds outside ``communities``; returns the counts."""
    outside = _outside(communities)
    counts = {
        "from": base,
        "grids": _carry_grids(conn, plan, base=base, outside=outside),
        "members": _carry_members(conn, plan, base=base, outside=outside),
        "posts": _carry_posts(conn, plan, base=base, outside=outside),
        "party_orgs": _carry_orgs(conn, plan, base=base, outside=outside),
    }
    counts["communities"] = conn.execute(
        select(func.count(func.distinct(grid.c.community_code)))
        .where((grid.c.plan == plan) & grid.c.attrs.has_key("carried_from"))).scalar()
    _carry_report(conn, plan, base=base, communities=communities, counts=counts)
    return counts


def _outside(communities: list[str]):
    """A predicate factory: community code column -> 'not one of the plan's communities'."""
    codes = sorted(communities)
    return lambda column: not_(column.in_(codes)) if codes else literal(True)


def _carry_grids(conn: Connection, plan: str, *, base: str, outside) -> int:
    g = grid.c
    carried = g.attrs.op("||")(func.jsonb_build_object("carried_from", cast(literal(base), Text)))
    rows = select(literal(plan), g.code, g.name, g.community_code, g.households, carried, g.geom) \
        .where((g.plan == base) & outside(g.community_code))
    # The statement-level trigger of migration 0003 subdivides the copies in one query.
    return conn.execute(insert(grid).from_select(
        ["plan", "code", "name", "community_code", "households", "attrs", "geom"], rows)).rowcount


def _carry_members(conn: Connection, plan: str, *, base: str, outside) -> int:
    m = grid_member.c
    rows = select(literal(plan), m.grid_code, m.compound_id, m.building_id, m.households) \
        .where((m.plan == base) & outside(func.left(m.grid_code, 12)))
    return conn.execute(insert(grid_member).from_select(
        ["plan", "grid_code", "compound_id", "building_id", "households"], rows)).rowcount


def _carry_posts(conn: Connection, plan: str, *, base: str, outside) -> int:
    """Open posts of carried grids, and building-only posts of buildings outside the plan."""
    p, b, k = staff_post.c, building.c, compound.c
    building_community = select(k.community_code).join_from(building, compound, k.id == b.compound_id) \
        .where(b.id == p.building_id).scalar_subquery()
    carried = or_(and_(p.grid_code.is_not(None), outside(func.left(p.grid_code, 12))),
                  and_(p.grid_code.is_(None), p.building_id.is_not(None), outside(building_community)))
    rows = select(p.staff_id, p.role, literal(plan), p.grid_code, p.building_id, p.valid_from, p.changed_by) \
        .where((p.plan == base) & p.valid_to.is_(None) & carried).order_by(p.id)
    return conn.execute(insert(staff_post).from_select(
        ["staff_id", "role", "plan", "grid_code", "building_id", "valid_from", "changed_by"], rows)).rowcount


def _rekeyed(column, suffix: str, plan: str):
    """'X@base' -> 'X@plan' (plan-scoped organisation ids); other ids unchanged."""
    return case((column.endswith(suffix), func.concat(func.left(column, -len(suffix)), f"@{plan}")), else_=column)


def _carry_orgs(conn: Connection, plan: str, *, base: str, outside) -> int:
    """Grid branches, then building groups (whose parent is a branch), re-keyed to ``plan``."""
    o = party_org.c
    total = 0
    for level in PLAN_LEVELS:  # parents first: the foreign key on parent_id is checked per statement
        rows = select(_rekeyed(o.id, f"@{base}", plan), o.name, o.level, _rekeyed(o.parent_id, f"@{base}", plan),
                      o.street_code, o.community_code, literal(plan), o.grid_code, o.building_id,
                      o.secretary_staff_id, o.attrs.op("||")(jsonb({"carried_from": base}))) \
            .where((o.plan == base) & (o.level == level) & outside(o.community_code))
        total += conn.execute(insert(party_org).from_select(
            ["id", "name", "level", "parent_id", "street_code", "community_code", "plan", "grid_code",
             "building_id", "secretary_staff_id", "attrs"], rows)).rowcount
    return total


def _carry_report(conn: Connection, plan: str, *, base: str, communities: list[str], counts: dict) -> None:
    """The base report's violations and staffing gaps outside ``communities`` join the plan's."""
    p = plan_table.c
    base_report = conn.execute(select(p.report).where(p.name == base)).scalar() or {}
    own = conn.execute(select(p.report).where(p.name == plan)).scalar() or {}
    inside = set(communities)
    carried = [{**v, "carried_from": base} for v in base_report.get("violations") or []
               if v.get("community_code") not in inside]
    report = {"violations": list(own.get("violations") or []) + carried, "carried": counts}
    staffing = own.get("staffing") or {}
    gaps = [g for g in (base_report.get("staffing") or {}).get("gaps") or [] if _outside_gap(g, inside)]
    if gaps or staffing:
        report["staffing"] = {**staffing, "gaps": list(staffing.get("gaps") or []) + gaps}
    conn.execute(update(plan_table).where(p.name == plan)
                 .values(report=p.report.op("||")(jsonb(report))))


def _outside_gap(gap: dict, inside: set[str]) -> bool:
    community = gap.get("community_code")
    if community:
        return community not in inside
    street = gap.get("street_code")
    return bool(street) and not any(c.startswith(street) for c in inside)
