"""Dependencies: settings, database connections and the caller's role. Tests override these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from gridmap.config import Settings
from gridmap.errors import Forbidden

ROLE_RANK = {"public": 0, "dispatcher": 1, "planner": 2, "admin": 3}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """A connection in a transaction committed when the request succeeds."""
    with engine.begin() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[Connection, Depends(get_conn)]


def get_role(request: Request, conn: ConnDep) -> str:
    """The caller's role from ``X-API-Key`` or ``Authorization: Bearer``; no key = public."""
    from gridmap.storage.keys import role_for_key

    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return role_for_key(conn, key) if key else "public"


RoleDep = Annotated[str, Depends(get_role)]


def require(role: str):
    """A dependency that admits callers of ``role`` or higher."""

    def check(caller: RoleDep) -> str:
        if ROLE_RANK[caller] < ROLE_RANK[role]:
            raise Forbidden(f"this needs the {role} role; you are {caller}")
        return caller

    return check
