"""Plans (方案) and generations (版本): publish a plan safely, roll back, ask what was current when.

A plan covers communities (``plan_community``). Publishing it completes it first from the
current generation's plan (:mod:`gridmap.storage.carry`), so that a generation is always
one complete plan: the plan's own grids in its communities, everything else as it was.
Rolling back opens a new generation on an earlier generation's plan; nothing is deleted.

Both take the generation the caller saw as current (``expected_generation``; 0 = none,
None = whatever is current when the call starts) and hold an EXCLUSIVE lock on
``generation`` from that check to the switch, so two concurrent publishes never both
succeed: the second gets :class:`~gridmap.errors.GenerationConflict`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, DateTime, cast, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by

from gridmap.errors import GenerationConflict, InvalidInput, NotFound, PlanError, PublishRefused
from gridmap.publishing import GridRef, Readiness, refusal, unproved
from gridmap.storage.query import jsonb, rows
from gridmap.storage.schema import generation, grid, plan as plan_table, plan_community

GENERATION_FIELDS = ("id", "plan", "kind", "valid_from", "valid_to", "previous_id", "restores_id", "created_by",
                     "reason", "forced")


# ---------------------------------------------------------------- reading


def current_plan(conn: Connection, *, at: datetime | None = None) -> str | None:
    """The plan of the generation current at ``at`` (default now), or None."""
    current = current_generation(conn, at=at)
    return current["plan"] if current else None


def current_generation(conn: Connection, *, at: datetime | None = None) -> dict | None:
    """The generation current at ``at`` (default now), or None."""
    g = generation.c
    held = g.valid_to.is_(None) if at is None else (g.valid_from <= at) & (g.valid_to.is_(None) | (g.valid_to > at))
    row = conn.execute(select(*(g[f] for f in GENERATION_FIELDS)).where(held)).mappings().first()
    return dict(row) if row else None


def generation_record(conn: Connection, generation_id: int) -> dict:
    """One generation with its record; NotFound when there is none."""
    g = generation.c
    row = conn.execute(select(*(g[f] for f in GENERATION_FIELDS), g.record)
                       .where(g.id == generation_id)).mappings().first()
    if row is None:
        raise NotFound(f"generation {generation_id} does not exist; list them with `gridmap generations`")
    return dict(row)


def list_generations(conn: Connection) -> list[dict]:
    """Every generation, oldest first, with what it recorded."""
    g = generation.c
    return rows(conn, select(*(g[f] for f in GENERATION_FIELDS), g.record).order_by(g.valid_from))


def plan_status(conn: Connection, name: str) -> str | None:
    """'draft', 'published' or 'retired'; None when there is no such plan."""
    return conn.execute(select(plan_table.c.status).where(plan_table.c.name == name)).scalar()


def require_plan(conn: Connection, name: str) -> str:
    """The plan's status, or NotFound."""
    status = plan_status(conn, name)
    if status is None:
        raise NotFound(f"plan {name!r} does not exist")
    return status


def plan_communities(conn: Connection, name: str) -> list[str]:
    """The communities a plan covers: those recorded for it and those its own grids lie in."""
    pc, g = plan_community.c, grid.c
    own = select(g.community_code).where((g.plan == name) & ~g.attrs.has_key("carried_from"))
    recorded = select(pc.community_code).where(pc.plan == name)
    return sorted(set(conn.execute(own.union(recorded)).scalars()))


def plan_record(conn: Connection, name: str) -> dict:
    """A plan's name, status, parameters, report, communities and generations; NotFound when there is none."""
    p = plan_table.c
    row = conn.execute(select(p.name, p.status, p.version, p.review, p.created_at, p.params, p.report)
                       .where(p.name == name)) \
        .mappings().first()
    if row is None:
        raise NotFound(f"plan {name!r} does not exist")
    g = generation.c
    return {**dict(row), "communities": plan_communities(conn, name),
            "generations": list(conn.execute(select(g.id).where(g.plan == name).order_by(g.valid_from)).scalars())}


