"""Dependencies: settings, database connections and the caller's role. Tests override these."""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager, nullcontext
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

__all__ = ["ROLE_RANK", "SESSION_COOKIE", "CallerRoleDep", "ConnDep", "RoleDep", "SettingsDep", "api_key_of",
           "caller_role", "coverage_source", "get_conn", "require", "require_same_origin", "session_of"]
#: Seconds a key's role is remembered by lookups: a revoked key is refused within this.
KEY_TTL = 1.0


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[Connection, Depends(get_conn)]


SESSION_COOKIE = "gridmap_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_key_of(request: Request) -> str | None:
    """The key sent as ``X-API-Key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


def session_of(request: Request) -> str | None:
    """The browser session id of the ``gridmap_session`` cookie, checked for CSRF: a cookie-authenticated
    unsafe request must come from this origin (``Origin``, else ``Sec-Fetch-Site``), else 403."""
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    if request.method in UNSAFE_METHODS:
        require_same_origin(request)
    return session


def require_same_origin(request: Request) -> None:
    """Refuse (403) a request that does not show it comes from a page of this server."""
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        if origin.rstrip("/").lower() == own.lower():
            return
        raise Forbidden(f"cross-site request from {origin[:80]} refused / 拒绝跨站请求")
    site = request.headers.get("sec-fetch-site")
    if site == "same-origin":
        return
    raise Forbidden("a signed-in browser's change must come from this site (Origin or Sec-Fetch-Site: "
                    "same-origin); send X-API-Key instead / 拒绝来源不明的请求")


def get_role(request: Request, conn: ConnDep) -> str:
    """The caller's role from ``X-API-Key`` or ``Authorization: Bearer``, else the browser session
    cookie (``POST /v1/session``); neither = public."""
    from gridmap.storage.keys import role_for_key, role_for_session

    key = api_key_of(request)
    if key:
        return role_for_key(conn, key)
    session = session_of(request)
    return role_for_session(conn, session) if session else "public"


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


def coverage_source(request: Request, conn: Connection | None = None) -> Cached:
    """The app's coverage source: one :class:`CoverageCache` (made on first use with the configured edge
    distance) shared by the lookup API and the map pages.

    A route that already holds ``conn`` (creating an event routes it inside its own transaction) passes
    it, so the coverage service's trips use that connection instead of waiting for a second one — with
    one connection per request (a small pool, or the tests' single shared connection) a second wait
    would never end."""
    state = request.app.state
    cache = getattr(state, "coverage", None)
    if cache is None:
        cache = state.coverage = CoverageCache(edge_m=state.settings.edge_distance_m)
    if conn is not None:
        return Cached(cache, lambda: nullcontext(conn))
    return Cached(cache, opener(request))


async def caller_role(request: Request) -> str:
    """The caller's role for coverage lookups: public without a key or session; a key's (or session's)
    role is cached for KEY_TTL seconds, so a revoked key is refused within that. Holds no connection
    (unlike RoleDep), so a lookup route uses the coverage service alone."""
    key = api_key_of(request)
    session = None if key else session_of(request)
    if not key and not session:
        return "public"
    roles = getattr(request.app.state, "lookup_key_roles", None)
    if roles is None:
        roles = request.app.state.lookup_key_roles = {}
    digest = hashlib.sha256(f"{'key' if key else 'session'}:{key or session}".encode("utf-8", "surrogatepass")
                            ).hexdigest()
    cached = roles.get(digest)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    try:
        role = await run_in_threadpool(_role_from_db, opener(request), key, session)
    except UNAVAILABLE:
        if cached:  # the database is away: the role last known for this key
            return cached[0]
        raise
    if len(roles) > 10_000:
        roles.clear()
    roles[digest] = (role, time.monotonic() + KEY_TTL)
    return role


def _role_from_db(open_conn: Opener, key: str | None, session: str | None) -> str:
    from gridmap.storage.keys import role_for_key, role_for_session

    with open_conn() as conn:
        return role_for_key(conn, key) if key else role_for_session(conn, session or "")


CallerRoleDep = Annotated[str, Depends(caller_role)]
