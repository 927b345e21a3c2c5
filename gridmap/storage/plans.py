"""Plans (方案) and generations (版本): publish a plan atomically, ask what was current when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, DateTime, cast, delete, func, insert, literal, select, text, update

from gridmap.errors import NotFound, PlanError
from gridmap.storage.query import jsonb, rows
from gridmap.storage.schema import generation, grid, plan as plan_table


def current_plan(conn: Connection, *, at: datetime | None = None) -> str | None:
    """The plan of the generation current at ``at`` (default now), or None."""
    g = generation.c
    if at is None:
        return conn.execute(select(g.plan).where(g.valid_to.is_(None))).scalar()
    held = (g.valid_from <= at) & (g.valid_to.is_(None) | (g.valid_to > at))
    return conn.execute(select(g.plan).where(held)).scalar()


def plan_status(conn: Connection, name: str) -> str | None:
    """'draft', 'published' or 'retired'; None when there is no such plan."""
    return conn.execute(select(plan_table.c.status).where(plan_table.c.name == name)).scalar()


def require_plan(conn: Connection, name: str) -> str:
    """The plan's status, or NotFound."""
    status = plan_status(conn, name)
    if status is None:
        raise NotFound(f"plan {name!r} does not exist")
    return status


def ensure_plan(conn: Connection, name: str, *, params: dict | None = None) -> None:
    """Create a draft plan, or refuse to overwrite a published one."""
    status = plan_status(conn, name)
    if status in ("published", "retired"):
        raise PlanError(f"plan {name!r} is {status}; write a new plan instead of changing it")
    if status is None:
        conn.execute(insert(plan_table).values(name=name, params=jsonb(params or {})))


def publish(conn: Connection, name: str, *, at: datetime | None = None) -> dict:
    """Make ``name`` the current generation; the previous one is closed at the same instant."""
    p, g = plan_table.c, generation.c
    row = conn.execute(select(p.status).where(p.name == name).with_for_update()).first()
    if row is None:
        raise PlanError(f"plan {name!r} does not exist")
    if row.status != "draft":
        raise PlanError(f"plan {name!r} is {row.status}; only a draft can be published")
    grids = conn.execute(select(func.count()).select_from(grid).where(grid.c.plan == name)).scalar()
    if not grids:
        raise PlanError(f"plan {name!r} has no grids; partition it first")
    # Core has no LOCK TABLE; one publish at a time, so generations never overlap.
    conn.execute(text("LOCK TABLE generation IN EXCLUSIVE MODE"))
    now = conn.execute(select(func.coalesce(cast(literal(at, DateTime(timezone=True)), DateTime(timezone=True)),
                                            func.clock_timestamp()))).scalar()
    previous = conn.execute(update(generation).where(g.valid_to.is_(None)).values(valid_to=now)
                            .returning(g.plan)).scalar()
    if previous:
        conn.execute(update(plan_table).where(p.name == previous).values(status="retired"))
    conn.execute(insert(generation).values(plan=name, valid_from=now))
    conn.execute(update(plan_table).where(p.name == name).values(status="published"))
    return {"plan": name, "published_at": now.isoformat(), "previous": previous, "grids": grids}


def drop_draft(conn: Connection, name: str) -> bool:
    """Delete a draft plan with its grids; False when there is no draft of that name."""
    p = plan_table.c
    return bool(conn.execute(delete(plan_table).where((p.name == name) & (p.status == "draft"))).rowcount)


def plan_record(conn: Connection, name: str) -> dict:
    """A plan's name, status, parameters and partition report; NotFound when there is none."""
    p = plan_table.c
    row = conn.execute(select(p.name, p.status, p.params, p.report).where(p.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"plan {name!r} does not exist")
    return dict(row)


def list_plans(conn: Connection) -> list[dict]:
    p, g = plan_table.c, generation.c
    grids = select(func.count()).where(grid.c.plan == p.name).scalar_subquery().label("grids")
    query = (select(p.name, p.status, p.created_at, g.valid_from, g.valid_to, grids)
             .select_from(plan_table.outerjoin(generation, g.plan == p.name)).order_by(p.created_at))
    return rows(conn, query)