def list_plans(conn: Connection) -> list[dict]:
    """Plans, oldest first: status, grids, communities, where the grids came from, the rules that
    gave way without a proved reason, and the generations in which each was current."""
    p, g = plan_table.c, generation.c
    grids = select(func.count()).where(grid.c.plan == p.name).scalar_subquery().label("grids")
    communities = select(func.count()).where(plan_community.c.plan == p.name).scalar_subquery().label("communities")
    last = select(g.valid_from, g.valid_to).where(g.plan == p.name).order_by(g.valid_from.desc()).limit(1) \
        .lateral("last")
    ids = select(func.array_agg(aggregate_order_by(g.id, g.valid_from))).where(g.plan == p.name) \
        .scalar_subquery().label("generations")
    query = (select(p.name, p.status, p.created_at, grids, communities, last.c.valid_from, last.c.valid_to, ids,
                    p.params["source"].astext.label("source"), p.report["violations"].label("violations"))
             .select_from(plan_table.outerjoin(last, literal(True))).order_by(p.created_at, p.name))
    out = []
    for r in rows(conn, query):
        violations = [v for v in r.pop("violations") or [] if not v.get("carried_from")]
        r["generations"] = r["generations"] or []
        r["source"] = r["source"] or "partition"
        out.append({**r, "violations": len(violations), "unproved": len(unproved(violations))})
    return out


# ---------------------------------------------------------------- drafts


def ensure_plan(conn: Connection, name: str, *, params: dict | None = None) -> None:
    """Create a draft plan, or refuse to overwrite a published one."""
    status = plan_status(conn, name)
    if status in ("published", "retired"):
        raise PlanError(f"plan {name!r} is {status}; write a new plan instead of changing it")
    if status is None:
        conn.execute(insert(plan_table).values(name=name, params=jsonb(params or {})))


def cover_communities(conn: Connection, name: str, communities: list[str]) -> None:
    """Record that draft ``name`` covers ``communities`` (besides those it covered already)."""
    if communities:
        conn.execute(postgresql.insert(plan_community)
                     .values([{"plan": name, "community_code": c} for c in sorted(set(communities))])
                     .on_conflict_do_nothing())


def drop_draft(conn: Connection, name: str) -> bool:
    """Delete a draft plan with its grids; False when there is no draft of that name."""
    p = plan_table.c
    return bool(conn.execute(delete(plan_table).where((p.name == name) & (p.status == "draft"))).rowcount)


def readiness(conn: Connection, name: str) -> Readiness:
    """What stands in the way of publishing ``name``: its own grids without a grid head, and the
    violations of its report (its own communities) that carry no proved reason."""
    from gridmap.storage.staffing import read_assignment

    communities = plan_communities(conn, name)
    missing = set(read_assignment(conn, name, communities).grids_without_head())
    g = grid.c
    named = conn.execute(select(g.code, g.name).where((g.plan == name) & g.code.in_(sorted(missing)))
                         .order_by(g.code)).all()
    p = plan_table.c
    report, params, review = conn.execute(select(p.report, p.params, p.review).where(p.name == name)).one()
    own = [v for v in (report or {}).get("violations") or [] if not v.get("carried_from")]
    scope = (params["scope"], params["code"]) if params and params.get("scope") and params.get("code") else None
    return Readiness(name, [GridRef(code, title) for code, title in named], unproved(own), scope=scope,
                     review=review)


# ---------------------------------------------------------------- publishing and rollback


def publish(conn: Connection, name: str, *, expected_generation: int | None = None, created_by: str | None = None,
            force: bool = False, reason: str | None = None, at: datetime | None = None) -> dict:
    """Make draft ``name`` current: refuse it unless ready (or forced with a reason), complete it
    from the current generation's plan outside its communities, then switch in one instant."""
    reason = _reason(reason)
    if force and not reason:
        raise InvalidInput("--force needs --reason TEXT: say why the plan is published as it is")
    current = _lock(conn, expected_generation)
    p = plan_table.c
    status = conn.execute(select(p.status).where(p.name == name).with_for_update()).scalar()
    if status is None:
        raise PlanError(f"plan {name!r} does not exist")
    if status != "draft":
        raise PlanError(f"plan {name!r} is {status}; only a draft can be published "
                        f"(an earlier generation comes back with `gridmap rollback --to GENERATION`)")
    own = conn.execute(select(func.count()).select_from(grid).where(grid.c.plan == name)).scalar()
    if not own:
        raise PlanError(f"plan {name!r} has no grids; partition it first")
    ready = readiness(conn, name)
    if not ready.ready and not force:
        raise PublishRefused(refusal(ready), readiness=ready)
    communities = plan_communities(conn, name)
    carried = None
    if current is not None:
        from gridmap.storage.carry import complete_plan

        carried = complete_plan(conn, name, base=current["plan"], communities=communities)
    record = {"communities": communities, "own_grids": own, "carried": carried}
    if not ready.ready:
        record["overridden"] = ready.record()
    made = _switch(conn, name, current, kind="publish", at=at, created_by=created_by, reason=reason,
                   forced=not ready.ready, record=record)
    total = conn.execute(select(func.count()).select_from(grid).where(grid.c.plan == name)).scalar()
    return {"plan": name, "generation": made["id"], "published_at": made["valid_from"].isoformat(),
            "previous": current["plan"] if current else None,
            "previous_generation": current["id"] if current else None, "grids": total, "own_grids": own,
            "communities": len(communities), "carried": carried, "forced": made["forced"], "reason": reason}


