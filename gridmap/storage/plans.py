"""Plans (方案) and generations (版本): publish a plan atomically, ask what was current when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from gridmap.errors import NotFound, PlanError


def current_plan(conn: Connection, at: datetime | None = None) -> str | None:
    """The plan of the generation current at ``at`` (default now), or None."""
    if at is None:
        sql = "SELECT plan FROM generation WHERE valid_to IS NULL"
        return conn.execute(text(sql)).scalar()
    sql = ("SELECT plan FROM generation WHERE valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)")
    return conn.execute(text(sql), {"at": at}).scalar()


def ensure_plan(conn: Connection, name: str, params: dict | None = None) -> None:
    """Create a draft plan, or refuse to overwrite a published one."""
    status = conn.execute(text("SELECT status FROM plan WHERE name = :n"), {"n": name}).scalar()
    if status in ("published", "retired"):
        raise PlanError(f"plan {name!r} is {status}; write a new plan instead of changing it")
    if status is None:
        conn.execute(text("INSERT INTO plan (name, params) VALUES (:n, CAST(:p AS jsonb))"),
                     {"n": name, "p": _json(params or {})})


def publish(conn: Connection, name: str, at: datetime | None = None) -> dict:
    """Make ``name`` the current generation; the previous one is closed at the same instant."""
    row = conn.execute(text("SELECT status FROM plan WHERE name = :n FOR UPDATE"), {"n": name}).first()
    if row is None:
        raise PlanError(f"plan {name!r} does not exist")
    if row.status != "draft":
        raise PlanError(f"plan {name!r} is {row.status}; only a draft can be published")
    grids = conn.execute(text("SELECT count(*) FROM grid WHERE plan = :n"), {"n": name}).scalar()
    if not grids:
        raise PlanError(f"plan {name!r} has no grids; partition it first")
    conn.execute(text("LOCK TABLE generation IN EXCLUSIVE MODE"))
    now = conn.execute(text("SELECT coalesce(CAST(:at AS timestamptz), clock_timestamp())"),
                       {"at": at}).scalar()
    previous = conn.execute(
        text("UPDATE generation SET valid_to = :now WHERE valid_to IS NULL RETURNING plan"), {"now": now}
    ).scalar()
    if previous:
        conn.execute(text("UPDATE plan SET status = 'retired' WHERE name = :p"), {"p": previous})
    conn.execute(text("INSERT INTO generation (plan, valid_from) VALUES (:n, :now)"), {"n": name, "now": now})
    conn.execute(text("UPDATE plan SET status = 'published' WHERE name = :n"), {"n": name})
    return {"plan": name, "published_at": now.isoformat(), "previous": previous, "grids": grids}


def plan_status(conn: Connection, name: str) -> str | None:
    """'draft', 'published' or 'retired'; None when there is no such plan."""
    return conn.execute(text("SELECT status FROM plan WHERE name = :n"), {"n": name}).scalar()


def drop_draft(conn: Connection, name: str) -> bool:
    """Delete a draft plan with its grids; False when there is no draft of that name."""
    return bool(conn.execute(text("DELETE FROM plan WHERE name = :n AND status = 'draft'"), {"n": name}).rowcount)


def plan_record(conn: Connection, name: str) -> dict:
    """A plan's name, status, parameters and partition report; NotFound when there is none."""
    row = conn.execute(text("SELECT name, status, params, report FROM plan WHERE name = :p"), {"p": name}).first()
    if row is None:
        raise NotFound(f"plan {name!r} does not exist")
    return dict(row._mapping)


def list_plans(conn: Connection) -> list[dict]:
    sql = """SELECT p.name, p.status, p.created_at, g.valid_from, g.valid_to,
                    (SELECT count(*) FROM grid WHERE plan = p.name) AS grids
             FROM plan p LEFT JOIN generation g ON g.plan = p.name ORDER BY p.created_at"""
    return [dict(r._mapping) for r in conn.execute(text(sql))]


def _json(value: dict) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
