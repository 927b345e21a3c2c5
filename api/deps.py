"""Dependencies: settings, database connections and the caller's role. Tests override these."""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from api.pool import get_conn  # a connection in a transaction, after a database slot (api/pool.py)
from gridmap.config import Settings
from gridmap.domain import ROLE_RANK
from gridmap.errors import Forbidden
from gridmap.services.coverage import Cached, CoverageCache, Opener
from gridmap.storage.db import UNAVAILABLE

__all__ = ["ROLE_RANK", "CallerRoleDep", "ConnDep", "RoleDep", "SettingsDep", "caller_role", "coverage_source",
           "get_conn", "require"]
KEY_TTL = 1.0  # seconds: a revoked key is refused within this


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


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


# ---------------------------------------------------------------- the coverage service


def opener(request: Request) -> Opener:
    """Short transactions for the coverage service's rare database trips; honours a test override of
    ``get_conn``."""
    override = request.app.dependency_overrides.get(get_conn)
    if override is not None:
        return contextmanager(override)
    return request.app.state.engine.begin


def coverage_source(request: Request) -> Cached:
    """The app's coverage source: one :class:`CoverageCache` (made on first use with the configured edge
    distance) shared by the lookup API and the map pages."""
    state = request.app.state
    cache = getattr(state, "coverage", None)
    if cache is None:
        cache = state.coverage = CoverageCache(edge_m=state.settings.edge_distance_m)
    return Cached(cache, opener(request))


async def caller_role(request: Request) -> str:
    """The caller's role for coverage lookups: public without a key; a key's role is cached for KEY_TTL
    seconds. Holds no connection (unlike RoleDep), so a lookup route uses the coverage service alone."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key:
        return "public"
    roles = getattr(request.app.state, "lookup_key_roles", None)
    if roles is None:
        roles = request.app.state.lookup_key_roles = {}
    digest = hashlib.sha256(key.encode()).hexdigest()
    cached = roles.get(digest)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    try:
        role = await run_in_threadpool(_role_from_db, opener(request), key)
    except UNAVAILABLE:
        if cached:  # the database is away: the role last known for this key
            return cached[0]
        raise
    roles[digest] = (role, time.monotonic() + KEY_TTL)
    return role


def _role_from_db(open_conn: Opener, key: str) -> str:
    from gridmap.storage.keys import role_for_key

    with open_conn() as conn:
        return role_for_key(conn, key)


CallerRoleDep = Annotated[str, Depends(caller_role)]