def rollback(conn: Connection, *, to: int | None = None, expected_generation: int | None = None,
             created_by: str | None = None, reason: str | None = None, at: datetime | None = None) -> dict:
    """Make an earlier generation's plan current again, as a new generation (history kept).

    ``to`` names the generation to restore; by default the one before the publish that made
    the current plan current (so rolling back twice goes two publishes back).
    """
    reason = _reason(reason)
    current = _lock(conn, expected_generation)
    if current is None:
        raise PlanError("nothing is published yet; there is nothing to roll back")
    if to is None:
        previous = _restored(conn, current)["previous_id"]
        if previous is None:
            raise PlanError(f"generation {current['id']} (plan {current['plan']!r}) is the first; "
                            "there is nothing earlier to roll back to")
        to = previous
    target = generation_record(conn, to)
    if target["id"] == current["id"]:
        raise PlanError(f"generation {to} is the current one; name an earlier generation")
    restored = _restored(conn, target)
    if restored["plan"] == current["plan"]:
        raise PlanError(f"generation {to} shows plan {restored['plan']!r}, which is current already")
    record = {"from_plan": current["plan"], "to_generation": target["id"]}
    made = _switch(conn, restored["plan"], current, kind="rollback", at=at, created_by=created_by,
                   reason=reason, forced=False, record=record, restores=restored["id"])
    return {"plan": restored["plan"], "generation": made["id"], "rolled_back_at": made["valid_from"].isoformat(),
            "restores": restored["id"], "previous": current["plan"], "previous_generation": current["id"],
            "reason": reason}


def generation_etag(current: dict | None) -> str:
    """The ETag of "the current generation": a publish or rollback changes it."""
    return f'"generation-current-v{current["id"] if current else 0}"'


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise InvalidInput(f"reason: {len(reason)} characters, at most 2000")
    return reason or None


def _lock(conn: Connection, expected: int | None) -> dict | None:
    """The current generation, once no other publish or rollback can change it before this
    transaction ends; GenerationConflict when it is not the one the caller saw (``expected``)."""
    if expected is None:
        seen = current_generation(conn)
        expected = seen["id"] if seen else 0
    # Core has no LOCK TABLE. EXCLUSIVE lets lookups read on and makes other switches wait.
    conn.execute(text("LOCK TABLE generation IN EXCLUSIVE MODE"))
    current = current_generation(conn)
    if (current["id"] if current else 0) != expected:
        now = (f"generation {current['id']} (plan {current['plan']!r}, {current['kind']} by "
               f"{current['created_by'] or 'unknown'} at {current['valid_from']:%Y-%m-%d %H:%M:%S})"
               if current else "no generation")
        saw = f"generation {expected}" if expected else "no generation"
        raise GenerationConflict(f"当前版本已被他人更改 (the current generation changed): you saw {saw}, now it is "
                                 f"{now}; look again (gridmap generations) and retry")
    return current


def _restored(conn: Connection, gen: dict) -> dict:
    """The publish a generation shows: itself, or for a rollback the publish it restored."""
    return generation_record(conn, gen["restores_id"]) if gen["kind"] == "rollback" else gen


def _switch(conn: Connection, name: str, current: dict | None, *, kind: str, at: datetime | None,
            created_by: str | None, reason: str | None, forced: bool, record: dict,
            restores: int | None = None) -> dict:
    """Close the current generation and open one on ``name`` at the same instant."""
    g, p = generation.c, plan_table.c
    now = conn.execute(select(func.coalesce(cast(literal(at, DateTime(timezone=True)), DateTime(timezone=True)),
                                            func.clock_timestamp()))).scalar()
    if current is not None:
        if now <= current["valid_from"]:
            raise InvalidInput(f"at: {now.isoformat()} is not after the current generation's start "
                               f"({current['valid_from'].isoformat()})")
        conn.execute(update(generation).where(g.id == current["id"]).values(valid_to=now))
        conn.execute(update(plan_table).where((p.name == current["plan"]) & (p.name != name))
                     .values(status="retired"))
    made = conn.execute(insert(generation).values(
        plan=name, valid_from=now, kind=kind, previous_id=current["id"] if current else None, restores_id=restores,
        created_by=created_by, reason=reason, forced=forced, record=jsonb(record))
        .returning(*(g[f] for f in GENERATION_FIELDS))).mappings().one()
    conn.execute(update(plan_table).where(p.name == name).values(status="published"))
    return dict(made)
